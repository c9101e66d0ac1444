"""The dashboard's HTTP side (wsctl/local/dashboard.py) against the session's local stack: static files,
the local sign-in and its refusals, and what it must never do (serve other files, log tokens)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from wsctl.errors import WsctlError
from wsctl.local import dashboard
from wsctl.local.token import claims

pytestmark = pytest.mark.e2e


def request(stack, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    port = urlsplit(stack.endpoints["dashboard_url"]).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Host": f"localhost:{port}", **(headers or {})}
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response, payload


def sign_in(stack, document, headers: dict | None = None):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return request(stack, "POST", "/local/token", body, {"Content-Type": "application/json", **(headers or {})})


def test_the_page_its_files_and_its_config(local_stack):
    response, page = request(local_stack, "GET", "/")
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/html")
    assert b'<script type="module" src="/dashboard.js">' in page
    response, _ = request(local_stack, "GET", "/dashboard.js")
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/javascript")
    response, config = request(local_stack, "GET", "/config.json")
    assert json.loads(config) == {"ws_url": local_stack.ws_url}


@pytest.mark.parametrize("path", ["/../../pyproject.toml", "/%2e%2e/pyproject.toml", "/nothing.js", "/sub/dir.js"])
def test_only_the_built_files_are_served(local_stack, path):
    response, _ = request(local_stack, "GET", path)
    assert response.status == 404


def test_a_foreign_host_or_origin_gets_nothing(local_stack):
    response, _ = request(local_stack, "GET", "/config.json", headers={"Host": "attacker.example"})
    assert response.status == 421
    response, body = sign_in(local_stack, {"user": "alice"}, {"Origin": "https://attacker.example"})
    assert response.status == 403 and b"token" not in body


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", json.dumps({"user": ""}).encode(),
                                  json.dumps({"user": "a b"}).encode(), json.dumps({"user": "x" * 65}).encode(),
                                  json.dumps({"name": "alice"}).encode()])
def test_bad_sign_in_requests_get_a_clear_400(local_stack, body):
    response, answer = sign_in(local_stack, body)
    assert response.status == 400
    assert "error" in json.loads(answer) and "token" not in json.loads(answer)


def test_sign_in_returns_a_short_lived_token_of_the_pool_user_and_never_logs_it(local_stack):
    response, answer = sign_in(local_stack, {"user": "dash-alice"}, {"Origin": "http://localhost:5173"})
    issued = json.loads(answer)
    assert response.status == 200 and response.getheader("Cache-Control") == "no-store"
    assert issued["userId"] == local_stack.user_id("dash-alice")
    payload = claims(issued["token"])
    assert payload["exp"] - payload["iat"] == issued["expiresIn"] == 30  # REALTIME_LOCAL_TOKEN_LIFETIME_SECONDS
    assert issued["token"] not in (local_stack.local_dir / "local-up.log").read_text()


@pytest.mark.parametrize("value", ["0", "9", "3601", "abc", "-5"])
def test_a_bad_token_lifetime_override_is_refused(monkeypatch, value):
    monkeypatch.setenv(dashboard.TOKEN_LIFETIME_ENV, value)
    with pytest.raises(WsctlError, match="REALTIME_LOCAL_TOKEN_LIFETIME_SECONDS"):
        dashboard.token_lifetime()


def test_the_default_port_is_an_allowed_origin_of_the_local_env():
    assert dashboard.allowed_local_ports() == [5173, 3000]
