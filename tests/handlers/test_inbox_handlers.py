"""The inbox (ADR 0020) through the handlers as Lambda runs them, against moto: broadcast stores, default
answers ``history`` and ``read.all`` and pushes ``read.state`` to the user's other connection; the EMF
document carries the history metrics the dashboard graphs."""

from __future__ import annotations

import json
import time

from realtime.messages import validate_server_message

from tests.handlers.conftest import LambdaContext, connect_event, emf, import_handler
from tests.handlers.test_resume_refresh_handlers import (  # noqa: F401 - handlers, jwks_server: fixtures
    CONNECTION,
    frame_event,
    frames,
    handlers,
    jwks_server,
    notify,
)

SECOND_DEVICE = "BFHPhfCWIAMCKlR="


def test_history_then_mark_all_is_answered_and_pushed_to_the_other_device(handlers, notifier, capsys):  # noqa: F811
    # GIVEN user-1 on a second device too, and two stored notifications
    connect = import_handler("connect")
    assert connect.handler(connect_event(SECOND_DEVICE, "user-1", int(time.time()) + 600),
                           LambdaContext())["statusCode"] == 200
    notify(handlers, "N0")
    notify(handlers, "N1")
    notifier.sent.clear()
    capsys.readouterr()
    # WHEN the first device asks for its history
    assert handlers.default.handler(frame_event({"type": "history", "version": "2.0", "id": "h-1"}),
                                    LambdaContext()) == {"statusCode": 200}
    (page,) = frames(notifier)
    validate_server_message(page)
    # THEN both, newest first, unread, with the count; the EMF document carries the history metrics
    assert page["type"] == "history" and page["id"] == "h-1"
    assert [i["id"] for i in page["data"]["items"]] == ["N1", "N0"] and page["data"]["unread"] == 2
    metrics = emf(capsys.readouterr().out)
    assert metrics["HistoryRequests"] == 1 and metrics["HistoryItemsRead"] == 2 and metrics["HistoryLatency"] >= 0
    # WHEN it marks all as read up to what it shows
    notifier.sent.clear()
    upto = {"user": page["data"]["items"][0]["offset"]}
    handlers.default.handler(frame_event({"type": "read.all", "version": "2.0", "id": "m-1",
                                          "data": {"upto": upto}}), LambdaContext())
    # THEN the device gets read.state with its id, the other device the same state without id
    (answer,) = frames(notifier)
    (pushed,) = [json.loads(p) for p in notifier.messages(SECOND_DEVICE)]
    for frame in (answer, pushed):
        validate_server_message(frame)
    assert answer["id"] == "m-1" and answer["data"]["unread"] == 0 and answer["data"]["readUpto"]["user"] == 2
    assert "id" not in pushed and pushed["data"] == answer["data"]
    assert emf(capsys.readouterr().out)["ReadStatePushes"] == 1
