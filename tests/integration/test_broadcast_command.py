"""`wsctl broadcast` through the real CLI entry point: a local user name resolves to its Cognito sub
(or is refused in one line), and after enqueueing the command says how many open connections the
target has, or that it could not read the table, without failing.

`--env local` runs against a moto server on 127.0.0.1 holding a user pool, the connection table and
the broadcast queue (the local stack's shape); `--env dev` against in-process moto (the `aws` fixture).
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from tests.integration.aws import REGION, TABLE, create_connections_table, create_queue, receive_all
from wsctl import broadcast, cli
from wsctl.local.token import issue_token
from wsctl.targets import LOCAL_CREDENTIALS, Target

BROADCAST = ("--kind", "set.created", "--title", "New set")


class Local:
    def __init__(self, endpoint: str):
        session = boto3.session.Session(region_name=REGION, **LOCAL_CREDENTIALS)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        cognito = session.client("cognito-idp", endpoint_url=endpoint)
        pool_id = cognito.create_user_pool(PoolName="realtime-local-users")["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=["USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
        create_connections_table(self.dynamodb)
        self.queue_url = create_queue(self.sqs)
        self.target = Target(env="local", region=REGION, aws_endpoint=endpoint, outputs={
            "user_pool_id": pool_id, "user_pool_client_id": client_id, "connections_table_name": TABLE,
            "broadcast_queue_url": self.queue_url, "region": REGION})

    def sub(self, user: str) -> str:
        return issue_token(user, self.target).sub  # creates the user on first use, like `wsctl local token`

    def connect(self, connection_id: str, user_id: str) -> None:
        self.dynamodb.put_item(TableName=TABLE, Item={
            "connectionId": {"S": connection_id}, "userId": {"S": user_id}, "connectedAt": {"N": "1795000000"},
            "tokenExpiresAt": {"N": "1795003600"}, "expiryBucket": {"S": "exp#29916726"},
            "expiresAt": {"N": "1795007800"}})

    def sent(self) -> list[dict]:
        return [json.loads(body) for body in receive_all(self.sqs, self.queue_url)]


@pytest.fixture
def local(moto_endpoint, monkeypatch):
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    stack = Local(moto_endpoint)
    monkeypatch.setattr(broadcast, "resolve", lambda env: stack.target)
    return stack


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = cli.main(["broadcast", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_a_local_user_name_is_resolved_to_its_sub(local, capsys):
    # GIVEN alice exists in the local pool and holds no connection yet
    alice = local.sub("alice")
    # WHEN the operator names her instead of her sub
    code, out, err = run(capsys, "--env", "local", "--user", "alice", *BROADCAST)
    # THEN the request targets her sub, and the output says nobody receives it now
    assert (code, err) == (0, "")
    assert [m["target"] for m in local.sent()] == [{"userIds": [alice]}]
    assert out[0].startswith("enqueued broadcast wsctl-") and " for 1 user(s): message " in out[0]
    assert out[1] == ("open connections: 0 (this user has none); nobody receives it live now — it is kept in "
                      "the notification log for tabs that resume within the retention window (ADR 0016)")


def test_a_sub_stays_as_it_is_and_the_open_connections_are_counted(local, capsys):
    bob, carol = local.sub("bob"), local.sub("carol")
    local.connect("conn-b1", bob)
    local.connect("conn-b2", bob)
    local.connect("conn-c1", carol)
    code, out, _ = run(capsys, "--env", "local", "--user", bob, "--user", "bob", "carol", *BROADCAST)
    assert code == 0
    assert [m["target"] for m in local.sent()] == [{"userIds": [bob, carol]}]  # bob's name and sub: one user
    assert " for 2 user(s): " in out[0]
    assert out[1] == "open connections of the target: 3"
    code, out, _ = run(capsys, "--env", "local", "--all", *BROADCAST)
    assert code == 0 and out[1].startswith("open connections in total: ") and int(out[1].rsplit(" ", 1)[1]) >= 3


def test_an_unknown_local_user_is_refused_in_one_line_and_nothing_is_sent(local, capsys):
    local.sub("dave")
    code, out, err = run(capsys, "--env", "local", "--user", "dave", "nobody-here", *BROADCAST)
    assert (code, out) == (1, [])
    assert err == ("wsctl: no local user 'nobody-here' (neither a user name nor a userId in the local pool); "
                   "`wsctl local token --user nobody-here` creates one\n")
    assert local.sent() == []


def test_a_name_with_quotes_is_looked_up_by_name_only(local, capsys):
    code, _, err = run(capsys, "--env", "local", "--user", 'x" or sub ^= "', *BROADCAST)
    assert code == 1 and err.startswith("wsctl: no local user 'x\" or sub ^= \"'")


# --- deployed environments: values are userIds as given; the table may be unreadable -------------

class DeniedTableTarget(Target):
    """A caller whose role may send to the queue but not read the connection table."""

    def client(self, service: str):
        client = super().client(service)
        if service == "dynamodb":
            stubber = Stubber(client)
            # a user's connections are read from the membership items first (ADR 0016)
            stubber.add_client_error("batch_get_item", service_error_code="AccessDeniedException", http_status_code=400,
                                     service_message="User is not authorized to perform: dynamodb:BatchGetItem")
            stubber.activate()
        return client


def deployed_outputs(aws) -> dict:
    return {"connections_table_name": aws.table, "broadcast_queue_url": aws.queue_url, "region": REGION}


def test_deployed_env_counts_the_users_connections(aws, monkeypatch, capsys):
    target = Target(env="dev", region=REGION, outputs=deployed_outputs(aws))
    monkeypatch.setattr(broadcast, "resolve", lambda env: target)
    aws.dynamodb.put_item(TableName=TABLE, Item={"connectionId": {"S": "c1"}, "userId": {"S": "sub-1"}})
    code, out, _ = run(capsys, "--env", "dev", "--user", "sub-1", "sub-2", *BROADCAST)
    assert code == 0 and out[1] == "open connections of the target: 1"
    assert [json.loads(b)["target"] for b in receive_all(aws.sqs, aws.queue_url)] == [{"userIds": ["sub-1", "sub-2"]}]


def test_an_unreadable_table_is_reported_and_the_broadcast_still_goes_out(aws, monkeypatch, capsys):
    target = DeniedTableTarget(env="dev", region=REGION, outputs=deployed_outputs(aws))
    monkeypatch.setattr(broadcast, "resolve", lambda env: target)
    code, out, err = run(capsys, "--env", "dev", "--user", "sub-1", *BROADCAST)
    assert (code, err) == (0, "")
    assert out[0].startswith("enqueued broadcast ")
    assert out[1].startswith("open connections: not counted (cannot read the connection table: ")
    assert "AccessDeniedException" in out[1]
    assert len(receive_all(aws.sqs, aws.queue_url)) == 1
