"""The third-party AWS event captures in ``../shared/aws-events/`` (read there, never copied here)
and the rule every event this repository builds or feeds its handlers must follow: the same keys
and value types as the real captures of its kind.

The folder's README says which files are real captures, which the documented example, and which
synthetic; :data:`CATALOGUE` files each one accordingly, and a file it does not know fails the
tests (so a new capture is looked at, not ignored).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = (REPO_ROOT.parent / "shared" / "aws-events", Path("/work/shared/aws-events"))


def aws_events_dir() -> Path:
    """``<repo root>/../shared/aws-events``, else ``/work/shared/aws-events``; neither fails (never skips)."""
    for candidate in CANDIDATES:
        if candidate.is_dir():
            return candidate
    pytest.fail(f"the AWS event captures are missing: expected the folder {CANDIDATES[0]} "
                f"(or {CANDIDATES[1]}); CI has it beside the clone")


@dataclass(frozen=True)
class Entry:
    kind: str
    #: ``reference``: a real capture or AWS's documented example, the shape to match;
    #: ``tolerated``: synthetic, a handler must accept it but nothing may rely on its quirks;
    #: ``foreign``: another API's event (REST/TOKEN authorizer), which must be refused cleanly.
    role: str


CATALOGUE: dict[str, Entry] = {
    "powertools-python--apiGatewayWebSocketApiConnect.json": Entry("connect", "reference"),
    "aws-lambda-dotnet--websocket-api-connect-request.json": Entry("connect", "reference"),
    "aws-lambda-rust-runtime--example-apigw-websocket-request-without-method.json": Entry("connect", "reference"),
    "aws-lambda-go--apigw-websocket-request.json": Entry("connect", "tolerated"),
    "aws-lambda-java-libs--apigw_websocket_event.json": Entry("connect", "tolerated"),
    "aws-lambda-go--apigw-websocket-request-send-message.json": Entry("message", "reference"),
    "powertools-python--apiGatewayWebSocketApiMessage.json": Entry("message", "reference"),
    "aws-lambda-dotnet--values-post-withbody-websocketapi-request.json": Entry("message", "tolerated"),
    "aws-lambda-go--apigw-websocket-request-disconnect.json": Entry("disconnect", "reference"),
    "powertools-python--apiGatewayWebSocketApiDisconnect.json": Entry("disconnect", "reference"),
    "aws-lambda-rust-runtime--example-apigw-websocket-request-disconnect-route.json": Entry("disconnect", "reference"),
    "powertools-python--apiGatewayAuthorizerWebSocketEvent.json": Entry("authorizer", "reference"),
    "documented-authorizer-event.json": Entry("authorizer", "reference"),
    "aws-lambda-rust-runtime--example-apigw-v2-custom-authorizer-websocket-request.json": Entry("authorizer", "tolerated"),
    "aws-lambda-go--apigw-custom-auth-request-type-request.json": Entry("authorizer", "foreign"),
    "aws-lambda-go--apigw-custom-auth-request.json": Entry("authorizer", "foreign"),
    "powertools-python--apiGatewayAuthorizerRequestEvent.json": Entry("authorizer", "foreign"),
    "aws-lambda-go--sqs-event.json": Entry("sqs", "reference"),
    "powertools-python--sqsEvent.json": Entry("sqs", "reference"),
    "aws-lambda-rust-runtime--example-eventbridge-schedule.json": Entry("schedule-rule", "reference"),
    "powertools-python--eventBridgeSchedulerEvent.json": Entry("schedule-scheduler", "reference"),
    "powertools-python--eventBridgeEvent.json": Entry("schedule-rule", "tolerated"),
}


@cache
def _load(name: str) -> str:
    return (aws_events_dir() / name).read_text(encoding="utf-8-sig")  # two .NET files start with a BOM


def load(name: str) -> dict[str, Any]:
    """A fresh copy of one capture (callers may change it)."""
    return copy.deepcopy(json.loads(_load(name)))


def names(kind: str, *roles: str) -> list[str]:
    return [name for name, entry in CATALOGUE.items() if entry.kind == kind and entry.role in roles]


# --------------------------------------------------------------------------------------------
# shapes: key path -> JSON types

#: Maps whose keys are data (header names, query parameters): only the map itself is shape.
DATA_MAPS = frozenset({"headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
                       "stageVariables"})
#: Maps whose keys vary but whose values have a shape: their entries are compared as ``*``.
ENTRY_MAPS = frozenset({"messageAttributes", "authorizer"})
#: Present only under a condition the captures at hand do not meet, each documented: the
#: authorizer map (every route once $connect has an authorizer: "WebSocket API mapping template
#: reference"; the captures come from APIs without one), the query maps (only when the URL has a
#: query string: AWS's documented authorizer input has them, the CONNECT captures had none), and
#: identity.userAgent (only when the client sent User-Agent: the Chrome captures have it).
CONDITIONAL = {
    "connect": ("requestContext.authorizer", "requestContext.authorizer.*", "queryStringParameters",
                "multiValueQueryStringParameters", "requestContext.identity.userAgent"),
    "message": ("requestContext.authorizer", "requestContext.authorizer.*", "requestContext.identity.userAgent"),
    "disconnect": ("requestContext.authorizer", "requestContext.authorizer.*", "requestContext.identity.userAgent"),
    "authorizer": ("requestContext.identity.userAgent",),
}
#: The documented type of what has no capture: every authorizer value is "the stringified value".
DOCUMENTED_TYPES = {"requestContext.authorizer": {"object"}, "requestContext.authorizer.*": {"string"},
                    "requestContext.identity.userAgent": {"string"}}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape(value: Any, path: str = "") -> dict[str, set[str]]:
    found: dict[str, set[str]] = {path: {json_type(value)}} if path else {}
    last = path.rsplit(".", 1)[-1].removesuffix("[]")

    def merge(more: dict[str, set[str]]) -> None:
        for key, types in more.items():
            found.setdefault(key, set()).update(types)

    if isinstance(value, dict) and last not in DATA_MAPS:
        for key, item in value.items():
            merge(shape(item, f"{path}.*" if last in ENTRY_MAPS else f"{path}.{key}" if path else key))
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for item in value:
            merge(shape(item, f"{path}[]"))
    return found


def differences(event: dict[str, Any], kind: str) -> list[str]:
    """What ``event`` has that no reference of ``kind`` has (or types differently), and what every
    reference has that ``event`` lacks. Empty when the event conforms."""
    references = [shape(load(name)) for name in names(kind, "reference")]
    assert references, f"no reference capture of kind {kind!r}"
    conditional = CONDITIONAL.get(kind, ())
    ours = shape(event)
    problems = []
    for path, types in sorted(ours.items()):
        holders = [ref[path] for ref in references if path in ref]
        if not holders and path not in conditional:
            problems.append(f"{path}: no real {kind} event has it")
        expected = set.union(*holders) if holders else DOCUMENTED_TYPES.get(path, types)
        if not types <= expected:
            problems.append(f"{path}: {'/'.join(sorted(types))}, real {kind} events: {'/'.join(sorted(expected))}")
    # Entries of a map (``.*``) depend on the data (an SQS message may carry no attributes).
    everywhere = {path for path in set.intersection(*(set(ref) for ref in references)) if ".*" not in path}
    problems += [f"{path}: every real {kind} event has it" for path in sorted(everywhere - set(ours))]
    return problems
