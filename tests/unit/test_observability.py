"""Logs are one JSON object per line with the request id; metrics are one valid EMF document per
invocation, flushed even when the handler raises."""

from __future__ import annotations

import io
import json

import pytest
from realtime.observability import Logger, Metrics, instrumented


class Context:
    aws_request_id = "req-123"


def test_emf_document_shape_counts_and_gauges():
    stream = io.StringIO()
    metrics = Metrics("Realtime/dev", stream)
    metrics.count("BroadcastSent", 3)
    metrics.count("BroadcastSent", 2)
    metrics.gauge("ActiveConnections", 10)
    metrics.gauge("ActiveConnections", 7)

    document = metrics.flush()

    assert json.loads(stream.getvalue()) == document
    directive = document["_aws"]["CloudWatchMetrics"]
    assert directive == [{"Namespace": "Realtime/dev", "Dimensions": [[]], "Metrics": [
        {"Name": "ActiveConnections", "Unit": "Count"}, {"Name": "BroadcastSent", "Unit": "Count"}]}]
    assert (document["BroadcastSent"], document["ActiveConnections"]) == (5, 7)
    assert isinstance(document["_aws"]["Timestamp"], int)
    assert metrics.flush() is None  # nothing new, nothing written
    assert len(stream.getvalue().splitlines()) == 1


def test_logger_writes_json_lines_with_request_id_and_respects_the_level():
    stream = io.StringIO()
    logger = Logger("realtime-dev-connect", "INFO", stream)
    logger.request_id = "req-1"

    logger.debug("hidden")
    logger.info("connected", connectionId="c1", userId="u1")

    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "service", "requestId", "message", "connectionId", "userId")} == {
        "level": "INFO", "service": "realtime-dev-connect", "requestId": "req-1", "message": "connected",
        "connectionId": "c1", "userId": "u1"}


def test_instrumented_binds_the_request_id_and_flushes_on_failure():
    stream = io.StringIO()
    logger, metrics = Logger("fn", "INFO", stream), Metrics("ns", stream)

    @instrumented(logger, metrics)
    def handler(event, context):
        metrics.count("ConnectionsRefused")
        logger.info("working")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler({}, Context())

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("message") for line in lines[:2]] == ["working", "invocation failed"]
    assert all(line["requestId"] == "req-123" for line in lines[:2])
    assert lines[2]["ConnectionsRefused"] == 1
