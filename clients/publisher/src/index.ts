// @moc-realtime/publisher: notify() for the web app's server functions (docs/web.md). It validates a broadcast
// request against the schema's BroadcastRequest and sends it to the broadcast queue; the backend fans it out.
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";
import { awsCredentialsProvider } from "@vercel/oidc-aws-credentials-provider";
import { broadcastRequestSchema, type BroadcastRequestInput } from "@moc-realtime/client/messages";

/**
 * What a notification says, generated from the schema's BroadcastRequest (schemas/messages.v1.json): `kind`,
 * `title`, and optionally `body`, `severity`, `link` (an app-relative path or an `https://` URL) and `resource`
 * (`{ type: "moc", id: "42" }`, for deep links).
 */
export type NotificationContent = BroadcastRequestInput["notification"];

export interface NotifyRequest {
  /** Cognito `sub`s (1–1000), or every connected user (a global announcement, rate-limited by the backend). */
  target: BroadcastRequestInput["target"];
  notification: NotificationContent;
  /** The idempotency key: the same id is delivered once, so derive it from the event (`moc-42-finalized`). Default: a random UUID. */
  id?: string;
}

export interface NotifyResult {
  id: string;
  messageId: string;
}

/** The request does not match the schema; nothing was sent. `issues` lists every problem by path. */
export class NotifyValidationError extends Error {
  constructor(readonly issues: Array<{ path: string; message: string }>) {
    super(`invalid notification: ${issues.map((issue) => `${issue.path || "(request)"}: ${issue.message}`).join("; ")}`);
    this.name = "NotifyValidationError";
  }
}

/** A missing or wrong environment variable; nothing was sent. */
export class NotifyConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotifyConfigurationError";
  }
}

export interface PublisherEnvironment {
  WEBSOCKET_BROADCAST_QUEUE_URL?: string;
  /** The stack's region. Not AWS_REGION: Vercel presets that to the function's own region. */
  WEBSOCKET_REGION?: string;
  /** On Vercel: the role the OIDC token is exchanged for. Empty locally (static credentials from the environment). */
  AWS_ROLE_ARN?: string;
  /** Locally: the embedded AWS of `make local` (.env.local). */
  AWS_ENDPOINT_URL?: string;
  [name: string]: string | undefined;
}

export interface PublisherOptions {
  env?: PublisherEnvironment;
  /** For tests: an SQS client (or anything with its `send`). */
  sqs?: Pick<SQSClient, "send">;
}

interface Configuration {
  queueUrl: string;
  region: string;
  roleArn: string;
  endpoint: string;
}

const ALLOWED_KEYS = new Set(["target", "notification", "id"]);

export function configurationFrom(env: PublisherEnvironment): Configuration {
  const queueUrl = env.WEBSOCKET_BROADCAST_QUEUE_URL?.trim() ?? "";
  const region = env.WEBSOCKET_REGION?.trim() ?? "";
  if (!queueUrl) throw new NotifyConfigurationError("WEBSOCKET_BROADCAST_QUEUE_URL is not set (the realtime-vercel stack sets it; locally `make local` writes .env.local)");
  if (!/^https?:\/\/\S+$/.test(queueUrl)) throw new NotifyConfigurationError("WEBSOCKET_BROADCAST_QUEUE_URL must be an SQS queue URL (http(s)://…)");
  if (!region) throw new NotifyConfigurationError("WEBSOCKET_REGION is not set (the stack's region; AWS_REGION is not used, Vercel presets it to the function's region)");
  return { queueUrl, region, roleArn: env.AWS_ROLE_ARN?.trim() ?? "", endpoint: env.AWS_ENDPOINT_URL?.trim() ?? "" };
}

/** Builds the SQS client: the Vercel OIDC role when AWS_ROLE_ARN is set, else the SDK's default credentials. */
export function createSqsClient(configuration: Configuration): SQSClient {
  return new SQSClient({
    region: configuration.region,
    ...(configuration.roleArn ? { credentials: awsCredentialsProvider({ roleArn: configuration.roleArn }) } : {}),
    ...(configuration.endpoint ? { endpoint: configuration.endpoint } : {}),
  });
}

// One client per configuration and process: Vercel reuses warm function instances.
const clients = new Map<string, SQSClient>();

function sqsFor(configuration: Configuration): SQSClient {
  const key = JSON.stringify(configuration);
  let client = clients.get(key);
  if (!client) clients.set(key, (client = createSqsClient(configuration)));
  return client;
}

/** Validates without sending: the body notify() would put on the queue. */
export function broadcastRequest(request: NotifyRequest): { id: string; target: NotifyRequest["target"]; notification: NotificationContent } {
  if (request === null || typeof request !== "object") throw new NotifyValidationError([{ path: "", message: "expected an object" }]);
  const unknown = Object.keys(request).filter((key) => !ALLOWED_KEYS.has(key));
  if (unknown.length > 0) {
    throw new NotifyValidationError(unknown.map((key) => ({ path: key, message: "unknown field (segment and cursor are set by the backend only)" })));
  }
  const body = { id: request.id ?? globalThis.crypto.randomUUID(), target: request.target, notification: request.notification };
  const parsed = broadcastRequestSchema.safeParse(body);
  if (!parsed.success) {
    throw new NotifyValidationError(parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })));
  }
  // Send what the caller wrote, not the parsed copy: its defaults would add nulls the backend does not need.
  return body;
}

/**
 * Sends one notification to its target users (every open tab of theirs within two seconds, or on their
 * next reconnect). Throws NotifyValidationError / NotifyConfigurationError before sending anything.
 */
export async function notify(request: NotifyRequest, options: PublisherOptions = {}): Promise<NotifyResult> {
  const body = broadcastRequest(request);
  const configuration = configurationFrom(options.env ?? process.env);
  const sqs = options.sqs ?? sqsFor(configuration);
  const result = await sqs.send(new SendMessageCommand({ QueueUrl: configuration.queueUrl, MessageBody: JSON.stringify(body) }));
  if (!result.MessageId) throw new Error("SQS accepted the message but returned no MessageId");
  return { id: body.id, messageId: result.MessageId };
}
