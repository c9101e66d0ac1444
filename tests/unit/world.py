"""One user-facing backend on the in-memory adapters: the broadcast service, the default function's
message service and the sweeper over one store, one notification log and one @connections fake, with
the seams the hazard tests of ADR 0016 need (a clock, index lag, connections still inside $connect)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from realtime.adapters.memory import (
    FakeClock,
    InMemoryConnectionStore,
    InMemoryNotificationLog,
    InMemoryQueue,
    InMemoryReadStateStore,
    RecordingNotifier,
)
from realtime.auth import JwksCache, TokenVerifier
from realtime.config import TokenRules
from realtime.messages import BroadcastRequest
from realtime.ports import Connection
from realtime.services.broadcast import BroadcastService
from realtime.services.client_messages import ClientMessageService
from realtime.services.fan_out import FanOut
from realtime.services.inbox import InboxService
from realtime.services.replay import HeadReader, ReplayPlanner
from realtime.services.sweeper import SweeperService

from tests.unit.tokens import CLIENT_ID, ISSUER, jwks

RETENTION_SECONDS = 86_400
TOKEN_RULES = TokenRules(issuer=ISSUER, jwks_url="https://jwks.invalid/keys", client_ids=frozenset({CLIENT_ID}),
                         token_use="id", max_token_age_seconds=86_400, jwks_cache_ttl_seconds=3600)


def request(target: dict[str, Any], request_id: str, kind: str | None = None, **extra: Any) -> BroadcastRequest:
    kind = kind or ("system.announcement" if "all" in target else "moc.finalized")
    return BroadcastRequest.model_validate({"id": request_id, "target": target, **extra,
                                            "notification": {"kind": kind, "title": request_id}})


def plenty() -> int:
    return 900_000


@dataclass
class World:
    clock: FakeClock
    telemetry: Any
    page_size: int = 100
    scan_segments: int = 1
    max_notifications: int = 100
    budget_items: int = 2500
    store: InMemoryConnectionStore = field(init=False)
    log: InMemoryNotificationLog = field(init=False)
    notifier: RecordingNotifier = field(init=False)
    queue: InMemoryQueue = field(init=False)
    read_state: InMemoryReadStateStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = InMemoryConnectionStore(page_size=self.page_size)
        self.log = InMemoryNotificationLog()
        self.read_state = InMemoryReadStateStore()
        self.log.read_state = self.read_state
        self.notifier = RecordingNotifier()
        self.queue = InMemoryQueue()
        logger, metrics = self.telemetry.logger, self.telemetry.metrics
        fan_out = FanOut(self.notifier, self.store, concurrency=4, sleep=lambda _s: None, clock=self.clock.now)
        self.broadcast = BroadcastService(self.store, fan_out, self.queue, self.clock, logger, metrics,
                                          scan_segments=self.scan_segments, announcement_interval_seconds=0,
                                          log=self.log, retention_seconds=RETENTION_SECONDS)
        verifier = TokenVerifier(TOKEN_RULES, JwksCache(TOKEN_RULES.jwks_url, 3600, clock=self.clock.now,
                                                        fetch=lambda _url: jwks("key-1")), clock=self.clock.now)
        self.messages = ClientMessageService(
            self.store, self.notifier, self.clock, logger, metrics, max_message_bytes=131072,
            rate_limit_per_minute=60, max_rate_violations=3,
            replay=ReplayPlanner(self.log, self.store, max_notifications=self.max_notifications,
                                 budget_items=self.budget_items, budget_window_seconds=600),
            heads=HeadReader(self.log),
            inbox=InboxService(self.log, self.read_state, self.store, retention_seconds=RETENTION_SECONDS,
                               budget_items=self.budget_items, budget_window_seconds=600),
            verifier=lambda: verifier, sleep=lambda _s: None)
        self.sweeper = SweeperService(self.store, self.notifier, self.clock, logger, metrics, global_limit=10_000)

    # -- connections ---------------------------------------------------------------------------
    def register(self, connection_id: str, user: str, token_lifetime: int = 3600) -> None:
        """``$connect`` ran: the row exists, but API Gateway answers 410 until the connection opens."""
        now = int(self.clock.now())
        self.store.add(Connection(connection_id, user, now, now + token_lifetime), global_limit=10_000,
                       per_user_limit=10)
        self.notifier.opening.add(connection_id)

    def open(self, connection_id: str) -> None:
        self.notifier.opening.discard(connection_id)

    def connect(self, connection_id: str, user: str, token_lifetime: int = 3600) -> None:
        self.register(connection_id, user, token_lifetime)
        self.open(connection_id)

    def lose(self, connection_id: str) -> None:
        """The network dropped it: posts answer 410 (``$disconnect`` comes later, or never)."""
        self.notifier.gone.add(connection_id)

    # -- traffic -------------------------------------------------------------------------------
    def send(self, target: dict[str, Any], request_id: str, **extra: Any):
        return self.broadcast.process(request(target, request_id, **extra), plenty)

    def client_frame(self, connection_id: str, frame: dict[str, Any]):
        return self.messages.handle(connection_id, json.dumps(frame), False, "req")

    def resume(self, connection_id: str, positions: dict[str, Any]) -> dict[str, Any]:
        """The ``resumed`` frame's data; the replayed notifications land in :meth:`frames` like live ones."""
        self.client_frame(connection_id, {"type": "resume", "version": "2.0", "id": "r1",
                                          "data": {"positions": positions}})
        resumed = [f for f in self.frames(connection_id) if f["type"] == "resumed"]
        return resumed[-1]["data"]

    def frames(self, connection_id: str) -> list[dict[str, Any]]:
        return [json.loads(payload) for payload in self.notifier.messages(connection_id)]

    def notifications(self, connection_id: str) -> list[dict[str, Any]]:
        return [f for f in self.frames(connection_id) if f["type"] == "notification"]

    def ids(self, connection_id: str) -> list[str]:
        return [f["id"] for f in self.notifications(connection_id)]

    def position(self, connection_id: str, stream: str = "user") -> dict[str, Any]:
        """The client's position: the highest offset of ``stream`` below which it has every offset."""
        seen = {(f["data"]["epoch"], f["data"]["offset"]) for f in self.notifications(connection_id)
                if f["data"]["stream"] == stream}
        if not seen:
            return {"epoch": None, "offset": 0}
        epoch = max(seen, key=lambda pair: pair[1])[0]
        offset = 0
        while (epoch, offset + 1) in seen:
            offset += 1
        return {"epoch": epoch if offset else None, "offset": offset}

    def stream_offsets(self, connection_id: str, stream: str = "user") -> list[int]:
        return [f["data"]["offset"] for f in self.notifications(connection_id) if f["data"]["stream"] == stream]
