// The frames of protocol 2.0 as the client sees them (docs/messages.md, "Frames" and "Streams, offsets and
// epochs"). The server frames are the types generated from schemas/messages.v1.json into src/frames.ts (the
// one place their shapes are written down in the core); this module names the parts the connection uses and
// adds what the client sends.
import type {
  ErrorFrame, HistoryFrame, KnownCode, KnownKind, NotificationFrame, PongFrame, ReadStateFrame, RefreshedFrame, ResumedFrame, ServerFrame,
} from "./frames.js";
import type { InboxRequest } from "./inbox.js";

export type { ErrorFrame, HistoryFrame, KnownKind, NotificationFrame, PongFrame, ReadStateFrame, RefreshedFrame, ResumedFrame, ServerFrame };

export const PROTOCOL_VERSION = "2.0";

export type StreamName = NonNullable<NotificationFrame["data"]["stream"]>;
export const STREAMS: readonly StreamName[] = ["user", "global"];

/** A stream's place: its epoch (null: the stream never held a notification) and an offset (0 = nothing). */
export type Position = ResumedFrame["data"]["heads"]["user"];
/** What the server reports per stream, in `pong` (2.0) and `resumed`. */
export type Heads = Record<StreamName, Position>;

/** A kind this client does not know yet is still a notification (forward compatibility). */
export type NotificationKind = NotificationFrame["data"]["kind"];
export type Severity = NonNullable<NotificationFrame["data"]["severity"]>;
export type NotificationData = NotificationFrame["data"];

export type KnownErrorCode = KnownCode;
/** Error codes may grow: an unknown one is handled like `INTERNAL_ERROR`. */
export type ErrorCode = ErrorFrame["data"]["code"];

/** What the client sends (strict in what it sends: exactly these shapes). */
export type ClientFrame =
  | { type: "ping"; version: "2.0"; id: string }
  | { type: "resume"; version: "2.0"; id: string; data: { positions: Partial<Record<StreamName, Position>> } }
  | { type: "refresh"; version: "2.0"; id: string; data: { token: string } }
  | InboxRequest;

/** The server's inbox frames (ADR 0020) as the connection hands them to the client, and an inbox frame refused. */
export type InboxFrame = HistoryFrame | ReadStateFrame | { type: "error"; code: "NOT_FOUND" | "BUDGET_EXCEEDED" };
