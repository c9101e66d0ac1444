"""The notification log adapter (streams, offsets, epochs: ADR 0018), the read budget and the per-user
membership items (ADR 0016) under moto."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from realtime.adapters.dynamodb import DynamoConnectionStore, membership_key
from realtime.adapters.notification_log import DynamoNotificationLog
from realtime.errors import Throttled, UserLimitReached
from realtime.ports import GLOBAL_PARTITION, Connection

from tests.integration.aws import NOTIFICATIONS_TABLE
from wsctl.local.moto_patches import patch_transactions

NOW = 1_750_000_000


@pytest.fixture
def store(aws):
    return DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: NOW)


def frame(offset: int, epoch: str) -> str:
    return f'{{"offset":{offset},"epoch":"{epoch}"}}'


def append(log, partition, request_id, now=NOW, expires=NOW + 86_400):
    return log.append(partition, request_id, frame, now, expires)


def test_appends_allocate_offsets_and_ranges_read_them_in_order_across_pages(aws, log):
    # GIVEN 120 notifications for alice (more than a 1 MB-free moto page? no: paging is forced below) and one for bob
    entries = [append(log, "alice", f"n{index}") for index in range(120)]
    append(log, "bob", "b")
    # THEN offsets are 1..120 in one epoch, the head follows, and bob's stream is his own
    head = log.head("alice")
    assert [e.offset for e in entries] == list(range(1, 121)) and {e.epoch for e in entries} == {head.epoch}
    assert (head.offset, head.initial) == (120, True) and log.head("bob").offset == 1
    assert log.head("carol").epoch is None
    # WHEN ranges are read
    assert [e.request_id for e in log.read_range("alice", 9, 14)] == ["n9", "n10", "n11", "n12", "n13"]
    assert log.read_range("alice", 5, 5) == []
    assert log.get("alice", 4) == entries[3] and log.get("bob", 4) is None
    assert [e.offset for e in log.entries("alice")] == list(range(1, 121))
    # the head item and the idempotency items are not entries
    assert len(log.entries("bob")) == 1


def test_a_redelivered_append_returns_the_stored_entry_and_writes_nothing(aws, log):
    first = append(log, "alice", "n1")
    append(log, "alice", "n2")

    again = append(log, "alice", "n1", now=NOW + 99)

    assert again == first and log.head("alice").offset == 2


@pytest.fixture
def serialised_transactions():
    """moto's transact_write_items deep-copies tables and is not thread-safe; the local stack runs with
    the emulator's patch (item backups, one transaction at a time, as DynamoDB serialises conflicting ones)."""
    undo = patch_transactions()
    yield
    undo()


def test_concurrent_publishers_get_offsets_1_to_1000_without_hole_or_duplicate(aws, log, serialised_transactions):
    # GIVEN 8 publishers × 125 notifications into one stream, each its own adapter (as concurrent lambdas)
    start = threading.Barrier(8)

    def publisher(index: int) -> list[int]:
        own = DynamoNotificationLog(aws.dynamodb, NOTIFICATIONS_TABLE)  # real jittered backoff
        start.wait()
        offsets = []
        for n in range(125):
            while True:
                try:
                    offsets.append(append(own, "alice", f"p{index}-{n}").offset)
                    break
                except Throttled:  # lost every race of one invocation: SQS redelivers the request
                    redelivered.append(f"p{index}-{n}")
        return offsets

    redelivered: list[str] = []

    with ThreadPoolExecutor(8) as pool:
        offsets = [offset for found in pool.map(publisher, range(8)) for offset in found]
    # THEN exactly 1..1000, each once, and the log holds 1000 entries with the head at 1000
    assert sorted(offsets) == list(range(1, 1001))
    assert [e.offset for e in log.entries("alice")] == list(range(1, 1001)) and log.head("alice").offset == 1000


def test_a_conflicting_transaction_rereads_the_head_and_retries(aws, log):
    # GIVEN an append whose first head read is stale: it still says offset 0, but n1 is stored at offset 1
    append(log, "alice", "n1")
    stale = {**aws.dynamodb.get_item(TableName=NOTIFICATIONS_TABLE, Key={
        "userId": {"S": "alice"}, "cursor": {"S": "#head"}})["Item"], "head": {"N": "0"}}
    reads = []

    class StaleFirstHead:
        def __getattr__(self, name):
            return getattr(aws.dynamodb, name)

        def get_item(self, **kwargs):
            reads.append(kwargs["Key"]["cursor"]["S"])
            if reads.count("#head") == 1 and kwargs["Key"]["cursor"]["S"] == "#head":
                return {"Item": stale}
            return aws.dynamodb.get_item(**kwargs)

    racing = DynamoNotificationLog(StaleFirstHead(), NOTIFICATIONS_TABLE, sleep=lambda _s: None)
    # WHEN it appends THEN the transaction's conditions cancel it, it re-reads the head and stores offset 2
    # (negative control, verified: without the head and entry conditions n2 overwrites offset 1)
    assert append(racing, "alice", "n2").offset == 2
    assert [(e.request_id, e.offset) for e in log.entries("alice")] == [("n1", 1), ("n2", 2)]
    assert racing.conflicts == 1


def test_a_global_entry_settles_when_every_segment_reported_once_and_the_head_follows(log):
    glob = append(log, GLOBAL_PARTITION, "g")

    log.settle_segment(glob.offset, 0, 3, NOW + 1)
    log.settle_segment(glob.offset, 0, 3, NOW + 2)  # a redelivered segment job
    log.settle_segment(glob.offset, 2, 3, NOW + 3)
    assert log.get(GLOBAL_PARTITION, glob.offset).settled_at is None and log.head(GLOBAL_PARTITION).settled == 0

    log.settle_segment(glob.offset, 1, 3, NOW + 4)
    log.settle_segment(glob.offset, 1, 3, NOW + 9)
    assert log.get(GLOBAL_PARTITION, glob.offset).settled_at == NOW + 4
    assert log.head(GLOBAL_PARTITION).settled == 1

    log.settle_segment(99, 0, 1, NOW)  # gone: no item made
    assert len(log.entries(GLOBAL_PARTITION)) == 1


def test_the_settled_head_waits_for_an_older_unsettled_global_until_the_settle_time(log):
    older, newer = append(log, GLOBAL_PARTITION, "g1"), append(log, GLOBAL_PARTITION, "g2")
    log.settle_segment(newer.offset, 0, 1, NOW + 5)
    assert log.head(GLOBAL_PARTITION).settled == 0  # offset 1 still in flight
    log.settle_segment(newer.offset, 0, 1, NOW + 301)  # a redelivered job after the settle time
    assert older.offset == 1 and log.head(GLOBAL_PARTITION).settled == 2


def test_purge_deletes_one_users_stream_changes_its_epoch_and_keeps_the_counter(log):
    for i in range(30):
        append(log, "alice", f"a{i}")
    append(log, "bob", "b")
    old = log.head("alice").epoch

    removed, epoch = log.purge("alice")

    assert removed == 30 and epoch != old and log.entries("alice") == [] and len(log.entries("bob")) == 1
    head = log.head("alice")
    assert (head.epoch, head.offset, head.initial) == (epoch, 30, False)
    # the idempotency items went too; the counter goes on in the new epoch
    again = append(log, "alice", "a0")
    assert (again.offset, again.epoch) == (31, epoch)
    assert log.purge("carol") == (0, None)


def test_the_read_budget_counts_per_user_and_window(store):
    assert store.spend_read_budget("alice", 3, 7, 5, NOW + 600)
    assert not store.spend_read_budget("alice", 3, 7, 5, NOW + 600)
    assert store.spend_read_budget("alice", 2, 7, 5, NOW + 600)
    assert store.spend_read_budget("alice", 3, 8, 5, NOW + 1200) and store.spend_read_budget("bob", 5, 7, 5, NOW)
    assert not store.spend_read_budget("bob", 6, 9, 5, NOW)
    # a budget item is never a connection row
    assert store.count_connections() == 0 and store.scan_page(0, 1, None).connection_ids == []


def test_membership_follows_connects_and_disconnects_and_caps_per_user(aws, store):
    for index in range(3):
        store.add(Connection(f"c{index}", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=3)
    members = aws.dynamodb.get_item(TableName=aws.table, Key={"connectionId": {"S": membership_key("alice")}},
                                    ConsistentRead=True)["Item"]
    assert set(members["members"]["M"]) == {"c0", "c1", "c2"} and members["ver"] == {"N": "3"}
    assert "userId" not in members and "expiryBucket" not in members  # the GSIs stay sparse
    with pytest.raises(UserLimitReached):
        store.add(Connection("c3", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=3)

    assert store.remove("c1") is True
    assert sorted(store._members_of(["alice"]).get("alice", [])) == ["c0", "c2"]
    store.add(Connection("c3", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=3)
    assert sorted(store.connections_of_users(["alice"])) == ["c0", "c2", "c3"]
    assert store.active_count() == 3


def test_members_older_than_the_connection_maximum_are_ignored_and_dropped_at_the_next_connect(aws):
    old = DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: NOW)
    old.add(Connection("dead", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=1)
    aws.dynamodb.delete_item(TableName=aws.table, Key={"connectionId": {"S": "dead"}})  # its row TTL-expired
    later = NOW + 3 * 3600
    store = DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: later)

    assert store._members_of(["alice"]).get("alice", []) == []
    store.add(Connection("live", "alice", later, later + 3600), global_limit=100, per_user_limit=1)
    members = aws.dynamodb.get_item(TableName=aws.table, Key={"connectionId": {"S": membership_key("alice")}},
                                    ConsistentRead=True)["Item"]["members"]["M"]
    assert set(members) == {"live"}


def test_rows_from_before_membership_items_are_removed_and_still_found(aws, store):
    # GIVEN a row written by the previous release: no membership item for its user
    aws.dynamodb.put_item(TableName=aws.table, Item={
        "connectionId": {"S": "legacy"}, "userId": {"S": "bob"}, "connectedAt": {"N": str(NOW)},
        "tokenExpiresAt": {"N": str(NOW + 3600)}, "expiryBucket": {"S": "exp#1"}, "expiresAt": {"N": str(NOW + 7800)}})
    store.adjust_counter(1)
    # THEN the byUser index still finds it, and a disconnect removes it and moves the counter
    assert store.connections_of_users(["bob"]) == ["legacy"]
    assert store.remove("legacy") is True and store.active_count() == 0


def test_remove_stale_keeps_rows_younger_than_the_cutoff(store):
    store.add(Connection("young", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=10)

    assert store.remove_stale("young", connected_before=NOW) is False
    assert store.get("young") is not None
    assert store.remove_stale("young", connected_before=NOW + 1) is True
    assert store.get("young") is None and store._members_of(["alice"]).get("alice", []) == []


def test_refresh_moves_expiry_and_bucket_of_the_users_own_row_only(aws, store):
    store.add(Connection("c1", "alice", NOW, NOW + 60), global_limit=100, per_user_limit=10)

    assert store.refresh_token("c1", "mallory", NOW + 7200) is False
    assert store.refresh_token("c1", "alice", NOW + 7200) is True
    assert store.refresh_token("gone", "alice", NOW + 7200) is False

    assert store.get("c1").token_expires_at == NOW + 7200
    assert store.expiring(f"exp#{(NOW + 60) // 60}", until=NOW + 60) == []
    assert [c.connection_id for c in store.expiring(f"exp#{(NOW + 7200) // 60}", until=NOW + 7200)] == ["c1"]


def test_the_global_scan_reads_rows_only_with_strong_consistency(aws, store):
    for index in range(5):
        store.add(Connection(f"c{index}", f"user-{index % 2}", NOW, NOW + 3600), global_limit=100, per_user_limit=10)
    store.claim_request("#broadcast#x", NOW, 300)
    found, cursor = [], None
    small = DynamoConnectionStore(aws.dynamodb, aws.table, scan_page_size=2, clock=lambda: NOW)
    while True:
        page = small.scan_page(0, 1, cursor)
        found += page.connection_ids
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(found) == [f"c{index}" for index in range(5)]  # no #counter, #user#…, #broadcast#…


def test_an_append_racing_with_a_purge_lands_in_the_new_epoch_and_survives_it(aws, log):
    # GIVEN alice's stream with two entries, and an append that runs after the purge moved the epoch but
    # before it deleted the old epoch's items
    append(log, "alice", "a1")
    append(log, "alice", "a2")
    raced = {}

    class AppendDuringTheDelete:
        def __getattr__(self, name):
            return getattr(aws.dynamodb, name)

        def query(self, **kwargs):
            if not raced:
                raced["entry"] = append(DynamoNotificationLog(aws.dynamodb, NOTIFICATIONS_TABLE), "alice", "a3")
            return aws.dynamodb.query(**kwargs)

    racing = DynamoNotificationLog(AppendDuringTheDelete(), NOTIFICATIONS_TABLE)
    # WHEN the purge finishes
    removed, epoch = racing.purge("alice")
    # THEN the old epoch's two are gone; the racing append took offset 3 in the NEW epoch and is kept
    # (negative control: deleting every non-head item instead of the old epoch's loses a3)
    assert removed == 2 and raced["entry"].epoch == epoch and raced["entry"].offset == 3
    assert [(e.request_id, e.offset, e.epoch) for e in log.entries("alice")] == [("a3", 3, epoch)]
