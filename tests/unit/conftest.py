from __future__ import annotations

import io
import json

import pytest
from realtime.adapters.memory import FakeClock, InMemoryConnectionStore, InMemoryQueue, RecordingNotifier
from realtime.observability import Logger, Metrics

from tests.unit.tokens import NOW


class Telemetry:
    """Logger and metrics writing to buffers the test reads back."""

    def __init__(self) -> None:
        self.log_stream = io.StringIO()
        self.metric_stream = io.StringIO()
        self.logger = Logger("realtime-test", "DEBUG", self.log_stream)
        self.metrics = Metrics("Realtime/test", self.metric_stream)

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines()]

    def metric_values(self) -> dict[str, float]:
        self.metrics.flush()
        values: dict[str, float] = {}
        for line in self.metric_stream.getvalue().splitlines():
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values[definition["Name"]] = values.get(definition["Name"], 0) + document[definition["Name"]]
        return values


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(float(NOW))


@pytest.fixture
def store() -> InMemoryConnectionStore:
    return InMemoryConnectionStore(page_size=3)


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def queue() -> InMemoryQueue:
    return InMemoryQueue()
