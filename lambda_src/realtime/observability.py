"""Structured JSON logs and CloudWatch EMF metrics, written to stdout (ADR 0012).

Our own ~100 lines instead of Powertools: same log/EMF shape, no extra import cost in the
authorizer's cold start. Nothing here may log a token, a query string or a whole event: callers pass
explicit, named fields only.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class Logger:
    """One JSON object per line: timestamp, level, service, requestId, message, fields."""

    def __init__(self, service: str, level: str = "INFO", stream: TextIO | None = None):
        self.service = service
        self.threshold = _LEVELS.get(level.upper(), 20)
        self._stream = stream
        self.request_id: str | None = None
        self._lock = threading.Lock()

    def _emit(self, level: str, message: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.threshold:
            return
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "level": level,
            "service": self.service,
            "requestId": self.request_id,
            "message": message,
            **fields,
        }
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            stream = self._stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()

    def debug(self, message: str, **fields: Any) -> None:
        self._emit("DEBUG", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("INFO", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("WARNING", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("ERROR", message, fields)


class Metrics:
    """Collects metrics during one invocation and flushes them as one EMF document.

    Counts are summed; gauges keep the last value. No dimensions (docs/contracts.md): the
    namespace already carries the environment.
    """

    def __init__(self, namespace: str, stream: TextIO | None = None):
        self.namespace = namespace
        self._stream = stream
        self._values: dict[str, float] = {}
        self._units: dict[str, str] = {}
        self._lock = threading.Lock()

    def count(self, name: str, value: float = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + value
            self._units[name] = "Count"

    def gauge(self, name: str, value: float, unit: str = "Count") -> None:
        with self._lock:
            self._values[name] = value
            self._units[name] = unit

    def flush(self) -> dict[str, Any] | None:
        with self._lock:
            values, units = self._values, self._units
            self._values, self._units = {}, {}
        if not values:
            return None
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[]],
                    "Metrics": [{"Name": name, "Unit": units[name]} for name in sorted(values)],
                }],
            },
            **values,
        }
        stream = self._stream or sys.stdout
        stream.write(json.dumps(document, separators=(",", ":")) + "\n")
        stream.flush()
        return document


def instrumented(logger: Logger, metrics: Metrics) -> Callable:
    """Handler decorator: binds the invocation's request id to the logs, always flushes metrics."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            logger.request_id = getattr(context, "aws_request_id", None)
            try:
                return handler(event, context)
            except Exception as error:
                # Errors that are the documented response (the authorizer's 401) are not failures.
                if not getattr(error, "is_response", False):
                    logger.error("invocation failed", errorType=type(error).__name__)
                raise
            finally:
                metrics.flush()

        return wrapper

    return decorate


def telemetry(common: Any) -> tuple[Logger, Metrics]:
    """The logger and metrics of one function (from its ``realtime.config.CommonConfig``), built once at init."""
    return Logger(common.function_name, common.log_level), Metrics(common.metrics_namespace)
