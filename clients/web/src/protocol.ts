// The frames of protocol 2.0 as the client sees them (docs/messages.md, "Frames" and "Streams, offsets and
// epochs"). Interim hand-written types: the schema and src/messages.ts are regenerated for 2.0 on the server
// side of issue 17, after which these can be derived from the generated module.

export const PROTOCOL_VERSION = "2.0";

export type StreamName = "user" | "global";
export const STREAMS: readonly StreamName[] = ["user", "global"];

/** A stream's place: its epoch (null: the stream never held a notification) and an offset (0 = nothing). */
export interface Position {
  epoch: string | null;
  offset: number;
}
/** What the server reports per stream, in `pong` (2.0) and `resumed`. */
export type Heads = Record<StreamName, Position>;

export type KnownKind = "moc.upload.completed" | "moc.finalized" | "set.created" | "system.announcement";
/** A kind this client does not know yet is still a notification (forward compatibility). */
export type NotificationKind = KnownKind | (string & {});
export type Severity = "info" | "success" | "warning" | "error";

export interface NotificationData {
  kind: NotificationKind;
  title: string;
  body: string | null;
  severity: Severity | null;
  link: string | null;
  resource: { type: string; id: string } | null;
  timestamp: string;
  /** Where it sits in its stream; absent only on frames of a server older than 2.0. */
  stream?: StreamName;
  epoch?: string;
  offset?: number;
}

interface Frame<T extends string, D> {
  type: T;
  /** Any string: a newer server may answer with a newer version (docs/messages.md). */
  version: string;
  id: string | null;
  data: D;
}

export type KnownErrorCode =
  | "INVALID_MESSAGE" | "UNSUPPORTED_VERSION" | "MESSAGE_TOO_LARGE" | "RATE_LIMITED"
  | "TOKEN_EXPIRED" | "TOKEN_INVALID" | "CONNECTION_UNKNOWN" | "INTERNAL_ERROR";
/** Error codes may grow: an unknown one is handled like `INTERNAL_ERROR`. */
export type ErrorCode = KnownErrorCode | (string & {});

export type NotificationFrame = Frame<"notification", NotificationData>;
export type PongFrame = Frame<"pong", { timestamp: string; heads?: Heads }>;
export type ResumedFrame = Frame<"resumed", { recovered: boolean; replayed: number; heads: Heads; reason?: string }>;
export type RefreshedFrame = Frame<"refreshed", { expiresAt: string }>;
export type ErrorFrame = Frame<"error", { code: ErrorCode; message: string; timestamp: string; requestId: string }>;
export type ServerFrame = NotificationFrame | PongFrame | ResumedFrame | RefreshedFrame | ErrorFrame;

/** What the client sends (strict in what it sends: exactly these shapes). */
export type ClientFrame =
  | { type: "ping"; version: "2.0"; id: string }
  | { type: "resume"; version: "2.0"; id: string; data: { positions: Partial<Record<StreamName, Position>> } }
  | { type: "refresh"; version: "2.0"; id: string; data: { token: string } };
