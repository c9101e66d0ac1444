"""KeepAlivePool against scripted raw HTTP peers on 127.0.0.1: the framings a server may choose,
the connections it keeps or closes, malformed answers, and TLS with certificate and host name
verification."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from realtime.adapters.keepalive_http import MAX_BODY_BYTES, HttpError, KeepAlivePool

CLOSE = object()


class ScriptedPeer:
    """Answers the n-th request with ``answers[n]`` (raw bytes); CLOSE after an answer closes the
    connection. Records every request head and how many connections were accepted."""

    def __init__(self, answers: list, tls: ssl.SSLContext | None = None):
        self.answers = list(answers)
        self.heads: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            reader = sock.makefile("rb")
            while True:
                with self.lock:
                    if not self.answers:
                        return
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0)
                reader.read(length)
                # The answer and its CLOSE are taken together: the client may already be on its
                # next connection, served by another thread, as soon as the answer is sent.
                with self.lock:
                    self.heads.append(head)
                    answer = self.answers.pop(0)
                    close = bool(self.answers) and self.answers[0] is CLOSE
                    if close:
                        self.answers.pop(0)
                sock.sendall(answer)
                if close:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def peer():
    peers = []

    def start(answers, tls=None):
        peers.append(ScriptedPeer(answers, tls))
        return peers[-1]

    yield start
    for p in peers:
        p.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def pool_for(p: ScriptedPeer, **options) -> KeepAlivePool:
    return KeepAlivePool(f"http://127.0.0.1:{p.port}", read_timeout=2, **options)


def test_content_length_bodies_on_one_kept_connection(peer):
    p = peer([OK, b"HTTP/1.1 410 Gone\r\nContent-Length: 4\r\nX-Amzn-ErrorType: GoneException\r\n\r\n{\"}\"", OK])
    pool = pool_for(p)

    first = pool.request("POST", "/s/@connections/a", {"X-Amz-Date": "x"}, b"{}")
    second = pool.request("POST", "/s/@connections/b", {}, b"{}")
    third = pool.request("GET", "/s/@connections/c", {})

    assert (first.status, first.body) == (200, b"ok")
    assert second.status == 410 and second.headers["x-amzn-errortype"] == "GoneException"
    assert third.body == b"ok" and p.connections == 1
    assert p.heads[0].startswith(b"POST /s/@connections/a HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Amz-Date: x\r\nContent-Length: 2\r\n\r\n" in p.heads[0]
    assert b"Content-Length" not in p.heads[2]  # a GET carries no body


def test_chunked_bodies_with_extensions_and_trailers(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n", OK])
    pool = pool_for(p)

    assert pool.request("GET", "/", {}).body == b"abcde"
    assert pool.request("GET", "/", {}).body == b"ok" and p.connections == 1


def test_interim_responses_are_skipped(peer):
    p = peer([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"])

    assert pool_for(p).request("DELETE", "/x", {}).status == 204


def test_connection_close_and_http_1_0_are_not_reused(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", CLOSE,
              b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", CLOSE, OK])
    pool = pool_for(p)

    for _ in range(3):
        assert pool.request("GET", "/", {}).status == 200
    assert p.connections == 3


def test_a_body_delimited_by_the_end_of_the_connection(peer):
    p = peer([b"HTTP/1.1 200 OK\r\n\r\nuntil the end", CLOSE, OK])
    pool = pool_for(p)

    assert pool.request("GET", "/", {}).body == b"until the end"
    assert pool.request("GET", "/", {}).body == b"ok" and p.connections == 2


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1),
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
])
def test_malformed_answers_fail_and_the_connection_is_dropped(peer, answer):
    p = peer([answer, CLOSE, OK])
    pool = pool_for(p)

    with pytest.raises(HttpError):
        pool.request("GET", "/", {})
    assert pool.request("GET", "/", {}).body == b"ok" and p.connections == 2


def test_header_injection_is_refused_before_anything_is_sent(peer):
    p = peer([OK])

    with pytest.raises(ValueError, match="CR, LF"):
        pool_for(p).request("GET", "/", {"X-Token": "a\r\nInjected: yes"})
    with pytest.raises(ValueError, match="CR, LF"):
        pool_for(p).request("GET", "/x HTTP/1.1\r\nInjected: yes\r\n", {})
    assert p.heads == []


def test_an_idle_connection_the_peer_closed_is_not_reused(peer):
    p = peer([OK, CLOSE, OK])
    pool = pool_for(p)
    pool.request("GET", "/", {})

    assert pool.request("GET", "/", {}).body == b"ok"
    assert p.connections == 2 and len(p.heads) == 2


# --- TLS ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return str(folder / "cert.pem"), context


def test_tls_with_a_trusted_certificate_for_the_host(peer, certificate):
    ca, context = certificate
    p = peer([OK, OK], tls=context)
    pool = KeepAlivePool(f"https://localhost:{p.port}", ca_certs=ca, read_timeout=2)

    assert pool.request("GET", "/", {}).body == b"ok"
    assert pool.request("GET", "/", {}).body == b"ok" and p.connections == 1


@pytest.mark.parametrize("host, trust", [("127.0.0.1", "ours"), ("localhost", "default")])
def test_tls_refuses_a_wrong_host_name_or_an_untrusted_certificate(peer, certificate, host, trust):
    ca, context = certificate
    p = peer([OK], tls=context)
    pool = KeepAlivePool(f"https://{host}:{p.port}", ca_certs=ca if trust == "ours" else None, read_timeout=2)

    with pytest.raises(HttpError, match="connect"):
        pool.request("GET", "/", {})
    assert p.heads == []
