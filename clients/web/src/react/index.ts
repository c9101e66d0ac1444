// @moc-realtime/client/react: the React bindings (docs/web.md). React >= 18 (useSyncExternalStore).
// The built file starts with "use client" (scripts/build.mjs), for the Next.js App Router.
export {
  WebSocketProvider, useRealtime, useRealtimeSelector, useConnectionState, useNotifications, useRealtimeActions,
  RealtimeStoreProvider, type RealtimeContextValue, type WebSocketProviderProps,
} from "./provider.js";
export { ConnectionStatusIndicator, NotificationCenter, NotificationToast, STATUS_TEXT } from "./components.js";
export {
  RealtimeStore, MAX_TOASTS, TOAST_MS, BURST_QUIET_MS,
  type LogEntry, type NotificationItem, type RealtimeSnapshot, type RealtimeStoreOptions, type Toast,
} from "./store.js";
