// The events a RealtimeClient emits; the app (or the React bindings) subscribes with client.on().
import type { InboxSnapshot } from "./inbox.js";
import type { ErrorCode, Heads, NotificationFrame } from "./protocol.js";

/**
 * What the indicator shows: the connection machine's state, coarsened (src/connection.ts `PUBLIC_STATE`).
 * `offline` while the browser reports no network (issue 18 §6).
 */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline" | "disconnected";

/** The states of the connection machine itself (ADR 0010, "Connection state machine"). */
export type MachineState = "idle" | "connecting" | "reconnecting" | "offline" | "resuming" | "live" | "stopped";

export type { ErrorCode, NotificationFrame };

export interface RealtimeEvents {
  /** Every change of the coarse state (what the status indicator shows). */
  state: { state: ConnectionState; previous: ConnectionState };
  /** Every transition of the connection machine (only in the tab that holds the connection). */
  transition: { from: MachineState; to: MachineState; input: string };
  /**
   * A notification not delivered before in this browser; `toast` is true in exactly one tab. `replayed`:
   * it arrived while a resume was outstanding (most likely from the replay), so an app can summarise.
   */
  notification: { notification: NotificationFrame; replayed: boolean; toast: boolean };
  /**
   * The inbox changed (ADR 0020): the user's stored notifications newest first with read state, the
   * server's unread count, whether older ones exist. The same in every tab of the browser.
   */
  inbox: InboxSnapshot;
  /** The answer to a `resume`. */
  resumed: { recovered: boolean; replayed: number; reason?: string | null; heads: Heads };
  /**
   * Notifications may have been missed: reload state from the REST API (ADR 0008, 0010). `not-recovered`:
   * the server said so; `resume-failed`: no valid `resumed` after the bounded retries.
   */
  refetch: { reason: "not-recovered" | "resume-failed" };
  /** The next attempt is scheduled (reconnect or first connect after a failure). */
  "reconnect-scheduled": { attempt: number; delayMs: number; reason: string };
  /** The server accepted an in-band token refresh. */
  "token-refreshed": { expiresAt: string };
  /** An in-band refresh failed (`TOKEN_INVALID`, getToken() failing or slow, no newer token); it is retried before expiry. */
  "token-refresh-failed": { reason: string };
  /** getToken() threw `AuthRequiredError`: the user must sign in; emitted in every tab, the connection is released. */
  "auth-required": { error: unknown };
  /** ADR 0010: live updates unavailable (5 failed handshakes with a fresh token, or 3 policy closes in a row). */
  unavailable: { reason: string };
  /** The `WebSocket` constructor threw (a bad URL, a blocked port): reported here, retried with backoff. */
  "socket-error": { error: string };
  /** A server frame that is not JSON or has a malformed known field: reported, never thrown into the app. */
  "invalid-frame": { raw: string; error: string };
  /** A server frame of a type this client does not know (a newer server): reported and ignored. */
  "unknown-frame": { type: string };
  /** An `error` frame from the server (client bugs and limits, with the server's requestId). */
  "server-error": { code: ErrorCode; message: string; requestId: string };
}

export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        // A failing listener must not break the connection or the other listeners.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
