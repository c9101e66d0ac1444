"""ManagementApiNotifier against a real HTTP @connections endpoint on 127.0.0.1 that checks every
SigV4 signature with botocore: what it sends, how errors map (as ApiGatewayNotifier), keep-alive
reuse, credentials that refresh, a connection the peer dropped, timeouts."""

from __future__ import annotations

import datetime
import json
import threading

import boto3
import pytest
from botocore.auth import SigV4Auth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from realtime.adapters import aws
from realtime.adapters.apigateway import ApiGatewayNotifier
from realtime.adapters.keepalive_http import host_header
from realtime.adapters.management_api import ManagementApiNotifier, _BytesRequest, _SigV4Auth
from realtime.errors import DeliveryFailed, DeliveryUnavailable, StaleConnection, Throttled

from tests.integration.connections_endpoint import DROP, ConnectionsEndpoint

REGION = "eu-west-1"
KEYS = {"AKIDFIRST": ("first-secret", "first-token"), "AKIDSECOND": ("second-secret", "second-token")}


@pytest.fixture
def endpoint():
    with ConnectionsEndpoint(credentials=KEYS) as served:
        served.open.update({"c1", "c2", "Ab+/=x"})
        yield served


def notifier(url: str, key: str = "AKIDFIRST", **options) -> ManagementApiNotifier:
    secret, token = KEYS[key]
    return ManagementApiNotifier(url, Credentials(key, secret, token), REGION, **options)


def test_post_delete_and_get_are_signed_and_reach_the_endpoint(endpoint):
    api = notifier(endpoint.url)

    api.send("c1", b'{"type":"pong"}')
    info = api.get("c1")
    api.close("c1")

    assert endpoint.received == {"c1": [{"type": "pong"}]}
    assert endpoint.closed == ["c1"]
    assert endpoint.signed_by == ["AKIDFIRST"] * 3
    assert info.source_ip == "127.0.0.1" and info.user_agent == "pytest"
    assert info.connected_at == datetime.datetime(2026, 11, 25, 17, 0, tzinfo=datetime.UTC).timestamp()
    assert info.last_active_at - info.connected_at == 300


def test_connection_ids_are_encoded_as_boto3_encodes_them(endpoint):
    # GIVEN an id with the characters base64 ids carry WHEN both notifiers post to it
    notifier(endpoint.url).send("Ab+/=x", b'{"n":1}')
    client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint.url, region_name=REGION,
                          aws_access_key_id="AKIDSECOND", aws_secret_access_key=KEYS["AKIDSECOND"][0],
                          aws_session_token=KEYS["AKIDSECOND"][1])
    ApiGatewayNotifier(client).send("Ab+/=x", b'{"n":2}')
    # THEN the endpoint decodes the same id from both, and both signatures verify
    assert endpoint.received == {"Ab+/=x": [{"n": 1}, {"n": 2}]}
    assert endpoint.signed_by == ["AKIDFIRST", "AKIDSECOND"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                                 "https://abc.execute-api.eu-west-1.amazonaws.com:443/prod", "http://localhost:80/x",
                                 "https://h.example:8443/s", "http://[::1]:3001/local"])
def test_the_sent_host_header_is_the_one_botocore_signs(url):
    assert host_header(url) == _host_from_url(url)


def test_a_wrong_secret_is_refused_by_the_endpoint(endpoint):
    api = ManagementApiNotifier(endpoint.url, Credentials("AKIDFIRST", "not-the-secret", "first-token"), REGION)

    with pytest.raises(DeliveryFailed, match="403"):
        api.send("c1", b"{}")
    assert endpoint.received == {}


@pytest.mark.parametrize("status, expected", [(410, StaleConnection), (429, Throttled), (500, DeliveryUnavailable),
                                              (503, DeliveryUnavailable), (403, DeliveryFailed)])
def test_errors_map_like_the_boto3_notifier(endpoint, status, expected):
    endpoint.always["c2"] = status
    api = notifier(endpoint.url)

    for call in (lambda: api.send("c2", b"{}"), lambda: api.close("c2"), lambda: api.get("c2")):
        with pytest.raises(expected) as raised:
            call()
        # a 4xx is final (FanOut does not retry it); 5xx, timeouts and resets are worth another attempt
        assert isinstance(raised.value, DeliveryUnavailable) == (status >= 500)


def test_an_unknown_connection_is_stale(endpoint):
    with pytest.raises(StaleConnection):
        notifier(endpoint.url).send("never-opened", b"{}")


def test_sequential_requests_reuse_one_connection(endpoint):
    api = notifier(endpoint.url)

    for n in range(20):
        api.send("c1", json.dumps({"n": n}).encode())

    assert len(endpoint.received["c1"]) == 20
    assert endpoint.tcp_connections == 1


def test_concurrent_requests_use_at_most_one_connection_per_thread(endpoint):
    endpoint.latency = 0.02
    api = notifier(endpoint.url, max_connections=4)
    threads = [threading.Thread(target=lambda: [api.send("c1", b'{"n":0}') for _ in range(10)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(endpoint.received["c1"]) == 40
    assert endpoint.tcp_connections <= 4


def test_refreshable_credentials_are_renewed_as_botocore_renews_them(endpoint):
    clock = {"now": datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)}
    refreshed = []

    def refresh():
        refreshed.append(clock["now"])
        return {"access_key": "AKIDSECOND", "secret_key": KEYS["AKIDSECOND"][0], "token": KEYS["AKIDSECOND"][1],
                "expiry_time": (clock["now"] + datetime.timedelta(hours=1)).isoformat()}

    credentials = RefreshableCredentials("AKIDFIRST", KEYS["AKIDFIRST"][0], KEYS["AKIDFIRST"][1],
                                         clock["now"] + datetime.timedelta(hours=1), refresh, "test",
                                         time_fetcher=lambda: clock["now"])
    api = ManagementApiNotifier(endpoint.url, credentials, REGION)
    api.send("c1", b"{}")
    # WHEN the first credentials come within botocore's refresh window (15 minutes before expiry)
    clock["now"] += datetime.timedelta(minutes=50)
    api.send("c1", b"{}")
    api.send("c1", b"{}")

    assert endpoint.signed_by == ["AKIDFIRST", "AKIDSECOND", "AKIDSECOND"]
    assert len(refreshed) == 1


def test_a_kept_connection_the_peer_dropped_is_replaced_once(endpoint):
    api = notifier(endpoint.url)
    api.send("c1", b'{"n":1}')
    # GIVEN the next request on the kept connection gets no answer at all
    endpoint.script["c1"] = [DROP]

    api.send("c1", b'{"n":2}')

    # THEN it went again on a new connection (the endpoint saw it twice, delivered it once)
    assert endpoint.received["c1"] == [{"n": 1}, {"n": 2}]
    assert endpoint.requests == 3 and endpoint.tcp_connections == 2


def test_a_fresh_connection_without_an_answer_fails_without_retry(endpoint):
    endpoint.script["c1"] = [DROP, DROP]

    with pytest.raises(DeliveryFailed):
        notifier(endpoint.url).send("c1", b"{}")
    assert endpoint.requests == 1


def test_a_slow_answer_times_out_as_a_delivery_failure(endpoint):
    endpoint.delays["c2"] = 1.0
    endpoint.open.add("c2")
    api = notifier(endpoint.url, read_timeout=0.2)

    with pytest.raises(DeliveryUnavailable, match="timeout"):
        api.send("c2", b"{}")
    api.send("c1", b"{}")  # the timed-out connection was discarded, not reused
    assert endpoint.received == {"c1": [{}]}


def test_an_unreachable_endpoint_is_a_delivery_failure():
    with ConnectionsEndpoint() as served:
        url = served.url
    with pytest.raises(DeliveryUnavailable, match="connect"):
        notifier(url, connect_timeout=0.5).send("c1", b"{}")


def test_missing_credentials_or_region_fail_at_construction():
    with pytest.raises(ValueError, match="credentials"):
        ManagementApiNotifier("http://127.0.0.1:1/x", None, REGION)
    with pytest.raises(ValueError, match="region"):
        ManagementApiNotifier("http://127.0.0.1:1/x", Credentials("a", "b"), "")


def test_from_environment_uses_the_process_sessions_credential_chain(endpoint, monkeypatch):
    aws.session.cache_clear()  # a fresh execution environment
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECOND")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["AKIDSECOND"][0])
    monkeypatch.setenv("AWS_SESSION_TOKEN", KEYS["AKIDSECOND"][1])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    try:
        notifier = ManagementApiNotifier.from_environment(endpoint.url)
        notifier.send("c1", b"{}")
        # AND the handler's botocore clients share that session: the credentials are resolved once
        assert aws.session().get_credentials() is notifier._credentials
        assert aws.session().get_credentials().access_key == "AKIDSECOND"
    finally:
        aws.session.cache_clear()

    assert endpoint.signed_by == ["AKIDSECOND"]


@pytest.mark.parametrize("method, body", [("POST", b'{"type":"pong"}'), ("DELETE", b""), ("GET", b"")])
def test_the_canonical_request_is_the_one_botocore_builds_for_its_own_request(method, body):
    # The notifier hands botocore a request whose body is read without preparing a copy; the
    # canonical request (payload hash included) must not change.
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/Ab%2B%2F%3Dx"
    signer = SigV4Auth(Credentials("AKIDFIRST", *KEYS["AKIDFIRST"]).get_frozen_credentials(), "execute-api", REGION)
    requests = [cls(method=method, url=url, data=body, headers={"Host": "abc.execute-api.eu-west-1.amazonaws.com"})
                for cls in (AWSRequest, _BytesRequest)]
    for request in requests:
        request.context["timestamp"] = "20261201T120000Z"
        signer._modify_request_before_signing(request)

    assert signer.canonical_request(requests[0]) == signer.canonical_request(requests[1])


@pytest.mark.parametrize("day", ["20261201", "20261202"])
def test_the_signature_is_the_one_botocores_signer_computes(day):
    # The notifier's signer keeps the day's signing key and the signed-header selection; every value
    # it signs and sends must stay botocore's, on the first day and after the key changes with the day.
    credentials = Credentials("AKIDFIRST", *KEYS["AKIDFIRST"]).get_frozen_credentials()
    ours = _SigV4Auth(credentials, "execute-api", REGION)
    ours.signature("warm", type("R", (), {"context": {"timestamp": "20261130T235959Z"}})())
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/Ab%2B%2F%3Dx"
    signed = []
    for signer in (SigV4Auth(credentials, "execute-api", REGION), ours):
        request = _BytesRequest(method="POST", url=url, data=b'{"type":"pong"}',
                                headers={"Host": "abc.execute-api.eu-west-1.amazonaws.com"})
        request.context["timestamp"] = f"{day}T120000Z"
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
        signed.append((canonical, dict(request.headers.items())))

    assert signed[0] == signed[1]
    assert "Signature=" in signed[1][1]["Authorization"]


def test_fan_out_retries_5xx_and_timeouts_of_the_real_notifier_and_delivers_once(endpoint):
    """ADR 0019 over the runtime notifier: a 500, then a 502, then success; a slow answer past the read
    timeout, then success. Negative control: the same script through a policy without retries loses both."""
    from realtime.services.fan_out import FanOut, RetryPolicy

    def run(policy: RetryPolicy):
        endpoint.received.clear()
        endpoint.script["c1"] = [500, 502]
        endpoint.delays["c2"] = 0.5
        endpoint.open.update({"c1", "c2"})
        api = notifier(endpoint.url, read_timeout=0.2)
        fan_out = FanOut(api, None, concurrency=2, retry=policy, sleep=lambda seconds: None)
        timer = threading.Timer(0.3, lambda: endpoint.delays.pop("c2", None))  # c2 answers promptly again
        timer.start()
        try:
            return fan_out.deliver(["c1", "c2"], b'{"n":1}', lambda: 900_000)
        finally:
            timer.join()
            api.shutdown()

    lost = run(RetryPolicy(max_unavailable_attempts=1))
    assert lost.as_dict() == {"sent": 0, "gone": 0, "failed": 2, "retried": 0}

    report = run(RetryPolicy(max_unavailable_attempts=4, base_seconds=0.2, cap_seconds=0.2))
    assert report.sent == 2 and report.failed == 0 and report.retried >= 3
    assert endpoint.received["c1"] == [{"n": 1}]
    assert endpoint.received["c2"] in ([{"n": 1}], [{"n": 1}, {"n": 1}])  # a timed-out post may have landed
