import { createContext, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import { RealtimeClient, type RealtimeClientOptions } from "../client.js";
import { RealtimeStore, type RealtimeSnapshot } from "./store.js";

export interface RealtimeContextValue extends RealtimeSnapshot {
  /** The running client (null until the provider has mounted). */
  client: RealtimeClient | null;
  markRead(id: string): void;
  markAllRead(): void;
  dismissToast(id: string): void;
}

const RealtimeContext = createContext<{ store: RealtimeStore; client: RealtimeClient | null } | null>(null);

export interface WebSocketProviderProps extends RealtimeClientOptions {
  children?: ReactNode;
  /** How many recent notifications the center keeps (default 50). */
  maxNotifications?: number;
  /** Called when notifications may have been missed: reload the app's state from the REST API. */
  onRefetch?: () => void;
}

/**
 * Runs one RealtimeClient while mounted (a new one when `url` or `tabs` change) and provides its state.
 * `getToken` and `onRefetch` may change on every render without reconnecting.
 */
export function WebSocketProvider({ children, maxNotifications, onRefetch, ...options }: WebSocketProviderProps) {
  const [store] = useState(() => new RealtimeStore(maxNotifications));
  const [client, setClient] = useState<RealtimeClient | null>(null);
  const latest = useRef({ options, onRefetch });
  latest.current = { options, onRefetch };
  const scope = typeof options.tabs === "string" || options.tabs === false ? options.tabs : undefined;

  useEffect(() => {
    const current = new RealtimeClient({ ...latest.current.options, getToken: () => latest.current.options.getToken() });
    const detach = store.attach(current);
    const offRefetch = current.on("refetch", () => latest.current.onRefetch?.());
    current.start();
    setClient(current);
    return () => {
      offRefetch();
      current.stop();
      detach();
      setClient(null);
    };
  }, [store, options.url, scope]);

  const value = useMemo(() => ({ store, client }), [store, client]);
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}

/** The connection state, notifications and toasts of the nearest WebSocketProvider. */
export function useRealtime(): RealtimeContextValue {
  const context = useContext(RealtimeContext);
  if (context === null) throw new Error("useRealtime() must be used inside a <WebSocketProvider>");
  const { store, client } = context;
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  // Stable per store, so components can list them as effect dependencies.
  const actions = useMemo(() => ({
    markRead: (id: string) => store.markRead(id),
    markAllRead: () => store.markAllRead(),
    dismissToast: (id: string) => store.dismissToast(id),
  }), [store]);
  return { ...snapshot, client, ...actions };
}

/** For tests and storybooks: provide a store without a client. */
export function RealtimeStoreProvider({ store, children }: { store: RealtimeStore; children?: ReactNode }) {
  return <RealtimeContext.Provider value={{ store, client: null }}>{children}</RealtimeContext.Provider>;
}
