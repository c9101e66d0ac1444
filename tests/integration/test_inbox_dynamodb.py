"""The inbox (ADR 0020) on the DynamoDB adapters under moto: history pages from the log table, the read
state items (``#read``, ``m#…``) and their conditions — concurrent marks, a mark racing a new
notification, refusals that write nothing, a purge deleting the read state."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.adapters.notification_log import (
    READ_STATE_ATTRIBUTES,
    DynamoReadStateStore,
)
from realtime.messages import (
    BroadcastRequest,
    HistoryRequest,
    ReadAllMessage,
    ReadMessage,
    encode,
    notification_message,
)
from realtime.ports import GLOBAL_PARTITION
from realtime.services.inbox import InboxRefused, InboxService

from tests.integration.aws import NOTIFICATIONS_TABLE

NOW = 1_750_000_000
RETENTION = 86_400


@pytest.fixture
def read_state(aws, log):
    return DynamoReadStateStore(aws.dynamodb, NOTIFICATIONS_TABLE, sleep=lambda _s: None)


@pytest.fixture
def inbox(aws, log, read_state):
    store = DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: NOW)
    return InboxService(log, read_state, store, retention_seconds=RETENTION, budget_items=10_000,
                        budget_window_seconds=600)


def store_notification(log, partition: str, request_id: str, at: int = NOW) -> int:
    stream = "global" if partition == GLOBAL_PARTITION else "user"
    request = BroadcastRequest.model_validate({"id": request_id, "target": {"userIds": ["x"]},
                                               "notification": {"kind": "moc.finalized", "title": request_id}})

    def build(offset: int, epoch: str) -> str:
        return encode(notification_message(request, at, stream=stream, epoch=epoch, offset=offset)).decode()

    return log.append(partition, request_id, build, at, at + RETENTION).offset


def history(inbox, **data) -> dict:
    answer = inbox.history("alice", HistoryRequest.model_validate({"type": "history", "version": "2.0",
                                                                    "id": "h", "data": data}), NOW + 10)
    parts = [json.loads(frame) for frame in answer.frames]
    merged = dict(parts[-1]["data"])
    merged["items"] = [item for part in parts for item in part["data"]["items"]]
    return merged


def read(stream: str, offset: int) -> ReadMessage:
    return ReadMessage.model_validate({"type": "read", "version": "2.0", "data": {"stream": stream, "offset": offset}})


def read_all(**upto) -> ReadAllMessage:
    data = {"upto": upto} if upto else {}  # no upto: up to the heads
    return ReadAllMessage.model_validate({"type": "read.all", "version": "2.0", "data": data})


def seed(log) -> None:
    store_notification(log, "alice", "U1", NOW)
    store_notification(log, "alice", "U2", NOW + 1)
    store_notification(log, GLOBAL_PARTITION, "G1", NOW + 2)
    store_notification(log, "alice", "U3", NOW + 3)
    store_notification(log, "bob", "B1", NOW)


def test_history_pages_read_flags_and_unread_count_on_dynamodb(inbox, log):
    seed(log)
    first = history(inbox, limit=2)
    assert [(i["stream"], i["offset"], i["id"]) for i in first["items"]] == [("user", 3, "U3"), ("global", 1, "G1")]
    assert first["more"] is True and first["unread"] == 4
    second = history(inbox, limit=2, before=first["before"])
    assert [i["id"] for i in second["items"]] == ["U2", "U1"] and second["more"] is False
    # WHEN alice marks U2 and then all up to user 1 / global 1
    state = inbox.mark("alice", read("user", 2), NOW + 10)
    assert state.data.unread == 3
    state = inbox.mark_all("alice", read_all(user=1, **{"global": 1}), NOW + 10)
    assert state.data.unread == 1 and (state.data.readUpto.user, state.data.readUpto.global_) == (1, 1)
    # THEN the next history carries the same state
    flags = {i["id"]: i["read"] for i in history(inbox)["items"]}
    assert flags == {"U3": False, "G1": True, "U2": True, "U1": True}


def test_refusals_write_nothing(aws, inbox, log):
    seed(log)
    for message in (read("user", 4), read("global", 2), read_all(user=9)):
        with pytest.raises(InboxRefused) as refused:
            getattr(inbox, "mark" if isinstance(message, ReadMessage) else "mark_all")("alice", message, NOW + 10)
        assert refused.value.code == "NOT_FOUND"
    items = aws.dynamodb.scan(TableName=NOTIFICATIONS_TABLE)["Items"]
    assert not [i for i in items if i["cursor"]["S"] == "#read" or i["cursor"]["S"].startswith("m#")]


def test_read_state_items_only_use_the_attributes_iam_allows(aws, inbox, log):
    seed(log)
    inbox.mark("alice", read("user", 3), NOW + 10)
    inbox.mark_all("alice", read_all(user=2), NOW + 10)
    written = [i for i in aws.dynamodb.scan(TableName=NOTIFICATIONS_TABLE)["Items"]
               if i["cursor"]["S"] == "#read" or i["cursor"]["S"].startswith("m#")]
    assert len(written) == 2
    assert all(set(item) <= set(READ_STATE_ATTRIBUTES) for item in written)
    # marks expire with their entry, the read item one retention after its write
    expiries = {item["cursor"]["S"]: int(item["expiresAt"]["N"]) for item in written}
    assert expiries["m#user#00000000000000000003"] == NOW + 3 + RETENTION
    assert expiries["#read"] == NOW + 10 + RETENTION


class RacingClient:
    """Passes every call through; before the first ``put_item`` of ``#read`` runs ``race`` (another writer
    wins the race between this adapter's read and its conditional write)."""

    def __init__(self, client, race):
        self._client, self._race = client, race

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_item(self, **kwargs):
        if self._race is not None and kwargs["Item"]["cursor"]["S"] == "#read":
            race, self._race = self._race, None
            race()
        return self._client.put_item(**kwargs)


def test_a_concurrent_mark_all_that_wins_the_race_is_never_lowered(aws, log, read_state):
    seed(log)
    read_state.raise_positions("alice", {"user": 1}, NOW + RETENTION)
    # GIVEN another device raises alice's position to 3 between this writer's read (1) and its write (2)
    racing = DynamoReadStateStore(RacingClient(aws.dynamodb, lambda: read_state.raise_positions(
        "alice", {"user": 3}, NOW + RETENTION)), NOTIFICATIONS_TABLE, sleep=lambda _s: None)
    # WHEN this writer raises to 2
    result = racing.raise_positions("alice", {"user": 2, "global": 1}, NOW + RETENTION)
    # THEN its conditional put fails, it re-reads and writes max(3, 2) — the position is never lowered
    # (negative control, verified: without the ``ver`` condition the put lands and the position drops to 2)
    assert racing.conflicts == 1
    assert (result.user, result.global_) == (3, 1) and read_state.positions("alice").user == 3


def test_a_notification_stored_between_the_heads_and_the_write_stays_unread(aws, log, read_state):
    seed(log)
    store = DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: NOW)
    racing = DynamoReadStateStore(RacingClient(aws.dynamodb, lambda: store_notification(log, "alice", "LATE")),
                                  NOTIFICATIONS_TABLE, sleep=lambda _s: None)
    inbox = InboxService(log, racing, store, retention_seconds=RETENTION, budget_items=10_000,
                         budget_window_seconds=600)
    # WHEN alice marks all read (up to the heads) while LATE is stored in between
    state = inbox.mark_all("alice", read_all(), NOW + 10)
    # THEN LATE (user offset 4) is unread: the position is the head read before the write
    assert log.head("alice").offset == 4
    assert state.data.readUpto.user == 3 and state.data.unread == 1


def test_concurrent_marks_from_threads_converge(aws, log, read_state):
    for index in range(20):
        store_notification(log, "alice", f"N{index}")
    start = threading.Barrier(6)

    def device(index: int) -> None:
        own = DynamoReadStateStore(aws.dynamodb, NOTIFICATIONS_TABLE)
        start.wait()
        for step in range(5):
            own.raise_positions("alice", {"user": index * 3 + step}, NOW + RETENTION)
            own.mark("alice", "user", 18 + index % 3, NOW + RETENTION)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(device, range(6)))
    assert read_state.positions("alice").user == 19
    assert read_state.marks("alice", "user", 0, 20, NOW) == {18, 19, 20}


def test_a_purge_deletes_the_read_state_with_the_entries(aws, inbox, log, read_state):
    seed(log)
    inbox.mark("alice", read("user", 3), NOW + 10)
    inbox.mark_all("alice", read_all(user=1), NOW + 10)
    log.purge("alice")
    assert read_state.positions("alice").user == 0 and read_state.marks("alice", "user", 0, 10, NOW) == set()
    # bob's read state is his own and the global entries stay
    assert log.head(GLOBAL_PARTITION).offset == 1
