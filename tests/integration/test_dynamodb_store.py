"""DynamoConnectionStore against the contract table under moto: rows, counter, GSIs, meta items."""

from __future__ import annotations

import pytest
from realtime.adapters.dynamodb import DynamoConnectionStore
from realtime.errors import DuplicateConnection, GlobalLimitReached, UserLimitReached
from realtime.ports import Claim, Connection

NOW = 1_750_000_000


@pytest.fixture
def store(aws):
    return DynamoConnectionStore(aws.dynamodb, aws.table, scan_page_size=4)


def item(aws, key):
    return aws.dynamodb.get_item(TableName=aws.table, Key={"connectionId": {"S": key}}).get("Item")


def add(store, connection_id, user="user-1", expires=NOW + 3600, limit=100, per_user=100):
    store.add(Connection(connection_id, user, NOW, expires), global_limit=limit, per_user_limit=per_user)


def test_add_writes_the_contract_row_and_the_counter_in_one_transaction(aws, store):
    add(store, "c1", expires=NOW + 3599)

    assert item(aws, "c1") == {
        "connectionId": {"S": "c1"}, "userId": {"S": "user-1"}, "connectedAt": {"N": str(NOW)},
        "tokenExpiresAt": {"N": str(NOW + 3599)}, "expiryBucket": {"S": f"exp#{(NOW + 3599) // 60}"},
        "expiresAt": {"N": str(NOW + 7800)}}
    assert item(aws, "#counter") == {"connectionId": {"S": "#counter"}, "active": {"N": "1"}}
    assert store.active_count() == 1 and store.count_connections() == 1


def test_global_limit_cancels_the_whole_transaction(aws, store):
    add(store, "c1", limit=2)
    add(store, "c2", user="user-2", limit=2)

    with pytest.raises(GlobalLimitReached):
        add(store, "c3", user="user-3", limit=2)

    assert item(aws, "c3") is None and store.active_count() == 2


def test_per_user_cap_counts_the_user_index(aws, store):
    add(store, "tab-1", per_user=2)
    add(store, "tab-2", per_user=2)

    with pytest.raises(UserLimitReached):
        add(store, "tab-3", per_user=2)

    assert item(aws, "tab-3") is None and store.active_count() == 2


def test_duplicate_connection_id_changes_nothing(aws, store):
    add(store, "c1")

    with pytest.raises(DuplicateConnection):
        add(store, "c1", user="user-2")

    assert item(aws, "c1")["userId"] == {"S": "user-1"} and store.active_count() == 1


def test_remove_is_idempotent_and_never_touches_meta_items(aws, store):
    add(store, "c1")
    add(store, "c2")

    assert store.remove("c1") is True
    assert store.remove("c1") is False
    assert store.remove("#counter") is False

    assert item(aws, "c1") is None and store.active_count() == 1 and item(aws, "#counter") is not None


def test_get_returns_the_connection_and_none_for_meta_items(store):
    add(store, "c1")

    assert store.get("c1") == Connection("c1", "user-1", NOW, NOW + 3600)
    assert store.get("#counter") is None and store.get("missing") is None


def test_count_message_windows_and_violations(aws, store):
    add(store, "c1")

    counts = [store.count_message("c1", 100).count for _ in range(3)]
    next_window = store.count_message("c1", 101)
    violations = [store.add_rate_violation("c1") for _ in range(2)]

    assert counts == [1, 2, 3]
    assert (next_window.count, next_window.token_expires_at) == (1, NOW + 3600)
    assert violations == [1, 2] and store.count_message("c1", 101).violations == 2
    row = item(aws, "c1")
    assert (row["rateWindow"], row["rateCount"], row["rateViolations"]) == ({"N": "101"}, {"N": "2"}, {"N": "2"})


def test_count_message_for_unknown_connection_creates_nothing(aws, store):
    assert store.count_message("ghost", 100) is None
    assert store.add_rate_violation("ghost") == 0
    assert item(aws, "ghost") is None


def test_connections_of_users_uses_the_user_index(store):
    for index in range(7):
        add(store, f"c{index}", user=["alice", "bob", "carol"][index % 3])

    assert sorted(store.connections_of_users(["alice", "carol", "alice"])) == ["c0", "c2", "c3", "c5", "c6"]
    assert store.connections_of_users(["nobody"]) == []


def test_parallel_scan_segments_cover_every_connection_once_and_skip_meta_items(aws, store):
    for index in range(23):
        add(store, f"conn-{index:02d}", user=f"user-{index}")
    store.claim_request("#broadcast#x", NOW, 300)
    store.try_announce("x", NOW, 60)

    seen = []
    for segment in range(3):
        cursor, pages = None, 0
        while True:
            page = store.scan_page(segment, 3, cursor)
            seen.extend(page.connection_ids)
            pages += 1
            cursor = page.cursor
            if cursor is None:
                break

    assert sorted(seen) == [f"conn-{index:02d}" for index in range(23)]


def test_expiring_reads_one_bucket_up_to_a_time(store):
    minute = NOW // 60
    add(store, "a", expires=minute * 60 + 5)
    add(store, "b", expires=minute * 60 + 50)
    add(store, "later-minute", expires=minute * 60 + 65)

    found = store.expiring(f"exp#{minute}", until=minute * 60 + 30)

    assert [(c.connection_id, c.token_expires_at) for c in found] == [("a", minute * 60 + 5)]
    assert {c.connection_id for c in store.expiring(f"exp#{minute}", until=minute * 60 + 59)} == {"a", "b"}


def test_counter_adjustment(store):
    add(store, "c1")
    store.adjust_counter(+4)
    assert store.active_count() == 5
    store.adjust_counter(-4)
    assert store.active_count() == 1 == store.count_connections()


def test_request_claims(aws, store):
    key = "#broadcast#req-1"

    assert store.claim_request(key, NOW, 300) is Claim.CLAIMED
    assert store.claim_request(key, NOW + 10, 300) is Claim.IN_PROGRESS
    assert store.claim_request(key, NOW + 301, 300) is Claim.CLAIMED  # lease of a crashed run expired
    store.complete_request(key, NOW + 302)
    assert store.claim_request(key, NOW + 10_000, 300) is Claim.COMPLETED
    assert item(aws, key)["completedAt"] == {"N": str(NOW + 302)}
    assert item(aws, key)["expiresAt"] == {"N": str(NOW + 302 + 86400)}

    store.claim_request("#broadcast#req-2", NOW, 300)
    store.release_request("#broadcast#req-2")
    assert store.claim_request("#broadcast#req-2", NOW + 1, 300) is Claim.CLAIMED
    store.release_request(key)  # completed requests are never released
    assert store.claim_request(key, NOW + 10_001, 300) is Claim.COMPLETED


def test_announcement_slot(aws, store):
    assert store.try_announce("a-1", NOW, 60) is True
    assert store.try_announce("a-2", NOW + 59, 60) is False
    assert store.try_announce("a-1", NOW + 59, 60) is True  # redelivery of the holder
    assert store.try_announce("a-3", NOW + 120, 60) is True
    assert item(aws, "#announcement")["lastAt"] == {"N": str(NOW + 120)}
    assert "userId" not in item(aws, "#announcement") and "expiryBucket" not in item(aws, "#announcement")


class SmallPages:
    """Forces two items per query/scan page so that every pagination loop is exercised."""

    def __init__(self, client):
        self._client = client
        self.pages = 0

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name not in ("query", "scan"):
            return attribute

        def call(**kwargs):
            self.pages += 1
            return attribute(**{**kwargs, "Limit": 2})

        return call


def test_every_read_follows_pagination(aws):
    paged = SmallPages(aws.dynamodb)
    store = DynamoConnectionStore(paged, aws.table)
    minute = NOW // 60
    for index in range(7):
        add(store, f"c{index}", user="alice", expires=minute * 60 + index)

    assert sorted(store.connections_of_users(["alice"])) == [f"c{index}" for index in range(7)]
    assert store.count_connections() == 7
    assert len(store.expiring(f"exp#{minute}", until=minute * 60 + 59)) == 7
    with pytest.raises(UserLimitReached):
        add(store, "c8", user="alice", per_user=6)  # counted from the membership item: no query
    assert paged.pages == 3 * 4  # three reads of 7 items, 2 per page
