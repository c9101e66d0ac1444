// The events a RealtimeClient emits; the app (or the React bindings) subscribes with client.on().
import type { ErrorFrame, NotificationFrame } from "./frames.js";

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

export type { NotificationFrame };
export type ErrorCode = ErrorFrame["data"]["code"];

export interface RealtimeEvents {
  /** Every state change. */
  state: { state: ConnectionState; previous: ConnectionState };
  /** A notification not seen before in this browser; `toast` is true in exactly one tab. */
  notification: { notification: NotificationFrame; replayed: boolean; toast: boolean };
  /** The answer to a `resume`. */
  resumed: { recovered: boolean; replayed: number };
  /** Notifications may have been missed: reload state from the REST API (ADR 0008, 0010). */
  refetch: { reason: "not-recovered" | "no-cursor" | "resume-refused" };
  /** The next attempt is scheduled (reconnect or first connect after a failure). */
  "reconnect-scheduled": { attempt: number; delayMs: number; reason: string };
  /** The server accepted an in-band token refresh. */
  "token-refreshed": { expiresAt: string };
  /** An in-band refresh failed (`TOKEN_INVALID`, or getToken() gave no newer token); the connection keeps its old expiry. */
  "token-refresh-failed": { reason: string };
  /** getToken() failed: the user must sign in again; the client stopped. */
  "auth-required": { error: unknown };
  /** ADR 0010: live updates unavailable (5 failed handshakes with a fresh token, or 3 policy closes in a row). */
  unavailable: { reason: string };
  /** A server frame that is not JSON or does not match the schema: reported, never thrown into the app. */
  "invalid-frame": { raw: string; error: string };
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
