"""$default: every client frame gets exactly one answer (pong or error); the connection stays open
unless it keeps abusing the rate limit or its token has expired."""

from __future__ import annotations

from dataclasses import dataclass

from realtime.errors import DomainError, StaleConnection
from realtime.messages import (
    ErrorCode,
    MessageRejected,
    encode,
    error_message,
    parse_client_message,
    pong_message,
)
from realtime.observability import Logger, Metrics
from realtime.ports import Clock, ConnectionStore, Notifier

_METRIC_OF_CODE = {
    ErrorCode.INVALID_MESSAGE: "InvalidMessages",
    ErrorCode.UNSUPPORTED_VERSION: "InvalidMessages",
    ErrorCode.MESSAGE_TOO_LARGE: "InvalidMessages",
    ErrorCode.RATE_LIMITED: "RateLimited",
    ErrorCode.TOKEN_EXPIRED: "TokensExpired",
    ErrorCode.INTERNAL_ERROR: None,  # logged at ERROR; the function's error rate is the signal
}


@dataclass(frozen=True)
class Reply:
    payload: bytes
    code: ErrorCode | None
    closed: bool = False


class ClientMessageService:
    def __init__(self, store: ConnectionStore, notifier: Notifier, clock: Clock, logger: Logger, metrics: Metrics,
                 *, max_message_bytes: int, rate_limit_per_minute: int, max_rate_violations: int):
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.max_message_bytes = max_message_bytes
        self.rate_limit = rate_limit_per_minute
        self.max_violations = max_rate_violations

    def handle(self, connection_id: str, body: str | None, is_base64: bool, request_id: str) -> Reply:
        self.metrics.count("MessagesReceived")
        try:
            reply = self._answer(connection_id, body, is_base64, request_id)
        except Exception as error:  # noqa: BLE001 - the client always gets an answer, never a dropped frame
            self.logger.error("message handling failed", connectionId=connection_id, errorType=type(error).__name__)
            reply = Reply(encode(error_message(ErrorCode.INTERNAL_ERROR, "internal error", self.clock.now(),
                                               request_id)), ErrorCode.INTERNAL_ERROR)
        if reply.code is not None:
            if _METRIC_OF_CODE[reply.code]:
                self.metrics.count(_METRIC_OF_CODE[reply.code])
            self.logger.info("message rejected", connectionId=connection_id, code=reply.code.value)
        self._deliver(connection_id, reply)
        return reply

    def _error(self, code: ErrorCode, message: str, request_id: str, closed: bool = False) -> Reply:
        return Reply(encode(error_message(code, message, self.clock.now(), request_id)), code, closed)

    def _answer(self, connection_id: str, body: str | None, is_base64: bool, request_id: str) -> Reply:
        now = self.clock.now()
        window = self.store.count_message(connection_id, int(now // 60))
        if window is not None:
            if window.token_expires_at < now:
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
        try:
            ping = parse_client_message(body or "")
        except MessageRejected as rejected:
            return self._error(rejected.code, rejected.message, request_id)
        return Reply(encode(pong_message(ping, now)), None)

    def _deliver(self, connection_id: str, reply: Reply) -> None:
        try:
            self.notifier.send(connection_id, reply.payload)
            if reply.closed:
                self.logger.warning("closing connection", connectionId=connection_id, code=reply.code.value)
                self.notifier.close(connection_id)
        except StaleConnection:
            self.logger.info("client gone before the reply", connectionId=connection_id)
        except DomainError as error:
            self.logger.warning("reply not delivered", connectionId=connection_id, errorType=type(error).__name__)
