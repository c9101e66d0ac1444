"""Notifier over API Gateway's @connections management API without boto3's call path (ADR 0006).

Each request is what boto3's ``apigatewaymanagementapi`` client sends — same path encoding, signed
by botocore's own ``SigV4Auth`` for ``execute-api`` — over :class:`KeepAlivePool` connections.
Credentials come from the process's botocore session (``realtime.adapters.aws.session``, the
provider chain every other client of the handler uses); they are frozen per
request, so ``RefreshableCredentials`` renew exactly when botocore would renew them. Errors map to
the domain like :class:`~realtime.adapters.apigateway.ApiGatewayNotifier` (one shared table): 410 is
``StaleConnection``, 429/LimitExceeded ``Throttled``, 5xx and failures below HTTP (the 5 s read
timeout, a refused or reset connection) ``DeliveryUnavailable``, any other status ``DeliveryFailed``.
Nothing is retried here: FanOut owns the backoff (ADR 0019).
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import get_cert_path

from realtime.adapters import aws
from realtime.adapters.apigateway import management_api_error
from realtime.adapters.keepalive_http import HttpError, KeepAlivePool, Response
from realtime.errors import DeliveryFailed, DeliveryUnavailable
from realtime.ports import ConnectionInfo

SIGNING_SERVICE = "execute-api"
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
#: botocore's percent-encoding of a non-greedy URI label (botocore.serialize, utils.percent_encode).
_LABEL_SAFE = "-._~"


class _BytesRequest(AWSRequest):
    """An AWSRequest whose ``body`` is the bytes it was built with. botocore's own property builds a
    whole prepared copy of the request to return them (a third of the signing time); for bytes the
    result is the same (``b""`` and ``None`` both hash as the empty payload)."""

    @property
    def body(self) -> bytes:
        return self.data


class _SigV4Auth(SigV4Auth):
    """botocore's SigV4 signer, keeping two results it would recompute on every request: the signing
    key (four HMACs over the secret, the day, the region and the service: the same all day for one
    credential) and the selection of the signed headers (made twice per request, once for the
    canonical request and once for the Authorization header). Every byte signed is botocore's."""

    def __init__(self, credentials, service_name: str, region_name: str):
        super().__init__(credentials, service_name, region_name)
        self._keys: dict[str, bytes] = {}

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        day = request.context["timestamp"][0:8]
        key = self._keys.get(day)
        if key is None:
            key = self._sign(f"AWS4{self.credentials.secret_key}".encode(), day)
            for part in (self._region_name, self._service_name, "aws4_request"):
                key = self._sign(key, part)
            self._keys = {day: key}  # one day's key: replaced, not accumulated
        return self._sign(key, string_to_sign, hex=True)

    def headers_to_sign(self, request: AWSRequest):
        selected = request.context.get("realtime_signed_headers")
        if selected is None:
            selected = request.context["realtime_signed_headers"] = super().headers_to_sign(request)
        return selected


class ManagementApiNotifier:
    def __init__(self, endpoint_url: str, credentials, region: str, *, max_connections: int = 10,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS, read_timeout: float = READ_TIMEOUT_SECONDS,
                 ca_certs: str | None = None):
        """``endpoint_url`` is ``CONNECTIONS_ENDPOINT`` (``https://<api>.execute-api.<region>.amazonaws.com/<stage>``);
        ``credentials`` a botocore ``Credentials`` (or ``RefreshableCredentials``)."""
        if credentials is None:
            raise ValueError("no AWS credentials to sign @connections requests with")
        if not region:
            raise ValueError("no AWS region to sign @connections requests for")
        self._pool = KeepAlivePool(endpoint_url, max_idle=max_connections, connect_timeout=connect_timeout,
                                   read_timeout=read_timeout,
                                   ca_certs=ca_certs or (get_cert_path(True) if endpoint_url.startswith("https") else None))
        self._origin = f"{self._pool.scheme}://{self._pool.host}"
        self._prefix = urlsplit(endpoint_url).path.rstrip("/") + "/@connections/"
        self._credentials = credentials
        self._region = region
        self._signer: _SigV4Auth | None = None

    @classmethod
    def from_environment(cls, endpoint_url: str, max_connections: int = 10,
                         read_timeout: float = READ_TIMEOUT_SECONDS) -> ManagementApiNotifier:
        """Credentials and region of the process's botocore session (in Lambda: the function's role, from
        its environment), which the handler's other clients share: nothing is looked up twice and boto3
        is not imported (ADR 0017)."""
        session = aws.session()
        return cls(endpoint_url, session.get_credentials(), session.get_config_variable("region"),
                   max_connections=max_connections, read_timeout=read_timeout)

    def send(self, connection_id: str, payload: bytes) -> None:
        self._call("POST", connection_id, payload)

    def close(self, connection_id: str) -> None:
        self._call("DELETE", connection_id)

    def get(self, connection_id: str) -> ConnectionInfo:
        response = self._call("GET", connection_id)
        try:
            document = json.loads(response.body)
            identity = document.get("identity") or {}
            return ConnectionInfo(connected_at=_epoch(document["connectedAt"]),
                                  last_active_at=_epoch(document["lastActiveAt"]),
                                  source_ip=str(identity.get("sourceIp", "")),
                                  user_agent=str(identity.get("userAgent", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DeliveryFailed("GetConnection answered an unreadable document") from None

    def _sign(self, request: AWSRequest) -> None:
        frozen = self._credentials.get_frozen_credentials()
        signer = self._signer
        if signer is None or signer.credentials != frozen:
            signer = self._signer = _SigV4Auth(frozen, SIGNING_SERVICE, self._region)
        signer.add_auth(request)

    def _call(self, method: str, connection_id: str, body: bytes = b"") -> Response:
        target = self._prefix + quote(connection_id, safe=_LABEL_SAFE)
        # Host is given rather than left to the signer, which would parse the URL twice to find it;
        # the pool sends the same value (keepalive_http.host_header follows botocore's rule).
        request = _BytesRequest(method=method, url=self._origin + target, data=body, headers={"Host": self._pool.host})
        self._sign(request)
        headers = {name: value for name, value in request.headers.items() if name != "Host"}
        try:
            response = self._pool.request(method, target, headers, body)
        except HttpError as error:  # below HTTP: connect, read timeout, reset — worth another attempt
            raise DeliveryUnavailable(str(error)) from None
        if response.status < 300:
            return response
        raise management_api_error(_error_code(response), response.status, connection_id)

    def shutdown(self) -> None:
        """Close the idle connections (tests and benchmarks; Lambda simply freezes the process)."""
        self._pool.close()


def _error_code(response: Response) -> str:
    """The error code as botocore reads it from a rest-json error: the header, else the body."""
    code = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    if code:
        return code
    try:
        document = json.loads(response.body or b"{}")
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    return str(document.get("__type") or document.get("code") or "").rsplit("#", 1)[-1]


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
