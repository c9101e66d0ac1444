import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import { RealtimeClient, type RealtimeClientOptions } from "../client.js";
import type { ConnectionState } from "../events.js";
import { RealtimeStore, type NotificationItem, type RealtimeSnapshot } from "./store.js";

export interface RealtimeContextValue extends RealtimeSnapshot {
  /** The running client (null until the provider has mounted). */
  client: RealtimeClient | null;
  markRead(id: string): void;
  markAllRead(): void;
  dismissToast(id: string): void;
}

interface Context {
  store: RealtimeStore;
  client: RealtimeClient | null;
}

const RealtimeContext = createContext<Context | null>(null);

interface ProviderCommon {
  children?: ReactNode;
  /** How many recent notifications the center keeps (default 50). */
  maxNotifications?: number;
  /** How long a toast stays unless hovered or focused, in ms (default 8000; 0: until dismissed). */
  toastMs?: number;
  /** Called when notifications may have been missed: reload the app's state from the REST API. */
  onRefetch?: () => void;
}

export type WebSocketProviderProps = ProviderCommon & (
  /** The provider creates, starts and stops its own client from these options. */
  | (RealtimeClientOptions & { client?: undefined })
  /** A client the app made and owns: the provider follows it but neither starts nor stops it. */
  | { client: RealtimeClient }
);

/**
 * Provides a RealtimeClient's state to the components and hooks below it: either a ready `client`, or one it
 * runs while mounted from the client options (a new one when `url` or `tabs` change; `getToken` and
 * `onRefetch` may change on every render without reconnecting). StrictMode's double mount opens one socket:
 * the first client is stopped before it connects.
 */
export function WebSocketProvider(props: WebSocketProviderProps) {
  const { children, maxNotifications, toastMs, onRefetch } = props;
  const [store] = useState(() => new RealtimeStore({ maxNotifications, toastMs }));
  const [owned, setOwned] = useState<RealtimeClient | null>(null);
  const latest = useRef({ props, onRefetch });
  latest.current = { props, onRefetch };
  const given = props.client ?? null;
  const options = given === null ? (props as RealtimeClientOptions) : null;
  const scope = options && (typeof options.tabs === "string" || options.tabs === false) ? options.tabs : undefined;
  const client = given ?? owned;

  useEffect(() => {
    if (given !== null) return undefined;
    const { client: _client, children: _children, maxNotifications: _max, toastMs: _toast, onRefetch: _refetch, ...clientOptions } =
      latest.current.props as RealtimeClientOptions & ProviderCommon & { client?: undefined };
    const current = new RealtimeClient({
      ...clientOptions,
      getToken: () => (latest.current.props as RealtimeClientOptions).getToken(),
    });
    current.start();
    setOwned(current);
    return () => {
      current.stop();
      setOwned(null);
    };
  }, [given, options?.url, scope]);

  useEffect(() => {
    if (client === null) return undefined;
    const detach = store.attach(client);
    const offRefetch = client.on("refetch", () => latest.current.onRefetch?.());
    return () => {
      offRefetch();
      detach();
    };
  }, [store, client]);

  const value = useMemo(() => ({ store, client }), [store, client]);
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}

function useRealtimeContext(hook: string): Context {
  const context = useContext(RealtimeContext);
  if (context === null) throw new Error(`${hook} must be used inside a <WebSocketProvider>`);
  return context;
}

/**
 * One value derived from the provider's snapshot. The component re-renders only when the selected value
 * changes (`isEqual`, default Object.is), so a log line does not re-render a component that shows the state.
 */
export function useRealtimeSelector<T>(selector: (snapshot: RealtimeSnapshot) => T, isEqual: (a: T, b: T) => boolean = Object.is): T {
  const { store } = useRealtimeContext("useRealtimeSelector()");
  const last = useRef<{ snapshot: RealtimeSnapshot; value: T } | null>(null);
  const select = useCallback(() => {
    const snapshot = store.getSnapshot();
    const previous = last.current;
    if (previous !== null && previous.snapshot === snapshot) return previous.value;
    const value = selector(snapshot);
    // A selector that builds a new array or object each time must not make every update a change.
    const kept = previous !== null && isEqual(previous.value, value) ? previous.value : value;
    last.current = { snapshot, value: kept };
    return kept;
  }, [store, selector, isEqual]);
  return useSyncExternalStore(store.subscribe, select, select);
}

/** The connection state alone: "connecting", "connected", "reconnecting" or "disconnected". */
export function useConnectionState(): ConnectionState {
  return useRealtimeSelector(selectState);
}

const selectState = (snapshot: RealtimeSnapshot) => snapshot.state;
const selectNotifications = (snapshot: RealtimeSnapshot) => snapshot.notifications;

/**
 * The recent notifications (newest first), or what `selector` derives from them, e.g.
 * `useNotifications((items) => items.filter((n) => !n.read).length)`.
 */
export function useNotifications(): readonly NotificationItem[];
export function useNotifications<T>(selector: (notifications: readonly NotificationItem[]) => T, isEqual?: (a: T, b: T) => boolean): T;
export function useNotifications<T>(selector?: (notifications: readonly NotificationItem[]) => T, isEqual?: (a: T, b: T) => boolean): T | readonly NotificationItem[] {
  const select = useMemo(() => (selector ? (snapshot: RealtimeSnapshot) => selector(snapshot.notifications) : selectNotifications), [selector]);
  return useRealtimeSelector<T | readonly NotificationItem[]>(select, isEqual as ((a: unknown, b: unknown) => boolean) | undefined);
}

/** The store's actions, stable per provider (safe as effect dependencies). */
export function useRealtimeActions() {
  const { store } = useRealtimeContext("useRealtimeActions()");
  return useMemo(() => ({
    markRead: (id: string) => store.markRead(id),
    markAllRead: () => store.markAllRead(),
    loadOlder: () => store.loadOlder(),
    dismissToast: (id: string) => store.dismissToast(id),
    pauseToast: (id: string) => store.pauseToast(id),
    resumeToast: (id: string) => store.resumeToast(id),
    setCenterOpen: (open: boolean) => store.setCenterOpen(open),
  }), [store]);
}

/** Everything at once (re-renders on every change): the connection state, notifications, toasts and the log. */
export function useRealtime(): RealtimeContextValue {
  const { store, client } = useRealtimeContext("useRealtime()");
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const { markRead, markAllRead, dismissToast } = useRealtimeActions();
  return { ...snapshot, client, markRead, markAllRead, dismissToast };
}

/** For tests and storybooks: provide a store without a client. */
export function RealtimeStoreProvider({ store, children }: { store: RealtimeStore; children?: ReactNode }) {
  const value = useMemo(() => ({ store, client: null }), [store]);
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}
