"""The notification log adapter and the per-user membership items (ADR 0016) under moto."""

from __future__ import annotations

import pytest
from realtime.adapters.dynamodb import DynamoConnectionStore, membership_key
from realtime.adapters.notification_log import DynamoNotificationLog
from realtime.cursors import GLOBAL_STREAM, USER_STREAM, lower_bound, make_cursor
from realtime.errors import UserLimitReached
from realtime.ports import GLOBAL_PARTITION, Connection, LogEntry

from tests.integration.aws import NOTIFICATIONS_TABLE, create_notifications_table

NOW = 1_750_000_000


@pytest.fixture
def log(aws):
    create_notifications_table(aws.dynamodb)
    return DynamoNotificationLog(aws.dynamodb, NOTIFICATIONS_TABLE)


@pytest.fixture
def store(aws):
    return DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: NOW)


def entry(partition, millis, request_id, stream=USER_STREAM, expires=NOW + 86_400):
    cursor = make_cursor(millis, stream, request_id)
    return LogEntry(partition, cursor, request_id, f'{{"id":"{request_id}"}}', expires)


def test_append_then_ranges_in_cursor_order_across_pages(aws, log):
    # GIVEN 60 entries for alice (three BatchWriteItem calls) and one for bob
    entries = [entry("alice", NOW * 1000 + index, f"n{index}") for index in range(60)]
    log.append(entries + [entry("bob", NOW * 1000, "b")])
    # WHEN ranges are read after / before a cursor
    after = log.read_after("alice", entries[9].cursor, limit=5)
    before = log.read_before("alice", entries[20].cursor, lower_bound(NOW * 1000 + 10), limit=3)
    # THEN they are in cursor order (newest first before), exclusive bounds, limited
    assert [e.request_id for e in after] == ["n10", "n11", "n12", "n13", "n14"]
    assert [e.request_id for e in before] == ["n19", "n18", "n17"]
    assert log.get("alice", entries[3].cursor) == entries[3]
    assert log.get("bob", entries[3].cursor) is None
    assert len(log.entries("alice")) == 60 and [e.request_id for e in log.entries("bob")] == ["b"]


def test_a_global_entry_settles_when_every_segment_reported_once(log):
    glob = entry(GLOBAL_PARTITION, NOW * 1000, "g", GLOBAL_STREAM)
    log.append([glob])

    log.settle_segment(glob.cursor, 0, 3, NOW + 1)
    log.settle_segment(glob.cursor, 0, 3, NOW + 2)  # a redelivered segment job
    log.settle_segment(glob.cursor, 2, 3, NOW + 3)
    assert log.get(GLOBAL_PARTITION, glob.cursor).settled_at is None

    log.settle_segment(glob.cursor, 1, 3, NOW + 4)
    log.settle_segment(glob.cursor, 1, 3, NOW + 9)
    assert log.get(GLOBAL_PARTITION, glob.cursor).settled_at == NOW + 4

    log.settle_segment(make_cursor(NOW * 1000, GLOBAL_STREAM, "purged"), 0, 1, NOW)  # gone: no item made
    assert len(log.entries(GLOBAL_PARTITION)) == 1


def test_purge_deletes_one_users_partition_only(log):
    log.append([entry("alice", NOW * 1000 + i, f"a{i}") for i in range(30)] + [entry("bob", NOW * 1000, "b")])

    assert log.purge("alice") == 30
    assert log.entries("alice") == [] and len(log.entries("bob")) == 1
    assert log.purge("alice") == 0


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
    assert sorted(store._members_of(["alice"])) == ["c0", "c2"]
    store.add(Connection("c3", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=3)
    assert sorted(store.connections_of_users(["alice"])) == ["c0", "c2", "c3"]
    assert store.active_count() == 3


def test_members_older_than_the_connection_maximum_are_ignored_and_dropped_at_the_next_connect(aws):
    old = DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: NOW)
    old.add(Connection("dead", "alice", NOW, NOW + 3600), global_limit=100, per_user_limit=1)
    aws.dynamodb.delete_item(TableName=aws.table, Key={"connectionId": {"S": "dead"}})  # its row TTL-expired
    later = NOW + 3 * 3600
    store = DynamoConnectionStore(aws.dynamodb, aws.table, clock=lambda: later)

    assert store._members_of(["alice"]) == []
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
    assert store.get("young") is None and store._members_of(["alice"]) == []


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
