"""$default: every client frame gets exactly one answer; the connection stays open unless it keeps
abusing the rate limit or its token has expired.

``ping`` → ``pong`` (2.0: with the heads); ``resume`` → the replayed notifications, then ``resumed``
(ADR 0018), or ``INTERNAL_ERROR`` when a replayed frame could not be posted (never a ``resumed`` that
claims what was not sent); ``refresh`` → ``refreshed`` or ``TOKEN_INVALID`` (the token is verified with
the authorizer's rules and must be the connection's own user's); ``history`` → its page as one or more
``history`` frames; ``read``/``read.all`` → ``read.state``, also pushed (without id) to the user's other
connections (ADR 0020); anything else → an ``error`` frame.
Every frame counts against the rate limit; a frame on a connection whose row is gone gets
``CONNECTION_UNKNOWN`` and the connection is closed (it would otherwise get pongs but no broadcast).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from realtime.errors import DomainError, StaleConnection, Throttled
from realtime.messages import (
    VERSION,
    VERSION_2,
    ClientFrame,
    ErrorCode,
    HistoryRequest,
    MessageRejected,
    ReadAllMessage,
    ReadMessage,
    RefreshMessage,
    ResumeMessage,
    encode,
    error_message,
    parse_client_message,
    pong_message,
    refreshed_message,
    resumed_message,
)
from realtime.observability import Logger, Metrics
from realtime.ports import Clock, ConnectionStore, MessageWindow, Notifier
from realtime.services.inbox import InboxRefused, InboxService
from realtime.services.replay import HeadReader, ReplayPlanner

_METRIC_OF_CODE = {
    ErrorCode.INVALID_MESSAGE: "InvalidMessages",
    ErrorCode.UNSUPPORTED_VERSION: "InvalidMessages",
    ErrorCode.MESSAGE_TOO_LARGE: "InvalidMessages",
    ErrorCode.RATE_LIMITED: "RateLimited",
    ErrorCode.TOKEN_EXPIRED: "TokensExpired",
    ErrorCode.TOKEN_INVALID: "TokenRefreshesRejected",
    ErrorCode.CONNECTION_UNKNOWN: "ConnectionsUnknown",
    ErrorCode.NOT_FOUND: "InboxNotFound",
    ErrorCode.BUDGET_EXCEEDED: "InboxBudgetExceeded",
    ErrorCode.INTERNAL_ERROR: None,  # logged at ERROR; the function's error rate is the signal
}


#: A replayed frame that is throttled is retried this often (then the resume is answered INTERNAL_ERROR).
REPLAY_POST_ATTEMPTS = 3


@dataclass(frozen=True)
class Reply:
    #: The answer frame (sent last).
    payload: bytes
    code: ErrorCode | None
    closed: bool = False
    #: Notification frames sent before the answer (a resume's replay).
    replayed: tuple[bytes, ...] = ()
    #: A resume's answer depends on how many replayed frames were delivered: builds it from that count.
    conclude: Callable[[int], Reply] | None = None
    #: Sent after the answer to each of these connections (the user's other tabs: ``read.state``).
    push_to: tuple[str, ...] = ()
    push: bytes = b""


class TokenVerifierPort:
    """What ``refresh`` needs of ``realtime.auth.TokenVerifier`` (imported lazily: jose costs cold start)."""

    def verify(self, token: str) -> Any: ...


class ClientMessageService:
    def __init__(self, store: ConnectionStore, notifier: Notifier, clock: Clock, logger: Logger, metrics: Metrics,
                 *, max_message_bytes: int, rate_limit_per_minute: int, max_rate_violations: int,
                 replay: ReplayPlanner | None = None, heads: HeadReader | None = None,
                 inbox: InboxService | None = None, monotonic: Callable[[], float] = time.monotonic,
                 verifier: Callable[[], TokenVerifierPort] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.max_message_bytes = max_message_bytes
        self.rate_limit = rate_limit_per_minute
        self.max_violations = max_rate_violations
        self.replay = replay
        self.heads = heads
        self.inbox = inbox
        self.monotonic = monotonic
        self.verifier = verifier
        self.sleep = sleep

    def handle(self, connection_id: str, body: str | None, is_base64: bool, request_id: str) -> Reply:
        self.metrics.count("MessagesReceived")
        try:
            reply = self._answer(connection_id, body, is_base64, request_id)
        except Exception as error:  # noqa: BLE001 - the client always gets an answer, never a dropped frame
            self.logger.error("message handling failed", connectionId=connection_id, errorType=type(error).__name__)
            reply = self._error(ErrorCode.INTERNAL_ERROR, "internal error", request_id)
        if reply.code is not None:
            if _METRIC_OF_CODE[reply.code]:
                self.metrics.count(_METRIC_OF_CODE[reply.code])
            self.logger.info("message rejected", connectionId=connection_id, code=reply.code.value)
        return self._deliver(connection_id, reply)

    def _error(self, code: ErrorCode, message: str, request_id: str, closed: bool = False,
               version: str = VERSION) -> Reply:
        return Reply(encode(error_message(code, message, self.clock.now(), request_id, version)), code, closed)

    def _answer(self, connection_id: str, body: str | None, is_base64: bool, request_id: str) -> Reply:
        now = self.clock.now()
        window = self.store.count_message(connection_id, int(now // 60))
        parsed: ClientFrame | MessageRejected | None = None
        if window is None:
            # The row is gone (TTL, sweeper, a restored emulator): no broadcast can find this connection.
            return self._error(ErrorCode.CONNECTION_UNKNOWN, "connection unknown; reconnect and resume",
                               request_id, closed=True)
        if window.token_expires_at < now:
            # A refresh is the one frame that can rescue a connection whose token just ran out.
            parsed = None if is_base64 else self._parse(body)
            if not isinstance(parsed, RefreshMessage):
                return self._error(ErrorCode.TOKEN_EXPIRED, "token expired; reconnect with a fresh token",
                                   request_id, closed=True)
        if window.count > self.rate_limit:
            violations = window.violations
            if window.count == self.rate_limit + 1:  # first excess message of this minute
                violations = self.store.add_rate_violation(connection_id)
            closing = violations >= self.max_violations
            return self._error(ErrorCode.RATE_LIMITED, f"more than {self.rate_limit} messages per minute",
                               request_id, closed=closing)
        if body is not None and len(body.encode("utf-8", "surrogatepass")) > self.max_message_bytes:
            return self._error(ErrorCode.MESSAGE_TOO_LARGE, f"message larger than {self.max_message_bytes} bytes",
                               request_id)
        if is_base64:
            return self._error(ErrorCode.INVALID_MESSAGE, "binary frames are not supported; send JSON text",
                               request_id)
        message = parsed if parsed is not None else self._parse(body)
        if isinstance(message, MessageRejected):
            return self._error(message.code, message.message, request_id, version=message.version)
        if isinstance(message, ResumeMessage):
            return self._resume(connection_id, window, message, now, request_id)
        if isinstance(message, RefreshMessage):
            return self._refresh(connection_id, window, message, now, request_id)
        if isinstance(message, HistoryRequest | ReadMessage | ReadAllMessage):
            return self._inbox(connection_id, window, message, now, request_id)
        if message.version == VERSION_2:
            if self.heads is None or not window.user_id:
                return self._error(ErrorCode.INTERNAL_ERROR, "heads are not available", request_id,
                                   version=message.version)
            return Reply(encode(pong_message(message, now, self.heads.for_pong(window.user_id, now))), None)
        return Reply(encode(pong_message(message, now)), None)

    @staticmethod
    def _parse(body: str | None) -> ClientFrame | MessageRejected:
        try:
            return parse_client_message(body or "")
        except MessageRejected as rejected:
            return rejected

    # -- resume -----------------------------------------------------------------------------------
    def _resume(self, connection_id: str, window: MessageWindow, message: ResumeMessage, now: float,
                request_id: str) -> Reply:
        self.metrics.count("Resumes")
        if not window.user_id or self.replay is None:
            return self._error(ErrorCode.INTERNAL_ERROR, "resume is not available", request_id,
                               version=message.version)
        plan = self.replay.plan(window.user_id, message.data.positions, now)
        self.logger.info("resume", connectionId=connection_id, userId=window.user_id, recovered=plan.recovered,
                         reason=plan.reason, failedStreams=plan.failed or None, replaying=len(plan.frames))
        if plan.reason == "budget":
            self.metrics.count("ResumeBudgetExceeded")

        def conclude(sent: int) -> Reply:
            self.metrics.count("NotificationsReplayed", sent)
            if sent < len(plan.frames):
                # Never claim what was not sent: the client resumes again from the same positions.
                self.logger.error("replay interrupted: no resumed", connectionId=connection_id, sent=sent,
                                  planned=len(plan.frames))
                return self._error(ErrorCode.INTERNAL_ERROR, "replay interrupted; resume again", request_id,
                                   version=message.version)
            if not plan.recovered:
                self.metrics.count("ResumesNotRecovered")
            return Reply(encode(resumed_message(message, recovered=plan.recovered, replayed=sent, heads=plan.heads,
                                                reason=plan.reason)), None)

        return Reply(b"", None, replayed=tuple(frame.encode() for frame in plan.frames), conclude=conclude)

    # -- inbox ------------------------------------------------------------------------------------
    def _inbox(self, connection_id: str, window: MessageWindow, message: HistoryRequest | ReadMessage | ReadAllMessage,
               now: float, request_id: str) -> Reply:
        if not window.user_id or self.inbox is None:
            return self._error(ErrorCode.INTERNAL_ERROR, "the inbox is not available", request_id,
                               version=message.version)
        started = self.monotonic()
        try:
            if isinstance(message, HistoryRequest):
                return self._history(connection_id, window.user_id, message, now, request_id, started)
            if isinstance(message, ReadMessage):
                state = self.inbox.mark(window.user_id, message, now)
            else:
                state = self.inbox.mark_all(window.user_id, message, now)
        except InboxRefused as refused:
            return self._error(refused.code, refused.message, request_id, version=message.version)
        self.metrics.count("ReadMarks")
        others = tuple(cid for cid in self.store.connections_of_users([window.user_id]) if cid != connection_id)
        self.metrics.count("ReadStatePushes", len(others))
        self.logger.info("read state changed", connectionId=connection_id, userId=window.user_id,
                         unread=state.data.unread, pushedTo=len(others))
        pushed = encode(state.model_copy(update={"id": None}))
        return Reply(encode(state), None, push_to=others, push=pushed)

    def _history(self, connection_id: str, user_id: str, message: HistoryRequest, now: float, request_id: str,
                 started: float) -> Reply:
        self.metrics.count("HistoryRequests")
        answer = self.inbox.history(user_id, message, now)
        self.metrics.count("HistoryItemsRead", answer.entries_read)
        self.metrics.gauge("HistoryLatency", (self.monotonic() - started) * 1000, "Milliseconds")
        self.logger.info("history", connectionId=connection_id, userId=user_id, items=answer.items,
                         parts=len(answer.frames))

        def conclude(sent: int) -> Reply:
            if sent < len(answer.frames) - 1:
                return self._error(ErrorCode.INTERNAL_ERROR, "history interrupted; ask again", request_id,
                                   version=message.version)
            return Reply(answer.frames[-1], None)

        return Reply(b"", None, replayed=answer.frames[:-1], conclude=conclude)

    # -- refresh ----------------------------------------------------------------------------------
    def _refresh(self, connection_id: str, window: MessageWindow, message: RefreshMessage, now: float,
                 request_id: str) -> Reply:
        def rejected(reason: str) -> Reply:
            self.logger.warning("token refresh rejected", connectionId=connection_id, reason=reason)
            return self._error(ErrorCode.TOKEN_INVALID, f"token refresh rejected: {reason}", request_id,
                               version=message.version)

        if not window.user_id:
            return rejected("connection is not registered")
        if self.verifier is None:
            return rejected("token refresh is not configured")
        try:
            verified = self.verifier().verify(message.data.token)
        except Exception as error:  # noqa: BLE001 - every verification failure rejects (as the authorizer's 401)
            return rejected(getattr(error, "reason", None) or f"verification error {type(error).__name__}")
        if verified.user_id != window.user_id:
            return rejected("token belongs to another user")
        if verified.expires_at <= now:
            return rejected("token expired")
        if not self.store.refresh_token(connection_id, window.user_id, verified.expires_at):
            return rejected("connection is not registered")
        self.metrics.count("TokenRefreshes")
        self.logger.info("token refreshed", connectionId=connection_id, userId=window.user_id,
                         tokenExpiresAt=verified.expires_at)
        return Reply(encode(refreshed_message(message, verified.expires_at)), None)

    # -- delivery ---------------------------------------------------------------------------------
    def _deliver(self, connection_id: str, reply: Reply) -> Reply:
        sent = 0
        try:
            for frame in reply.replayed:
                if not self._send_replayed(connection_id, frame):
                    break
                sent += 1
            if reply.conclude is not None:
                reply = replace(reply.conclude(sent), replayed=reply.replayed)
                if reply.code is not None:
                    self.logger.info("message rejected", connectionId=connection_id, code=reply.code.value)
            self.notifier.send(connection_id, reply.payload)
            self._push(reply)
            if reply.closed:
                self.logger.warning("closing connection", connectionId=connection_id, code=reply.code.value)
                self.notifier.close(connection_id)
        except StaleConnection:
            self.logger.info("client gone before the reply", connectionId=connection_id)
        except DomainError as error:
            self.logger.warning("reply not delivered", connectionId=connection_id, errorType=type(error).__name__)
        return reply

    def _push(self, reply: Reply) -> None:
        """Best effort: a tab that misses a push gets the state from its next history or read frame."""
        for other in reply.push_to:
            try:
                self.notifier.send(other, reply.push)
            except DomainError as error:
                self.logger.info("read state not pushed", connectionId=other, errorType=type(error).__name__)

    def _send_replayed(self, connection_id: str, frame: bytes) -> bool:
        """False when the frame could not be delivered (the resume then answers recovered: false)."""
        for attempt in range(REPLAY_POST_ATTEMPTS):
            try:
                self.notifier.send(connection_id, frame)
                return True
            except Throttled:
                if attempt < REPLAY_POST_ATTEMPTS - 1:
                    self.sleep(0.05 * 2 ** attempt)
            except StaleConnection:
                raise
            except DomainError as error:
                self.logger.warning("replay interrupted", connectionId=connection_id, errorType=type(error).__name__)
                return False
        self.logger.warning("replay interrupted", connectionId=connection_id, errorType="Throttled")
        return False
