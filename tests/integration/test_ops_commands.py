"""The ops commands (`wsctl connections …`, `wsctl dlq redrive`, `wsctl status`) run through the
real CLI entry point against DynamoDB, SQS and CloudWatch under moto, and against a real HTTP
@connections endpoint on 127.0.0.1 that answers like API Gateway's (410 + GoneException for
connections that are gone), driven by boto3's own `apigatewaymanagementapi` client.
"""

from __future__ import annotations

import io
import json
import time

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from realtime import messages

from tests.integration.connections_endpoint import ConnectionsEndpoint
from wsctl import cli, ops, ops_core
from wsctl.targets import Target

REGION = "us-east-1"
TABLE = "realtime-dev-connections"


# --------------------------------------------------------------------------------------------
# fixtures: the deployed shape of docs/contracts.md, under moto


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def endpoint():
    with ConnectionsEndpoint() as served:
        yield served


@pytest.fixture
def deployed(aws, endpoint, monkeypatch):
    """The table, queues and alarms of realtime-dev, and `--env dev` resolving to them."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "connectionId", "AttributeType": "S"},
                              {"AttributeName": "userId", "AttributeType": "S"},
                              {"AttributeName": "expiryBucket", "AttributeType": "S"},
                              {"AttributeName": "tokenExpiresAt", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "byUser", "KeySchema": [{"AttributeName": "userId", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "byTokenExpiry", "KeySchema": [{"AttributeName": "expiryBucket", "KeyType": "HASH"},
                                                          {"AttributeName": "tokenExpiresAt", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="realtime-dev-broadcast-dlq")["QueueUrl"]
    dlq_arn = ops_core.queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(QueueName="realtime-dev-broadcast", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"]
    target = Target(env="dev", region=REGION, outputs={
        "connections_table_name": TABLE, "connections_endpoint": endpoint.url,
        "broadcast_queue_url": queue_url, "broadcast_dlq_url": dlq_url, "region": REGION})
    monkeypatch.setattr(ops, "resolve", lambda env: target if env == "dev" else _unknown(env))
    return Deployed(dynamodb=dynamodb, sqs=sqs, endpoint=endpoint, target=target)


def _unknown(env):
    from wsctl.targets import resolve

    return resolve(env)


class Deployed:
    def __init__(self, dynamodb, sqs, endpoint, target):
        self.dynamodb, self.sqs, self.endpoint, self.target = dynamodb, sqs, endpoint, target

    def connect(self, connection_id: str, user_id: str, open_: bool = True, connected_at: int = 1_795_000_000):
        """What the connect function writes: the row plus the counter increment."""
        self.dynamodb.put_item(TableName=TABLE, Item={
            "connectionId": {"S": connection_id}, "userId": {"S": user_id},
            "connectedAt": {"N": str(connected_at)}, "tokenExpiresAt": {"N": str(connected_at + 3600)},
            "expiryBucket": {"S": f"exp#{(connected_at + 3600) // 60}"},
            "expiresAt": {"N": str(connected_at + 7800)}})
        self.dynamodb.update_item(TableName=TABLE, Key={"connectionId": {"S": "#counter"}},
                                  UpdateExpression="ADD active :one", ExpressionAttributeValues={":one": {"N": "1"}})
        if open_:
            self.endpoint.open.add(connection_id)

    def ids(self) -> set[str]:
        items = self.dynamodb.scan(TableName=TABLE)["Items"]
        return {item["connectionId"]["S"] for item in items if not item["connectionId"]["S"].startswith("#")}

    def counter(self) -> int:
        return int(self.dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "#counter"}})["Item"]["active"]["N"])

    def item(self, key: str) -> dict | None:
        return self.dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": key}}).get("Item")

    def depth(self, url: str) -> int:
        return ops_core.queue_depth(self.sqs, url)["visible"] + ops_core.queue_depth(self.sqs, url)["in_flight"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------------------------
# count and list


def test_count_counts_connection_rows_not_meta_items(deployed, capsys):
    # GIVEN three connections of two users and the meta items the runtime writes
    deployed.connect("c-1", "alice")
    deployed.connect("c-2", "alice")
    deployed.connect("c-3", "bob")
    deployed.dynamodb.put_item(TableName=TABLE, Item={"connectionId": {"S": "#announcement"}, "lastAt": {"N": "1"}})
    deployed.dynamodb.put_item(TableName=TABLE, Item={"connectionId": {"S": "#broadcast#r1"}, "completedAt": {"N": "1"}})
    # WHEN counting, overall and per user
    total = run(capsys, "connections", "count", "--env", "dev")
    alice = run(capsys, "connections", "count", "--env", "dev", "--user", "alice")
    nobody = run(capsys, "connections", "count", "--env", "dev", "--user", "carol")
    # THEN only connection rows count, and a matching counter gives no drift note
    assert total == (0, "3\n", "")
    assert alice[:2] == (0, "2\n")
    assert nobody[:2] == (0, "0\n")


def test_count_reports_counter_drift(deployed, capsys):
    # GIVEN a counter that says 5 while one row exists
    deployed.connect("c-1", "alice")
    deployed.dynamodb.update_item(TableName=TABLE, Key={"connectionId": {"S": "#counter"}},
                                  UpdateExpression="SET active = :n", ExpressionAttributeValues={":n": {"N": "5"}})
    # WHEN counting
    code, out, err = run(capsys, "connections", "count", "--env", "dev")
    # THEN the row count is the answer and the drift is pointed out
    assert (code, out) == (0, "1\n")
    assert "#counter item says 5" in err


def test_list_shows_rows_of_one_user_or_all(deployed, capsys):
    # GIVEN connections of two users
    deployed.connect("c-1", "alice", connected_at=1_795_000_000)
    deployed.connect("c-2", "bob", connected_at=1_795_000_100)
    deployed.connect("c-3", "alice", connected_at=1_795_000_200)
    # WHEN listing as JSON and as a table
    code, out, _ = run(capsys, "connections", "list", "--env", "dev", "--user", "alice", "--json")
    all_code, table, err = run(capsys, "connections", "list", "--env", "dev")
    # THEN alice's rows carry what the connect function wrote; the table has every connection
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"connectionId": "c-1", "userId": "alice", "connectedAt": 1_795_000_000, "tokenExpiresAt": 1_795_003_600},
        {"connectionId": "c-3", "userId": "alice", "connectedAt": 1_795_000_200, "tokenExpiresAt": 1_795_003_800}]
    lines = table.splitlines()
    assert all_code == 0 and lines[0].startswith("CONNECTION ID")
    assert [line.split()[:2] for line in lines[1:]] == [["c-1", "alice"], ["c-3", "alice"], ["c-2", "bob"]]
    assert "2026-11-18T11:06:40Z" in lines[1] and "2026-11-18T12:06:40Z" in lines[1]  # ISO, not epochs
    assert "3 connection(s)" in err


# --------------------------------------------------------------------------------------------
# kick


def test_kick_user_notifies_closes_and_forgets_every_connection(deployed, capsys):
    # GIVEN alice on two tabs (one of them already gone without a $disconnect) and bob on one
    deployed.connect("c-1", "alice")
    deployed.connect("c-2", "alice", open_=False)
    deployed.connect("c-3", "bob")
    # WHEN kicking alice
    code, out, err = run(capsys, "connections", "kick", "--env", "dev", "--user", "alice")
    # THEN the open tab got an error frame the web app handles, then a close
    assert code == 0
    [frame] = deployed.endpoint.received["c-1"]
    messages.validate_server_message(frame)  # the web app's schema accepts it
    assert frame["type"] == "error" and frame["data"]["code"] == "TOKEN_EXPIRED"
    assert deployed.endpoint.closed == ["c-1"]
    # AND both rows are gone, the counter decremented twice, bob untouched
    assert deployed.ids() == {"c-3"}
    assert deployed.counter() == 1
    assert "c-3" not in deployed.endpoint.received
    assert out.strip() == "kicked 2 connection(s): 1 closed, 1 already gone; rows: 2 deleted by wsctl, 0 already deleted"
    assert "kicked: 2/2" in err


def test_kick_is_idempotent_with_disconnect(deployed, capsys):
    # GIVEN a connection whose row $disconnect already removed (and decremented for)
    deployed.connect("c-1", "alice")
    deployed.connect("c-2", "bob")
    ops_core.ConnectionTable(deployed.dynamodb, TABLE).remove("c-1")
    assert deployed.counter() == 1
    # WHEN kicking it by id
    code, out, _ = run(capsys, "connections", "kick", "--env", "dev", "--connection", "c-1")
    # THEN it is closed but the counter is not decremented a second time
    assert code == 0 and deployed.endpoint.closed == ["c-1"]
    assert deployed.counter() == 1
    assert "rows: 0 deleted by wsctl, 1 already deleted" in out


def test_kick_needs_exactly_one_of_user_or_connection(deployed, capsys):
    with pytest.raises(SystemExit) as neither:
        cli.main(["connections", "kick", "--env", "dev"])
    with pytest.raises(SystemExit) as both:
        cli.main(["connections", "kick", "--env", "dev", "--user", "a", "--connection", "b"])
    assert neither.value.code == 2 and both.value.code == 2


def test_kick_never_touches_meta_items(deployed, capsys):
    # GIVEN one connection; WHEN an operator passes a meta item's key as a connection id
    deployed.connect("c-1", "alice")
    code, out, err = run(capsys, "connections", "kick", "--env", "dev", "--connection", "#counter")
    # THEN it is refused in one line and the counter item survives unchanged
    assert (code, out) == (1, "")
    assert err == "wsctl: '#counter' is a meta item of the connection table, not a connection id\n"
    assert deployed.counter() == 1 and deployed.ids() == {"c-1"}
    assert deployed.endpoint.closed == [] and deployed.endpoint.received == {}


# --------------------------------------------------------------------------------------------
# purge-stale


def test_purge_stale_removes_exactly_the_gone_connections(deployed, capsys):
    # GIVEN 10 connections of which 3 vanished without $disconnect
    for index in range(10):
        deployed.connect(f"c-{index}", f"user-{index % 4}", open_=index not in (2, 5, 7))
    # WHEN a dry run, then the purge
    dry_code, dry_out, dry_err = run(capsys, "connections", "purge-stale", "--env", "dev", "--dry-run")
    rows_after_dry_run = deployed.ids()
    code, out, err = run(capsys, "connections", "purge-stale", "--env", "dev", "--concurrency", "4")
    # THEN the dry run names them and changes nothing
    assert dry_code == 0 and sorted(dry_out.split()) == ["c-2", "c-5", "c-7"]
    assert len(rows_after_dry_run) == 10 and "nothing removed" in dry_err
    # AND the purge removes them, decrements by 3 and leaves live connections untouched
    assert code == 0
    assert deployed.ids() == {f"c-{i}" for i in range(10)} - {"c-2", "c-5", "c-7"}
    assert deployed.counter() == 7
    assert deployed.endpoint.closed == [] and deployed.endpoint.received == {}
    assert out.strip() == "probed 10 connection(s): 3 gone, 3 row(s) removed"
    assert "probed: 10/10, gone 3, removed 3" in err
    # AND every row, and nothing else, was probed once per run (dry run, purge)
    assert deployed.endpoint.requests == 20


def test_purge_stale_surfaces_a_failing_endpoint_as_one_line(deployed, capsys):
    # GIVEN an endpoint that does not answer
    deployed.connect("c-1", "alice")
    deployed.endpoint.server.shutdown()
    deployed.endpoint.server.server_close()
    # WHEN purging; THEN one wsctl line, exit 1, nothing removed
    code, out, err = run(capsys, "connections", "purge-stale", "--env", "dev")
    assert code == 1 and out == ""
    assert err.startswith("wsctl: cannot reach AWS") and err.count("\n") <= 2
    assert deployed.ids() == {"c-1"}


# --------------------------------------------------------------------------------------------
# dlq redrive


def _dead_letters(deployed, count: int) -> list[str]:
    bodies = [json.dumps({"id": f"req-{i}", "target": {"all": True},
                          "notification": {"kind": "system.announcement", "title": f"t{i}"}}) for i in range(count)]
    for body in bodies:
        deployed.sqs.send_message(QueueUrl=deployed.target.outputs["broadcast_dlq_url"], MessageBody=body,
                                  MessageAttributes={"source": {"DataType": "String", "StringValue": "vercel"}})
    return bodies


def test_redrive_moves_every_message_back_when_the_move_task_api_is_missing(deployed, capsys):
    # GIVEN 23 requests in the DLQ (moto lacks StartMessageMoveTask, like the local emulator)
    bodies = _dead_letters(deployed, 23)
    queue_url, dlq_url = deployed.target.outputs["broadcast_queue_url"], deployed.target.outputs["broadcast_dlq_url"]
    # WHEN redriving
    code, out, err = run(capsys, "dlq", "redrive", "--env", "dev")
    # THEN the DLQ is empty and the queue holds exactly those bodies with their attributes
    assert code == 0
    assert out.strip() == ("moved 23 message(s) from realtime-dev-broadcast-dlq to realtime-dev-broadcast "
                           "(receive-send-delete)")
    assert "StartMessageMoveTask is not available" in err and "moved: 23/23" in err
    assert deployed.depth(dlq_url) == 0
    received = []
    while batch := deployed.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                MessageAttributeNames=["All"]).get("Messages"):
        received += batch
    assert sorted(m["Body"] for m in received) == sorted(bodies)
    assert {m["MessageAttributes"]["source"]["StringValue"] for m in received} == {"vercel"}


def test_redrive_with_move_task_forced_fails_clearly_where_sqs_lacks_it(deployed, capsys):
    _dead_letters(deployed, 2)
    code, out, err = run(capsys, "dlq", "redrive", "--env", "dev", "--method", "move-task")
    assert code == 1 and out == ""
    assert err.startswith("wsctl: ") and len(err.strip().splitlines()) == 1
    assert deployed.depth(deployed.target.outputs["broadcast_dlq_url"]) == 2


def test_redrive_prefers_start_message_move_task_where_sqs_has_it():
    # GIVEN SQS with the move-task API (botocore's Stubber validates each request against the model)
    sqs = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    dlq, queue = "https://sqs/1/realtime-dev-broadcast-dlq", "https://sqs/1/realtime-dev-broadcast"
    dlq_arn, queue_arn = "arn:aws:sqs:us-east-1:1:realtime-dev-broadcast-dlq", "arn:aws:sqs:us-east-1:1:realtime-dev-broadcast"
    stub = Stubber(sqs)
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": dlq_arn}},
                      {"QueueUrl": dlq, "AttributeNames": ["QueueArn"]})
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": queue_arn}},
                      {"QueueUrl": queue, "AttributeNames": ["QueueArn"]})
    stub.add_response("start_message_move_task", {"TaskHandle": "h-1"},
                      {"SourceArn": dlq_arn, "DestinationArn": queue_arn, "MaxNumberOfMessagesPerSecond": 50})
    for status, moved in (("RUNNING", 4), ("COMPLETED", 9)):
        stub.add_response("list_message_move_tasks", {"Results": [
            {"TaskHandle": "h-1", "Status": status, "SourceArn": dlq_arn, "DestinationArn": queue_arn,
             "ApproximateNumberOfMessagesMoved": moved, "ApproximateNumberOfMessagesToMove": 9}]},
            {"SourceArn": dlq_arn, "MaxResults": 1})
    progress_out = io.StringIO()
    # WHEN redriving
    with stub:
        report = ops_core.redrive(sqs, dlq, queue, progress=ops_core.Progress("moved", stream=progress_out,
                                                                                interval=0),
                                  poll_seconds=0, max_rate=50)
        stub.assert_no_pending_responses()
    # THEN the server-side task did the move and progress was shown
    assert (report.method, report.moved, report.task_handle) == ("move-task", 9, "h-1")
    assert progress_out.getvalue().splitlines()[-1] == "moved: 9/9"


def test_redrive_reports_a_failed_move_task():
    sqs = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sqs)
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": "arn:a"}})
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": "arn:b"}})
    stub.add_response("start_message_move_task", {"TaskHandle": "h-2"})
    stub.add_response("list_message_move_tasks", {"Results": [
        {"Status": "FAILED", "ApproximateNumberOfMessagesMoved": 3, "FailureReason": "AccessDenied on kms:Decrypt"}]})
    with stub, pytest.raises(RuntimeError, match="failed after 3 messages: AccessDenied on kms:Decrypt"):
        ops_core.redrive(sqs, "https://sqs/a", "https://sqs/b", poll_seconds=0)


# --------------------------------------------------------------------------------------------
# status


def _alarm(name: str, runbook: str):
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName=name, AlarmDescription=f"Runbook: {runbook}", MetricName="Errors", Namespace="AWS/Lambda",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")


def test_status_shows_alarm_states_connections_and_queue_depths(deployed, capsys):
    # GIVEN two alarms of dev (one firing), one of another env, two connections and a dead letter
    _alarm("realtime-dev-broadcast-dlq-not-empty", "runbooks/alarms/broadcast-dlq-not-empty.md")
    _alarm("realtime-dev-connect-errors", "runbooks/alarms/connect-errors.md")
    _alarm("realtime-prod-connect-errors", "runbooks/alarms/connect-errors.md")
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName="realtime-dev-broadcast-dlq-not-empty", StateValue="ALARM", StateReason="1 message")
    deployed.connect("c-1", "alice")
    deployed.connect("c-2", "bob")
    _dead_letters(deployed, 1)
    # WHEN asking for the status, as text and as JSON
    code, out, _ = run(capsys, "status", "--env", "dev")
    json_code, json_out, _ = run(capsys, "status", "--env", "dev", "--json")
    # THEN the firing alarm points at its runbook; connections and depths are the real ones
    assert code == 0 and json_code == 0
    assert "realtime-dev: 1 of 2 alarm(s) firing" in out
    assert "ALARM             realtime-dev-broadcast-dlq-not-empty  -> runbooks/alarms/broadcast-dlq-not-empty.md" in out
    assert "realtime-prod" not in out
    assert "active connections: 2 rows, #counter 2" in out
    assert "queue broadcast-dlq: 1 visible, 0 in flight, 0 delayed" in out
    document = json.loads(json_out)
    assert [(a["name"], a["state"]) for a in document["alarms"]] == [
        ("realtime-dev-broadcast-dlq-not-empty", "ALARM"), ("realtime-dev-connect-errors", "OK")]
    assert document["connections"] == {"counter": 2, "rows": 2}
    assert document["queues"]["broadcast"]["visible"] == 0


# --------------------------------------------------------------------------------------------
# failures are one line and a non-zero exit


def test_unknown_env_is_one_line(deployed, capsys):
    code, out, err = run(capsys, "status", "--env", "qa")
    assert (code, out) == (1, "")
    assert err == "wsctl: unknown env 'qa' (expected one of dev, staging, prod, local)\n"


def test_undeployed_table_is_one_line(deployed, capsys):
    deployed.dynamodb.delete_table(TableName=TABLE)
    code, out, err = run(capsys, "connections", "count", "--env", "dev")
    assert (code, out) == (1, "")
    assert err.startswith("wsctl: stack realtime-dev looks undeployed or out of date:") and err.count("\n") == 1


def test_missing_credentials_is_one_line(monkeypatch, capsys, tmp_path):
    # GIVEN no credentials anywhere boto3 looks
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    target = Target(env="staging", region=REGION, outputs={"connections_table_name": "t"})
    monkeypatch.setattr(ops, "resolve", lambda env: target)
    # WHEN counting; THEN one line
    code, out, err = run(capsys, "connections", "count", "--env", "staging")
    assert (code, out) == (1, "")
    assert err == "wsctl: no AWS credentials for staging: configure a profile or AWS_* variables\n"


def test_local_stack_not_running_is_one_line(monkeypatch, capsys):
    # GIVEN a local target whose emulator is not listening
    outputs = {"connections_table_name": "realtime-local-connections",
               "broadcast_queue_url": "http://127.0.0.1:9/1/realtime-local-broadcast",
               "broadcast_dlq_url": "http://127.0.0.1:9/1/realtime-local-broadcast-dlq"}
    target = Target(env="local", region=REGION, outputs=outputs, aws_endpoint="http://127.0.0.1:9")
    monkeypatch.setattr(ops, "resolve", lambda env: target)
    started = time.monotonic()
    code, out, err = run(capsys, "status", "--env", "local")
    assert (code, out) == (1, "")
    assert err.startswith("wsctl: the local stack does not answer") and err.endswith("`make local`\n")
    assert time.monotonic() - started < 60


def test_deployed_env_is_resolved_through_terraform_and_fails_in_one_line_without_credentials(
        synth_dir, monkeypatch, tmp_path, capsys):
    # GIVEN the synthesized realtime-staging stack (S3 backend) in a fresh folder, and no credentials
    from wsctl import targets

    stack_dir = tmp_path / "cdktf.out" / "stacks" / "realtime-staging"
    stack_dir.mkdir(parents=True)
    stack_dir.joinpath("cdk.tf.json").write_text((synth_dir / "stacks" / "realtime-staging" / "cdk.tf.json").read_text())
    monkeypatch.setattr(targets, "REPO_ROOT", tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN an operator asks for its status; THEN terraform's own error is the one line
    code, out, err = run(capsys, "status", "--env", "staging")
    assert (code, out) == (1, "")
    assert err.startswith("wsctl: cannot read the state of realtime-staging (terraform init failed: Error: ")
    assert err.endswith("are AWS credentials set?\n") and err.count("\n") == 1
    # AND an environment that was never synthesized says so
    code, out, err = run(capsys, "status", "--env", "prod")
    assert (code, err) == (1, "wsctl: stack realtime-prod is not synthesized: run `make synth`\n")
