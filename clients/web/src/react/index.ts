// @moc-realtime/client/react: the React bindings (docs/web.md). React >= 18 (useSyncExternalStore).
export { WebSocketProvider, useRealtime, RealtimeStoreProvider, type RealtimeContextValue, type WebSocketProviderProps } from "./provider.js";
export { ConnectionStatusIndicator, NotificationCenter, NotificationToast, STATUS_TEXT } from "./components.js";
export { RealtimeStore, type LogEntry, type NotificationItem, type RealtimeSnapshot } from "./store.js";
