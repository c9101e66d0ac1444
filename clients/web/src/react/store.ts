// What the React bindings render, kept outside React so it is tested without a DOM: the connection
// state, recent notifications with their read flags, the toasts on screen and a log of what happened.
//
// Toasts (docs/web.md "Toasts"): at most MAX_TOASTS on screen, the newest kept; a replay (notifications the
// client reports with `replayed: true`, ended by `resumed` or BURST_QUIET_MS without another one) of more
// than MAX_TOASTS becomes one summary toast ("12 new notifications") that opens the center; each toast
// dismisses itself after `toastMs` (default TOAST_MS) unless it is hovered or focused (WCAG 2.2.2: the
// components pause it, and a paused toast stays until it is left, then gets its full time again).
import type { RealtimeClient } from "../client.js";
import { systemClock, type Clock, type TimerHandle } from "../clock.js";
import type { ConnectionState, NotificationFrame, RealtimeEvents } from "../events.js";
import type { InboxItem, InboxSnapshot } from "../inbox.js";

export const MAX_TOASTS = 3;
/** How long a toast stays when nobody hovers or focuses it. */
export const TOAST_MS = 8000;
/** A replay ends with `resumed`; without one, this long without another replayed notification. */
export const BURST_QUIET_MS = 500;

export interface NotificationItem {
  id: string;
  notification: NotificationFrame;
  read: boolean;
  receivedAt: number;
}

/** A history item (ADR 0020) as the center lists it: its stored time is when it was received. */
export function fromInbox(item: InboxItem): NotificationItem {
  const notification = { type: "notification", version: "1.0", id: item.id, data: item.data } as NotificationFrame;
  return { id: item.id, notification, read: item.read, receivedAt: Date.parse(item.data.timestamp) || 0 };
}

export type Toast =
  | { type: "notification"; id: string; item: NotificationItem }
  /** Stands for `count` notifications of one replay; shows "`count` new notifications" and opens the center. */
  | { type: "summary"; id: string; count: number };

export interface LogEntry {
  at: number;
  text: string;
}

export interface RealtimeSnapshot {
  state: ConnectionState;
  /** Newest first, each id once: the user's history (ADR 0020) and what arrived since. */
  notifications: readonly NotificationItem[];
  /** The user's unread count: the server's once the history is loaded (the same on every device). */
  unread: number;
  /** Older notifications are stored: the center offers "Load older". */
  more: boolean;
  /** Newest last, at most MAX_TOASTS. */
  toasts: readonly Toast[];
  /** Whether the notification center is open (a summary toast opens it). */
  centerOpen: boolean;
  log: readonly LogEntry[];
  /** Bumped on every `refetch` event: reload from the REST API when it changes. */
  refetches: number;
}

export interface RealtimeStoreOptions {
  /** How many recent notifications the center keeps (default 50). */
  maxNotifications?: number;
  /** How long a toast stays unless hovered or focused, in ms (default TOAST_MS); 0 keeps toasts until dismissed. */
  toastMs?: number;
  clock?: Clock;
}

const MAX_LOG = 100;

export class RealtimeStore {
  private snapshot: RealtimeSnapshot = {
    state: "disconnected", notifications: [], unread: 0, more: false, toasts: [], centerOpen: false, log: [], refetches: 0,
  };
  /** The client whose inbox the center shows (history, read state: ADR 0020); null: local read flags only. */
  private inboxClient: RealtimeClient | null = null;
  private inboxLoaded = false;
  private readonly listeners = new Set<() => void>();
  private readonly maxNotifications: number;
  private readonly toastMs: number;
  private readonly clock: Clock;
  private readonly timers = new Map<string, TimerHandle>();
  private readonly paused = new Set<string>();
  /** Toasts of the replay in progress, shown when it ends. */
  private burst: NotificationItem[] = [];
  private burstTimer: TimerHandle | null = null;
  private localIds = 0;
  private summaries = 0;

  constructor(options: RealtimeStoreOptions = {}) {
    this.maxNotifications = options.maxNotifications ?? 50;
    this.toastMs = options.toastMs ?? TOAST_MS;
    this.clock = options.clock ?? systemClock;
  }

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
      client.on("inbox", (inbox) => this.setInbox(inbox)),
      client.on("reconnect-scheduled", ({ attempt, delayMs, reason }) =>
        this.log(`reconnect attempt ${attempt} in ${(delayMs / 1000).toFixed(2)} s (${reason})`)),
      client.on("resumed", ({ recovered, replayed }) => {
        this.endBurst();
        this.log(`resumed: recovered ${recovered}, replayed ${replayed}`);
      }),
      client.on("refetch", ({ reason }) => this.update({ refetches: this.snapshot.refetches + 1 }, `refetch from the REST API (${reason})`)),
      client.on("token-refreshed", ({ expiresAt }) => this.log(`token refreshed, connection valid until ${expiresAt}`)),
      client.on("token-refresh-failed", ({ reason }) => this.log(`token refresh failed: ${reason}`)),
      client.on("auth-required", () => this.log("signed out: sign in again")),
      client.on("unavailable", ({ reason }) => this.log(`live updates unavailable: ${reason}`)),
      client.on("server-error", ({ code, requestId }) => this.log(`server error ${code} (request ${requestId})`)),
      client.on("invalid-frame", ({ error }) => this.log(`invalid frame ignored: ${error.slice(0, 120)}`)),
    ];
    this.inboxClient = client;
    this.update({ state: client.state });
    const inbox = client.inboxState as InboxSnapshot | undefined; // a stand-in client in tests may have none
    if (inbox && !inbox.loading) this.setInbox(inbox);
    return () => {
      subscriptions.forEach((unsubscribe) => unsubscribe());
      if (this.inboxClient === client) this.inboxClient = null;
      this.endBurst();
    };
  }

  /**
   * The user's inbox as the client has it: the listed history with read state, the server's unread count.
   * History is listed, never toasted (only `notification` events toast). Items not in it yet (a notification
   * event before the inbox event that lists it) are kept.
   */
  setInbox(inbox: InboxSnapshot): void {
    if (inbox.loading && !this.inboxLoaded) return;
    this.inboxLoaded = true;
    const listed = inbox.items.map(fromInbox);
    const ids = new Set(listed.map((item) => item.id));
    const notifications = [...this.snapshot.notifications.filter((item) => !ids.has(item.id)), ...listed]
      .sort((a, b) => b.receivedAt - a.receivedAt);
    this.update({ notifications, unread: inbox.unread, more: inbox.more });
  }

  /** The next older page of the history (when `more`). */
  loadOlder(): void {
    this.inboxClient?.loadOlder();
  }

  /**
   * One notification as the client reports it. An id already listed is ignored (not listed or toasted
   * again). `replayed` ones are toasted when their replay ends (endBurst()), as one summary if many.
   */
  addNotification({ notification, toast, replayed }: Pick<RealtimeEvents["notification"], "notification" | "toast" | "replayed">): void {
    const id = notification.id ?? `local-${(this.localIds += 1)}`;
    if (this.snapshot.notifications.some((item) => item.id === id) || this.burst.some((item) => item.id === id)) return;
    const item: NotificationItem = { id, notification, read: false, receivedAt: this.clock.now() };
    // Once the history is loaded the center lists it all (pages of 50, "Load older"); before, the newest only.
    const notifications = [item, ...this.snapshot.notifications].slice(0, this.inboxLoaded ? undefined : this.maxNotifications);
    const text = `notification ${id}${replayed ? " (replayed)" : ""}: ${notification.data.title}`;
    if (toast && replayed) {
      this.burst.push(item);
      if (this.burstTimer !== null) this.clock.clearTimeout(this.burstTimer);
      this.burstTimer = this.clock.setTimeout(() => this.endBurst(), BURST_QUIET_MS);
      this.update({ notifications }, text);
    } else {
      this.update({ notifications, toasts: toast ? this.withToasts([{ type: "notification", id, item }]) : this.snapshot.toasts }, text);
    }
  }

  /** The replay in progress ended: its toasts, or one summary toast when there are more than MAX_TOASTS. */
  endBurst(): void {
    if (this.burstTimer !== null) this.clock.clearTimeout(this.burstTimer);
    this.burstTimer = null;
    const burst = this.burst;
    this.burst = [];
    if (burst.length === 0) return;
    const toasts: Toast[] = burst.length > MAX_TOASTS
      ? [{ type: "summary", id: `summary-${(this.summaries += 1)}`, count: burst.length }]
      : burst.map((item) => ({ type: "notification", id: item.id, item }));
    this.update({ toasts: this.withToasts(toasts) });
  }

  /** Read on every tab and device of the user when the inbox is loaded (the server keeps it); else here. */
  markRead(id: string): void {
    const item = this.snapshot.notifications.find((candidate) => candidate.id === id);
    const { stream, offset } = item?.notification.data ?? {};
    if (this.inboxLoaded && this.inboxClient !== null && stream != null && offset != null) {
      if (!item!.read) this.inboxClient.markRead(stream, offset);
      return;
    }
    this.update({ notifications: this.snapshot.notifications.map((item) => (item.id === id ? { ...item, read: true } : item)) });
  }

  markAllRead(): void {
    if (this.inboxLoaded && this.inboxClient !== null) return this.inboxClient.markAllRead();
    this.update({ notifications: this.snapshot.notifications.map((item) => (item.read ? item : { ...item, read: true })) });
  }

  dismissToast(id: string): void {
    this.stopTimer(id);
    this.paused.delete(id);
    if (this.snapshot.toasts.some((toast) => toast.id === id)) {
      this.update({ toasts: this.snapshot.toasts.filter((toast) => toast.id !== id) });
    }
  }

  /** Hovered or focused: the toast stays (WCAG 2.2.2) until resumeToast(). */
  pauseToast(id: string): void {
    this.paused.add(id);
    this.stopTimer(id);
  }

  /** Left again: the toast gets its full time anew. */
  resumeToast(id: string): void {
    if (!this.paused.delete(id)) return;
    if (this.snapshot.toasts.some((toast) => toast.id === id)) this.startTimer(id);
  }

  setCenterOpen(open: boolean): void {
    if (open !== this.snapshot.centerOpen) this.update({ centerOpen: open });
  }

  /** The toasts with `added` at the end, the oldest dropped beyond MAX_TOASTS (they stay in the center). */
  private withToasts(added: Toast[]): Toast[] {
    const toasts = [...this.snapshot.toasts, ...added];
    const dropped = toasts.slice(0, Math.max(0, toasts.length - MAX_TOASTS));
    for (const toast of dropped) {
      this.stopTimer(toast.id);
      this.paused.delete(toast.id);
    }
    for (const toast of added) this.startTimer(toast.id);
    return toasts.slice(-MAX_TOASTS);
  }

  private startTimer(id: string): void {
    if (this.toastMs <= 0 || this.paused.has(id)) return;
    this.stopTimer(id);
    this.timers.set(id, this.clock.setTimeout(() => {
      this.timers.delete(id);
      this.dismissToast(id);
    }, this.toastMs));
  }

  private stopTimer(id: string): void {
    const timer = this.timers.get(id);
    if (timer === undefined) return;
    this.clock.clearTimeout(timer);
    this.timers.delete(id);
  }

  private log(text: string): void {
    this.update({}, text);
  }

  /** `unread` is the server's once the inbox is loaded; before, it is derived from whatever `notifications` becomes. */
  private update(change: Partial<RealtimeSnapshot>, logText?: string): void {
    const log = logText === undefined ? this.snapshot.log : [...this.snapshot.log, { at: this.clock.now(), text: logText }].slice(-MAX_LOG);
    const unread = change.unread ?? (this.inboxLoaded ? this.snapshot.unread
      : change.notifications ? change.notifications.filter((n) => !n.read).length : this.snapshot.unread);
    this.snapshot = { ...this.snapshot, ...change, unread, log };
    for (const listener of this.listeners) listener();
  }
}
