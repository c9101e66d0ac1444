// @moc-realtime/client: the browser client of the realtime WebSocket backend (docs/web.md).
export { RealtimeClient, browserNetwork, type RealtimeClientOptions } from "./client.js";
export { backoffDelay, immediateDelay, BACKOFF_CAP_SECONDS, STABLE_CONNECTION_MS } from "./backoff.js";
export {
  CLOSE, DEFAULT_HEARTBEAT, GAP_GRACE_MS, MAX_RESUME_ATTEMPTS, PUBLIC_STATE, RESUME_ANSWER_TIMEOUT_MS, TRANSITIONS,
  type HeartbeatSettings, type Input, type NetworkStatus, type WebSocketConstructor, type WebSocketLike,
} from "./connection.js";
export { systemClock, type Clock } from "./clock.js";
export { HISTORY_PAGE, Inbox, type InboxItem, type InboxSnapshot } from "./inbox.js";
export type { ConnectionState, MachineState, RealtimeEvents } from "./events.js";
export type {
  ErrorCode, Heads, KnownKind, NotificationData, NotificationFrame, NotificationKind, Position, ServerFrame, StreamName,
} from "./protocol.js";
// Frame checks generated from the JSON Schema (the Zod schemas are at @moc-realtime/client/messages: Zod is not in the core).
export { parseServerFrame, type FrameResult } from "./validate.js";
export { STORAGE_PREFIX, type PositionStorage, type StreamsSnapshot } from "./streams.js";
export { browserTabs, CHANNEL_NAME, LOCK_NAME, type TabMessage, type TabTransport } from "./tabs.js";
export { AuthRequiredError, renewalLead, TOKEN_TIMEOUT_MS, tokenNeedsRenewal, tokenTimes, type TokenTimes } from "./token.js";
