"""Queue publisher for broadcast segment jobs."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from realtime.errors import DeliveryFailed, Throttled

BATCH = 10


class SqsQueuePublisher:
    def __init__(self, client, queue_url: str):
        self.client = client
        self.queue_url = queue_url

    def publish(self, bodies: Sequence[str]) -> None:
        for start in range(0, len(bodies), BATCH):
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + BATCH])]
            for _attempt in range(3):
                try:
                    response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code", "")
                    raise (Throttled(code) if "Throttl" in code else DeliveryFailed(code)) from None
                except BotoCoreError as error:
                    raise DeliveryFailed(type(error).__name__) from None
                failed = {entry["Id"] for entry in response.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            else:
                raise DeliveryFailed(f"{len(entries)} queue messages not accepted")
