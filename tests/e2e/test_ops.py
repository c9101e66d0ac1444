"""End-to-end: the ops commands (`wsctl connections …`, `wsctl dlq redrive`, `wsctl status`) run as a
subprocess with `--env local` against the local stack, with their effects checked where they land:
the connection table, real WebSocket clients (frames received, close codes), the queues and the
alarms in the emulator.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import websockets

from tests.e2e.support import PING, connection_ids, open_ws, receive_json, unique_user, wait_until

pytestmark = pytest.mark.e2e
REPO_ROOT = Path(__file__).resolve().parents[2]


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _all_rows(stack) -> set[str]:
    table = stack.outputs["connections_table_name"]
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table, IndexName="byUser")
    return {item["connectionId"]["S"] for page in pages for item in page["Items"]}


def _depth(stack, output: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _stable(read, attempts: int = 20):
    """A value read twice in a row with the same result (other tests' connections come and go)."""
    previous = read()
    for _ in range(attempts):
        time.sleep(0.3)
        current = read()
        if current == previous:
            return current
        previous = current
    pytest.fail("the value never settled")


# --------------------------------------------------------------------------------------------
# count and list


def test_count_and_list_show_the_rows_of_open_connections(local_stack):
    alice, bob = unique_user("ops-alice"), unique_user("ops-bob")
    alice_id, bob_id = local_stack.user_id(alice), local_stack.user_id(bob)

    async def scenario():
        # GIVEN alice on two tabs and bob on one
        async with await open_ws(local_stack.ws_url, local_stack.token(alice)), \
                await open_ws(local_stack.ws_url, local_stack.token(alice)), \
                await open_ws(local_stack.ws_url, local_stack.token(bob)):
            rows = connection_ids(local_stack, alice_id)
            # WHEN an operator counts and lists
            alice_count = _ok(local_stack.wsctl("connections", "count", "--env", "local", "--user", alice_id))
            bob_count = _ok(local_stack.wsctl("connections", "count", "--env", "local", "--user", bob_id))
            listed = _ok(local_stack.wsctl("connections", "list", "--env", "local", "--user", alice_id, "--json"))
            table = _ok(local_stack.wsctl("connections", "list", "--env", "local"))
            total = _stable(lambda: (len(_all_rows(local_stack)),
                                     local_stack.wsctl("connections", "count", "--env", "local").stdout.strip()))
            return rows, alice_count, bob_count, listed, table, total

    before = int(time.time())
    rows, alice_count, bob_count, listed, table, total = asyncio.run(scenario())
    # THEN the per-user counts are the stored rows, the listing has each of them with its times
    assert len(rows) == 2
    assert (alice_count, bob_count) == ("2\n", "1\n")
    entries = [json.loads(line) for line in listed.splitlines()]
    assert sorted(entry["connectionId"] for entry in entries) == rows
    assert {entry["userId"] for entry in entries} == {alice_id}
    assert all(before - 5 <= entry["connectedAt"] <= time.time() + 5 for entry in entries)
    assert all(entry["tokenExpiresAt"] > entry["connectedAt"] for entry in entries)  # the pool's 1-hour tokens
    assert all(row in table for row in rows) and alice_id in table and bob_id in table
    # AND the overall count matches the table, read the same moment
    assert total[1] == str(total[0])


# --------------------------------------------------------------------------------------------
# kick


def test_kick_user_sends_token_expired_closes_every_tab_and_removes_the_rows(local_stack):
    user = unique_user("ops-kick")
    user_id = local_stack.user_id(user)

    async def scenario():
        # GIVEN the user connected on two tabs
        tabs = [await open_ws(local_stack.ws_url, local_stack.token(user)) for _ in range(2)]
        assert len(connection_ids(local_stack, user_id)) == 2
        # WHEN an operator kicks the user
        result = await asyncio.to_thread(local_stack.wsctl, "connections", "kick", "--env", "local", "--user", user_id)
        frames, codes = [], []
        for tab in tabs:
            frames.append(await receive_json(tab, timeout=10))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(tab.recv(), 10)
            codes.append(tab.close_code)
        return result, frames, codes

    result, frames, codes = asyncio.run(scenario())
    # THEN each tab got the error frame of the reconnection contract (ADR 0010), then a 1000 close
    # (the local gateway, like API Gateway, runs $disconnect on close: it or wsctl deletes each row)
    assert _ok(result).startswith("kicked 2 connection(s): 2 closed, 0 already gone; rows: ")
    assert "kicked: 2/2" in result.stderr
    assert [frame["data"]["code"] for frame in frames] == ["TOKEN_EXPIRED", "TOKEN_EXPIRED"]
    assert all(frame["type"] == "error" and "operator" in frame["data"]["message"] for frame in frames)
    assert codes == [1000, 1000]
    # AND the rows are gone
    assert connection_ids(local_stack, user_id) == []


def test_kick_one_connection_leaves_the_other_tab_working(local_stack):
    user = unique_user("ops-kick-one")
    user_id = local_stack.user_id(user)

    async def scenario():
        # GIVEN two tabs of one user, each known by its row
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as first:
            (first_id,) = connection_ids(local_stack, user_id)
            async with await open_ws(local_stack.ws_url, local_stack.token(user)) as second:
                (second_id,) = set(connection_ids(local_stack, user_id)) - {first_id}
                # WHEN an operator kicks the first tab's connection
                result = await asyncio.to_thread(local_stack.wsctl, "connections", "kick", "--env", "local",
                                                 "--connection", first_id)
                assert "1 closed" in _ok(result), result.stdout  # what it did, before waiting for the frame
                frame = await receive_json(first, timeout=10)
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(first.recv(), 10)
                # THEN the second tab still works
                await second.send(PING)
                pong = await receive_json(second)
                return result, frame, first.close_code, pong, connection_ids(local_stack, user_id), second_id

    result, frame, close_code, pong, remaining, second_id = asyncio.run(scenario())
    assert _ok(result).startswith("kicked 1 connection(s): 1 closed, 0 already gone; rows: ")
    assert frame["data"]["code"] == "TOKEN_EXPIRED" and close_code == 1000
    assert pong["type"] == "pong"
    assert remaining == [second_id]


# --------------------------------------------------------------------------------------------
# purge-stale


def test_purge_stale_removes_the_row_of_a_vanished_client_only(local_stack):
    user = unique_user("ops-stale")
    user_id = local_stack.user_id(user)

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as healthy:
            healthy_id = connection_ids(local_stack, user_id)[0]
            # GIVEN a second tab whose network vanished: no close frame, so no $disconnect yet
            lost = await open_ws(local_stack.ws_url, local_stack.token(user))
            lost.transport.abort()
            rows = connection_ids(local_stack, user_id)
            # WHEN an operator looks first, then purges
            dry = await asyncio.to_thread(local_stack.wsctl, "connections", "purge-stale", "--env", "local", "--dry-run")
            rows_after_dry_run = connection_ids(local_stack, user_id)
            purge = await asyncio.to_thread(local_stack.wsctl, "connections", "purge-stale", "--env", "local")
            rows_after_purge = connection_ids(local_stack, user_id)
            await healthy.send(PING)
            pong = await receive_json(healthy)
            return healthy_id, rows, dry, rows_after_dry_run, purge, rows_after_purge, pong

    healthy_id, rows, dry, rows_after_dry_run, purge, rows_after_purge, pong = asyncio.run(scenario())
    (lost_id,) = set(rows) - {healthy_id}
    # THEN the dry run names the vanished connection, not the healthy one, and changes nothing
    assert lost_id in _ok(dry).split() and healthy_id not in dry.stdout.split()
    assert rows_after_dry_run == rows and "nothing removed" in dry.stderr
    # AND the purge removes exactly that row, with progress on stderr, and the healthy tab still works
    assert "probed:" in purge.stderr and "probed" in _ok(purge)
    assert rows_after_purge == [healthy_id]
    assert pong["type"] == "pong"


# --------------------------------------------------------------------------------------------
# dlq redrive


def test_redrive_moves_dead_letters_back_and_they_are_broadcast(local_stack):
    user = unique_user("ops-dlq")
    user_id = local_stack.user_id(user)
    sqs = local_stack.client("sqs")
    titles = [f"redriven {index}" for index in range(3)]

    async def scenario():
        async with await open_ws(local_stack.ws_url, local_stack.token(user)) as ws:
            # GIVEN three broadcast requests for the user parked in the DLQ (as after 5 failed receives)
            for title in titles:
                sqs.send_message(QueueUrl=local_stack.outputs["broadcast_dlq_url"], MessageBody=json.dumps({
                    "id": f"e2e-dlq-{uuid.uuid4()}", "target": {"userIds": [user_id]},
                    "notification": {"kind": "moc.finalized", "title": title}}))
            assert _depth(local_stack, "broadcast_dlq_url") >= 3
            # WHEN an operator redrives
            result = await asyncio.to_thread(local_stack.wsctl, "dlq", "redrive", "--env", "local")
            received = [await receive_json(ws, timeout=10) for _ in titles]
            return result, received

    result, received = asyncio.run(scenario())
    # THEN the emulator's missing StartMessageMoveTask is detected and the fallback moved them
    out = _ok(result)
    assert "(receive-send-delete)" in out and "to realtime-local-broadcast " in out
    assert "StartMessageMoveTask is not available" in result.stderr
    assert wait_until(lambda: _depth(local_stack, "broadcast_dlq_url") == 0, timeout=5)
    # AND the broadcast function delivered each of them to the user
    assert sorted(frame["data"]["title"] for frame in received) == sorted(titles)
    assert {frame["type"] for frame in received} == {"notification"}


# --------------------------------------------------------------------------------------------
# status


def _delete_dead_letter(sqs, queue_url: str, request_id: str) -> None:
    """Remove the one message this test put on the DLQ (PurgeQueue allows one call a minute per queue, and
    would take other tests' dead letters too)."""
    for _ in range(10):
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       WaitTimeSeconds=1).get("Messages", [])
        for message in received:
            if json.loads(message["Body"]).get("id") == request_id:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return
    raise AssertionError(f"dead letter {request_id} not found on the DLQ")


def test_status_shows_the_firing_alarm_with_its_runbook_connections_and_queue_depths(local_stack):
    cloudwatch, sqs = local_stack.client("cloudwatch"), local_stack.client("sqs")
    alarm = "realtime-local-broadcast-dlq-not-empty"
    dlq_url = local_stack.outputs["broadcast_dlq_url"]
    # GIVEN a dead letter that nobody can receive (an unknown user) and its alarm firing
    dead_letter = f"e2e-status-{uuid.uuid4()}"
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({
        "id": dead_letter, "target": {"userIds": ["nobody"]},
        "notification": {"kind": "set.created", "title": "status"}}))
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="e2e")
    try:
        # WHEN an operator asks for the status
        text = _ok(local_stack.wsctl("status", "--env", "local"))
        document = json.loads(_ok(local_stack.wsctl("status", "--env", "local", "--json")))
        rows = _stable(lambda: len(_all_rows(local_stack)))
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="e2e done")
        _delete_dead_letter(sqs, dlq_url, dead_letter)
    # THEN every alarm of the stack is listed, the firing one with its runbook, which exists
    deployed = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="realtime-local-")["MetricAlarms"]}
    assert len(deployed) >= 18 and {a["name"] for a in document["alarms"]} == deployed
    line = next(line for line in text.splitlines() if alarm in line)
    assert line.split()[0] == "ALARM" and line.endswith("-> runbooks/alarms/broadcast-dlq-not-empty.md")
    assert (REPO_ROOT / "runbooks" / "alarms" / "broadcast-dlq-not-empty.md").is_file()
    assert all(a["runbook"] == f"runbooks/alarms/{a['name'].removeprefix('realtime-local-')}.md"
               for a in document["alarms"])
    # AND the DLQ depth and the connection rows are the real ones
    assert document["queues"]["broadcast-dlq"]["visible"] >= 1
    assert abs(document["connections"]["rows"] - rows) <= 2  # connections of earlier tests may still close


# --------------------------------------------------------------------------------------------
# failures are one line


def test_ops_commands_without_a_running_stack_fail_in_one_line(local_stack, tmp_path):
    env = {**local_stack.env, "REALTIME_LOCAL_DIR": str(tmp_path)}
    for argv in (["status", "--env", "local"], ["connections", "count", "--env", "local"],
                 ["dlq", "redrive", "--env", "local"]):
        result = subprocess.run([sys.executable, "-m", "wsctl.cli", *argv], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == "wsctl: nothing running: start the local stack with `make local` (wsctl local up)\n"
    unknown = local_stack.wsctl("connections", "list", "--env", "qa")
    assert unknown.returncode == 1
    assert unknown.stderr == "wsctl: unknown env 'qa' (expected one of dev, staging, prod, local)\n"
