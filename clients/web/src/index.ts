// @moc-realtime/client: the browser client of the realtime WebSocket backend (docs/web.md).
export { RealtimeClient, browserNetwork, type RealtimeClientOptions } from "./client.js";
export { backoffDelay, immediateDelay, BACKOFF_CAP_SECONDS, STABLE_CONNECTION_MS } from "./backoff.js";
export { CLOSE, DEFAULT_HEARTBEAT, type HeartbeatSettings, type NetworkStatus, type WebSocketConstructor, type WebSocketLike } from "./connection.js";
export { systemClock, type Clock } from "./clock.js";
export type { ConnectionState, ErrorCode, NotificationFrame, RealtimeEvents } from "./events.js";
export { browserTabs, CHANNEL_NAME, LOCK_NAME, type TabMessage, type TabTransport } from "./tabs.js";
export { renewalLead, tokenNeedsRenewal, tokenTimes, type TokenTimes } from "./token.js";
// Frame checks generated from the JSON Schema (the Zod schemas are at @moc-realtime/client/messages: Zod is not in the core).
export { parseServerFrame, type FrameResult, type KnownKind, type ServerFrame } from "./validate.js";
