// One connection per browser, shared with its tabs (ADR 0009): the tab holding the Web Lock is the
// leader and owns the WebSocket; it relays every frame over a BroadcastChannel and decides which single
// tab shows the toast (the one the user looked at last), so a browser shows one toast per notification.
// Tabs may run different versions of this client (a tab not reloaded since a deploy): relayed frames are
// the server's frames as received, and every tab validates them with the same forward-compatible rules.
import type { ConnectionState, RealtimeEvents } from "./events.js";
import type { InboxSnapshot } from "./inbox.js";
import type { StreamName } from "./protocol.js";
import type { StreamsSnapshot } from "./streams.js";

export type RelayedEvent =
  | "resumed" | "refetch" | "reconnect-scheduled" | "token-refreshed" | "token-refresh-failed" | "unavailable" | "auth-required";

export type TabMessage =
  | { kind: "hello"; tab: string }
  | { kind: "state"; tab: string; state: ConnectionState }
  /** The leader's positions and held offsets after every change: a follower that takes over resumes from them. */
  | { kind: "positions"; tab: string; snapshot: StreamsSnapshot }
  /** `frame`: the server's frame as received (unknown fields included), validated again by the receiving tab. */
  | { kind: "notification"; tab: string; frame: unknown; replayed: boolean; toastTab: string }
  | { kind: "event"; tab: string; name: RelayedEvent; payload: RealtimeEvents[RelayedEvent] }
  /** The leader's inbox after every change (ADR 0020): followers show it. */
  | { kind: "inbox"; tab: string; snapshot: InboxSnapshot }
  /** A follower's inbox action, carried out by the leader (it holds the connection). */
  | { kind: "inbox-command"; tab: string; command: InboxCommand }
  /** This tab became the one the user looks at; the leader also checks its connection (a ping). */
  | { kind: "active"; tab: string }
  | { kind: "bye"; tab: string };

export type InboxCommand =
  | { action: "read"; stream: StreamName; offset: number }
  | { action: "read-all" }
  | { action: "older" };

/** What a tab needs from the browser to coordinate; tests pass an in-memory one. */
export interface TabTransport {
  post(message: TabMessage): void;
  onMessage(listener: (message: TabMessage) => void): () => void;
  /** Waits for the leader lock; `onLeader` runs once it is held. The returned function releases it (or stops waiting). */
  requestLeadership(onLeader: () => void): () => void;
  /** True when the user is looking at this tab (visible and focused). */
  isActive(): boolean;
  /** Called when this tab becomes the one the user looks at; returns an unsubscribe. */
  onActive(listener: () => void): () => void;
  close(): void;
}

/** ADR 0009's names, scoped (e.g. by user) so two users signed in to one browser do not share a connection. */
export const LOCK_NAME = "realtime-connection";
export const CHANNEL_NAME = "realtime-notifications";

/** The browser's Web Locks + BroadcastChannel, or null where either is missing (ADR 0009's fallback: each tab connects). */
export function browserTabs(scope: string): TabTransport | null {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (typeof BroadcastChannel === "undefined" || !locks || typeof document === "undefined") return null;
  const channel = new BroadcastChannel(`${CHANNEL_NAME}:${scope}`);
  const listeners = new Set<(message: TabMessage) => void>();
  channel.onmessage = (event: MessageEvent<TabMessage>) => {
    for (const listener of listeners) listener(event.data);
  };
  return {
    post: (message) => channel.postMessage(message),
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    requestLeadership(onLeader) {
      const abort = new AbortController();
      let released = false;
      let release: () => void = () => undefined;
      locks
        .request(`${LOCK_NAME}:${scope}`, { signal: abort.signal }, () => {
          // Granted after the tab gave up (React StrictMode unmounts at once): hand the lock on.
          if (released) return undefined;
          onLeader();
          return new Promise<void>((resolve) => (release = resolve));
        })
        .catch(() => undefined); // aborted while waiting
      return () => {
        released = true;
        abort.abort();
        release();
      };
    },
    isActive: () => document.visibilityState === "visible" && document.hasFocus(),
    onActive(listener) {
      const onVisibility = () => document.visibilityState === "visible" && listener();
      window.addEventListener("focus", listener);
      document.addEventListener("visibilitychange", onVisibility);
      return () => {
        window.removeEventListener("focus", listener);
        document.removeEventListener("visibilitychange", onVisibility);
      };
    },
    close: () => channel.close(),
  };
}
