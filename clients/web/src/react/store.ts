// What the React bindings render, kept outside React so it is tested without a DOM: the connection
// state, recent notifications with their read flags, the toasts on screen and a log of what happened.
import type { RealtimeClient } from "../client.js";
import type { ConnectionState, NotificationFrame, RealtimeEvents } from "../events.js";

export interface NotificationItem {
  id: string;
  notification: NotificationFrame;
  read: boolean;
  receivedAt: number;
}

export interface LogEntry {
  at: number;
  text: string;
}

export interface RealtimeSnapshot {
  state: ConnectionState;
  /** Newest first, at most `maxNotifications`. */
  notifications: readonly NotificationItem[];
  unread: number;
  /** Newest last. */
  toasts: readonly NotificationItem[];
  log: readonly LogEntry[];
  /** Bumped on every `refetch` event: reload from the REST API when it changes. */
  refetches: number;
}

const MAX_LOG = 100;

export class RealtimeStore {
  private snapshot: RealtimeSnapshot = { state: "disconnected", notifications: [], unread: 0, toasts: [], log: [], refetches: 0 };
  private readonly listeners = new Set<() => void>();

  constructor(private readonly maxNotifications = 50, private readonly now: () => number = Date.now) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): RealtimeSnapshot => this.snapshot;

  /** Follows a client until the returned function is called. */
  attach(client: RealtimeClient): () => void {
    const subscriptions = [
      client.on("state", ({ state }) => this.update({ state }, `state: ${state}`)),
      client.on("notification", (event) => this.addNotification(event)),
      client.on("reconnect-scheduled", ({ attempt, delayMs, reason }) =>
        this.log(`reconnect attempt ${attempt} in ${(delayMs / 1000).toFixed(2)} s (${reason})`)),
      client.on("resumed", ({ recovered, replayed }) => this.log(`resumed: recovered ${recovered}, replayed ${replayed}`)),
      client.on("refetch", ({ reason }) => this.update({ refetches: this.snapshot.refetches + 1 }, `refetch from the REST API (${reason})`)),
      client.on("token-refreshed", ({ expiresAt }) => this.log(`token refreshed, connection valid until ${expiresAt}`)),
      client.on("token-refresh-failed", ({ reason }) => this.log(`token refresh failed: ${reason}`)),
      client.on("auth-required", () => this.log("signed out: sign in again")),
      client.on("unavailable", ({ reason }) => this.log(`live updates unavailable: ${reason}`)),
      client.on("server-error", ({ code, requestId }) => this.log(`server error ${code} (request ${requestId})`)),
      client.on("invalid-frame", ({ error }) => this.log(`invalid frame ignored: ${error.slice(0, 120)}`)),
    ];
    this.update({ state: client.state });
    return () => subscriptions.forEach((unsubscribe) => unsubscribe());
  }

  markRead(id: string): void {
    this.setNotifications(this.snapshot.notifications.map((item) => (item.id === id ? { ...item, read: true } : item)));
  }

  markAllRead(): void {
    this.setNotifications(this.snapshot.notifications.map((item) => (item.read ? item : { ...item, read: true })));
  }

  dismissToast(id: string): void {
    this.update({ toasts: this.snapshot.toasts.filter((item) => item.id !== id) });
  }

  private addNotification({ notification, toast, replayed }: RealtimeEvents["notification"]): void {
    const item: NotificationItem = { id: notification.id ?? `${this.now()}`, notification, read: false, receivedAt: this.now() };
    const notifications = [item, ...this.snapshot.notifications].slice(0, this.maxNotifications);
    const toasts = toast ? [...this.snapshot.toasts, item] : this.snapshot.toasts;
    this.update({ notifications, toasts },
      `notification ${item.id}${replayed ? " (replayed)" : ""}: ${notification.data.title}`);
  }

  private setNotifications(notifications: NotificationItem[]): void {
    this.update({ notifications });
  }

  private log(text: string): void {
    this.update({}, text);
  }

  /** `unread` is derived here, from whatever `notifications` becomes. */
  private update(change: Partial<Omit<RealtimeSnapshot, "unread">>, logText?: string): void {
    const log = logText === undefined ? this.snapshot.log : [...this.snapshot.log, { at: this.now(), text: logText }].slice(-MAX_LOG);
    const unread = change.notifications ? change.notifications.filter((n) => !n.read).length : this.snapshot.unread;
    this.snapshot = { ...this.snapshot, ...change, unread, log };
    for (const listener of this.listeners) listener();
  }
}
