import assert from "node:assert/strict";
import { test } from "node:test";
import type { SendMessageCommand } from "@aws-sdk/client-sqs";
import { configurationFrom, createSqsClient, notify, NotifyConfigurationError, NotifyValidationError } from "../src/index.js";

const ENV = { WEBSOCKET_BROADCAST_QUEUE_URL: "http://127.0.0.1:4566/123456789012/realtime-local-broadcast", WEBSOCKET_REGION: "eu-west-1" };

function fakeSqs() {
  const sent: SendMessageCommand[] = [];
  return {
    sent,
    send: async (command: SendMessageCommand) => {
      sent.push(command);
      return { MessageId: `m-${sent.length}`, $metadata: {} };
    },
  };
}

test("notify() sends the broadcast request the backend expects and returns its id and the SQS message id", async () => {
  const sqs = fakeSqs();
  const result = await notify(
    { id: "moc-42-finalized", target: { userIds: ["sub-1"] }, notification: { kind: "moc.finalized", title: "Your MOC is live", link: "/mocs/42" } },
    { env: ENV, sqs: sqs as never },
  );
  assert.deepEqual(result, { id: "moc-42-finalized", messageId: "m-1" });
  const input = sqs.sent[0]!.input;
  assert.equal(input.QueueUrl, ENV.WEBSOCKET_BROADCAST_QUEUE_URL);
  assert.deepEqual(JSON.parse(input.MessageBody!), {
    id: "moc-42-finalized", target: { userIds: ["sub-1"] }, notification: { kind: "moc.finalized", title: "Your MOC is live", link: "/mocs/42" },
  });
});

test("without an id, a random one that the schema accepts", async () => {
  const sqs = fakeSqs();
  const { id } = await notify({ target: { all: true }, notification: { kind: "system.announcement", title: "Maintenance" } }, { env: ENV, sqs: sqs as never });
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(JSON.parse(sqs.sent[0]!.input.MessageBody!).id, id);
});

test("invalid requests get every problem by path and send nothing", async () => {
  const sqs = fakeSqs();
  const bad = [
    { target: { userIds: [] }, notification: { kind: "moc.finalized", title: "t" } },
    { target: { userIds: ["u"] }, notification: { kind: "moc.deleted", title: "" } },
    { target: { all: false }, notification: { kind: "set.created", title: "t" } },
    { target: { userIds: ["u"] }, notification: { kind: "set.created", title: "t", link: "http://insecure" } },
    { id: "has spaces", target: { userIds: ["u"] }, notification: { kind: "set.created", title: "t" } },
    { target: { userIds: ["u"] }, notification: { kind: "set.created", title: "t" }, segment: { index: 0, total: 2 } },
  ];
  for (const request of bad) {
    await assert.rejects(notify(request as never, { env: ENV, sqs: sqs as never }), NotifyValidationError, JSON.stringify(request));
  }
  const error = await notify(bad[1] as never, { env: ENV, sqs: sqs as never }).catch((e: NotifyValidationError) => e);
  assert.deepEqual((error as NotifyValidationError).issues.map((issue) => issue.path).sort(), ["notification.kind", "notification.title"]);
  assert.equal(sqs.sent.length, 0);
});

test("configuration: the queue and WEBSOCKET_REGION are required; AWS_REGION is never used", async () => {
  const request = { target: { userIds: ["u"] }, notification: { kind: "set.created" as const, title: "t" } };
  await assert.rejects(notify(request, { env: { WEBSOCKET_REGION: "eu-west-1" }, sqs: fakeSqs() as never }), /WEBSOCKET_BROADCAST_QUEUE_URL is not set/);
  await assert.rejects(notify(request, { env: { ...ENV, WEBSOCKET_REGION: "", AWS_REGION: "us-east-1" }, sqs: fakeSqs() as never }), NotifyConfigurationError);
  await assert.rejects(notify(request, { env: { ...ENV, WEBSOCKET_BROADCAST_QUEUE_URL: "queue" }, sqs: fakeSqs() as never }), /must be an SQS queue URL/);
  const client = createSqsClient(configurationFrom({ ...ENV, AWS_REGION: "us-west-2" }));
  assert.equal(await client.config.region(), "eu-west-1");
});

test("AWS_ROLE_ARN: credentials come from the Vercel OIDC provider (which needs the function's OIDC token)", async () => {
  const client = createSqsClient(configurationFrom({ ...ENV, AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/realtime-dev-vercel-broadcast" }));
  const saved = process.env.VERCEL_OIDC_TOKEN;
  delete process.env.VERCEL_OIDC_TOKEN;
  try {
    await assert.rejects(client.config.credentials(), /oidc|OIDC|token/);
  } finally {
    if (saved !== undefined) process.env.VERCEL_OIDC_TOKEN = saved;
  }
});

test("locally (no role): the static credentials and AWS_ENDPOINT_URL of .env.local", async () => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  try {
    const client = createSqsClient(configurationFrom({ ...ENV, AWS_ROLE_ARN: "", AWS_ENDPOINT_URL: "http://127.0.0.1:4566" }));
    assert.equal((await client.config.credentials()).accessKeyId, "test");
    const endpoint = await client.config.endpoint!();
    assert.equal(`${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`, "http://127.0.0.1:4566");
  } finally {
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  }
});
