"""Client-side helpers of the e2e tests: real WebSocket clients and queries of the connection table."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

PING = json.dumps({"type": "ping", "version": "1.0", "id": "ping-1"})


async def open_ws(url: str, token: str | None, origin: str | None = None) -> ClientConnection:
    target = url if token is None else f"{url}?token={token}"
    return await websockets.connect(target, origin=origin, open_timeout=15, max_size=None, ping_interval=None)


async def open_ws_backing_off(url: str, token: str, *, within_seconds: float = 30.0) -> ClientConnection:
    """:func:`open_ws` that waits out a 429 the way the client does (ADR 0010): a test that drops connections
    faster than API Gateway's late ``$disconnect`` arrives leaves rows that hold the user's places until
    ``$connect`` may probe them (older than ``CONNECT_GRACE_SECONDS``, ADR 0021). Any other refusal, and a
    429 that outlasts ``within_seconds``, fails."""
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            return await open_ws(url, token)
        except websockets.InvalidStatus as error:
            if error.response.status_code != 429 or time.monotonic() > deadline:
                raise
        await asyncio.sleep(1)


async def handshake_status(url: str, token: str | None, origin: str | None = None) -> int:
    """101 when the connection opens, else the HTTP status API Gateway answered."""
    try:
        connection = await open_ws(url, token, origin)
    except websockets.InvalidStatus as error:
        return error.response.status_code
    await connection.close()
    return 101


async def receive_json(connection: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(connection.recv(), timeout))


def unique_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def connection_ids(stack: Any, user_id: str) -> list[str]:
    """The rows stored for a user (GSI byUser), i.e. what the broadcast function will address."""
    table = stack.outputs["connections_table_name"]
    found = stack.client("dynamodb").query(TableName=table, IndexName="byUser",
                                           KeyConditionExpression="userId = :u",
                                           ExpressionAttributeValues={":u": {"S": user_id}})
    return sorted(item["connectionId"]["S"] for item in found.get("Items", []))


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def enqueue_broadcast(stack: Any, target: dict[str, Any], kind: str = "set.created", title: str = "hello",
                      delay_seconds: int = 0) -> str:
    """What the web app's server does on Vercel: one SendMessage on the broadcast queue."""
    request_id = f"e2e-{uuid.uuid4()}"
    body = {"id": request_id, "target": target, "notification": {"kind": kind, "title": title}}
    stack.client("sqs").send_message(QueueUrl=stack.outputs["broadcast_queue_url"], MessageBody=json.dumps(body),
                                     DelaySeconds=delay_seconds)
    return request_id
