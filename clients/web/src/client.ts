// RealtimeClient: what the web app uses. It runs the Connection when this tab leads (or when there is no
// tab coordination), mirrors the leader otherwise, delivers each notification once (by stream, epoch and
// offset; src/streams.ts) and keeps the positions per user in the browser's storage across reloads.
import { systemClock, type Clock } from "./clock.js";
import { Connection, DEFAULT_HEARTBEAT, type HeartbeatSettings, type NetworkStatus, type WebSocketConstructor } from "./connection.js";
import { Emitter, type ConnectionState, type Listener, type MachineState, type NotificationFrame, type RealtimeEvents } from "./events.js";
import { browserStorage, Ledger, loadPositions, savePositions, type PositionStorage, type StreamsSnapshot } from "./streams.js";
import { Inbox, type InboxSnapshot } from "./inbox.js";
import type { InboxFrame, StreamName } from "./protocol.js";
import { browserTabs, type InboxCommand, type RelayedEvent, type TabMessage, type TabTransport } from "./tabs.js";
import { tokenTimes } from "./token.js";
import { parseServerFrame } from "./validate.js";

export interface RealtimeClientOptions {
  /** The WebSocket endpoint (`wss://…/<stage>`, locally the READY line's `ws_url`). */
  url: string;
  /**
   * Called before every (re)connect and before the token expires (in-band refresh), with a 10 s deadline.
   * Throw `AuthRequiredError` when the user must sign in again; any other failure is retried with backoff.
   */
  getToken: () => Promise<string>;
  /** Share one connection among this browser's tabs (ADR 0009). A string scopes it (e.g. the user id); false: this tab connects alone. */
  tabs?: string | TabTransport | false;
  /** Whose positions these are (the storage key); default: the `sub` of the token, read without verifying. */
  userId?: string;
  /** Where positions survive a reload; default `localStorage`, null: memory only. */
  storage?: PositionStorage | null;
  heartbeat?: Partial<HeartbeatSettings>;
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
  random?: () => number;
  network?: NetworkStatus;
}

const RELAYED: readonly RelayedEvent[] = ["resumed", "refetch", "reconnect-scheduled", "token-refreshed", "token-refresh-failed", "unavailable"];

export class RealtimeClient {
  private readonly events = new Emitter<RealtimeEvents>();
  private readonly ledger = new Ledger();
  private readonly clock: Clock;
  private readonly storage: PositionStorage | null;
  private readonly tabId: string;
  private readonly transport: TabTransport | null;
  private readonly cleanups: Array<() => void> = [];
  private connection: Connection | null = null;
  private releaseLeadership: (() => void) | null = null;
  /** The user whose positions the ledger holds (and whose storage key it writes). */
  private user: string | null = null;
  private toastTab: string | null = null;
  private started = false;
  private finished = false;
  /** `auth-required` was emitted here and no tab has connected since (so it is emitted once per episode). */
  private signInNeeded = false;
  private mirroredState: ConnectionState = "disconnected";
  /** The leader's inbox (ADR 0020); a follower shows the leader's last snapshot. */
  private inbox = new Inbox();
  private inboxView: InboxSnapshot = this.inbox.snapshot();

  constructor(private readonly options: RealtimeClientOptions) {
    this.clock = options.clock ?? systemClock;
    this.storage = options.storage === undefined ? browserStorage() : options.storage;
    const random = options.random ?? Math.random;
    this.tabId = `tab-${Math.floor(random() * 2 ** 48).toString(36)}-${this.clock.now().toString(36)}`;
    const tabs = options.tabs ?? "default";
    this.transport = tabs === false ? null : typeof tabs === "string" ? browserTabs(tabs) : tabs;
    if (options.userId !== undefined) this.useUser(options.userId);
  }

  get state(): ConnectionState {
    return this.connection?.state ?? this.mirroredState;
  }

  /** The connection machine's state in the leader tab (null in a follower). */
  get machineState(): MachineState | null {
    return this.connection?.machine ?? null;
  }

  /** True while this tab holds the browser's connection (always, without tab coordination). */
  get leader(): boolean {
    return this.connection !== null;
  }

  /** This tab's positions per stream and the offsets it holds above them (what `resume` will send). */
  get positions(): StreamsSnapshot {
    return this.ledger.streams.snapshot();
  }

  /** The user's stored notifications with read state and the server's unread count (the same in every tab). */
  get inboxState(): InboxSnapshot {
    return this.inboxView;
  }

  /** Marks one notification read for the user (every tab and device is told). */
  markRead(stream: StreamName, offset: number): void {
    this.inboxCommand({ action: "read", stream, offset });
  }

  /** Marks everything listed read (a notification that arrives meanwhile stays unread). */
  markAllRead(): void {
    this.inboxCommand({ action: "read-all" });
  }

  /** Asks for the next older page of the history (when `inboxState.more`). */
  loadOlder(): void {
    this.inboxCommand({ action: "older" });
  }

  on<K extends keyof RealtimeEvents>(event: K, listener: Listener<RealtimeEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Connects (or joins this browser's connection). After `auth-required`, call it again once the user has
   * signed in. A client ended with stop() stays stopped: create a new one.
   */
  start(): void {
    if (this.finished) throw new Error("this RealtimeClient was stopped: create a new one");
    if (this.started) {
      if (this.connection === null && this.releaseLeadership === null) this.compete();
      return;
    }
    this.started = true;
    if (this.transport === null) {
      this.lead();
      return;
    }
    const transport = this.transport;
    this.setMirroredState("connecting");
    this.cleanups.push(transport.onMessage((message) => this.onTabMessage(message)));
    this.cleanups.push(transport.onActive(() => this.becameActive()));
    transport.post({ kind: "hello", tab: this.tabId });
    if (transport.isActive()) this.becameActive();
    this.compete();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.finished = true;
    this.connection?.stop();
    this.connection = null;
    this.transport?.post({ kind: "bye", tab: this.tabId });
    this.releaseLeadership?.();
    this.releaseLeadership = null;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.transport?.close();
    this.setMirroredState("disconnected");
  }

  // --- leader -------------------------------------------------------------------------------------

  /** Queue for the browser's connection (ADR 0009); without tab coordination, connect. */
  private compete(): void {
    if (this.transport === null) return this.lead();
    this.releaseLeadership = this.transport.requestLeadership(() => this.lead());
  }

  private lead(): void {
    if (!this.started) return;
    const relay = this.transport;
    const events = new Emitter<RealtimeEvents>();
    for (const name of RELAYED) {
      events.on(name, (payload) => {
        this.events.emit(name, payload as never);
        relay?.post({ kind: "event", tab: this.tabId, name, payload });
      });
    }
    for (const name of ["transition", "invalid-frame", "unknown-frame", "server-error", "socket-error"] as const) {
      events.on(name, (payload) => this.events.emit(name, payload as never));
    }
    events.on("auth-required", (payload) => this.authRequired(payload));
    // After every (re)connect the center is the server's: the first page of the history (never toasted).
    events.on("resumed", () => this.sendInbox(this.inbox.firstPage()));
    this.inbox = new Inbox();
    this.connection = new Connection({
      url: this.options.url,
      getToken: this.options.getToken,
      WebSocket: this.options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor),
      clock: this.clock,
      random: this.options.random ?? Math.random,
      network: this.options.network ?? browserNetwork(),
      heartbeat: { ...DEFAULT_HEARTBEAT, ...this.options.heartbeat },
      events,
      ledger: this.ledger,
      deliver: (frame, replayed, original) => this.deliverAsLeader(frame, replayed, original),
      onInbox: (frame) => this.onInboxFrame(frame),
      onPositions: () => this.positionsChanged(),
      onToken: (token) => this.useUser(this.options.userId ?? tokenTimes(token)?.subject ?? null),
      onState: (state) => {
        if (state === "connected") this.signInNeeded = false;
        this.setMirroredState(state);
        relay?.post({ kind: "state", tab: this.tabId, state });
      },
    });
    this.connection.start();
  }

  /**
   * The user must sign in: every tab is told, and this tab gives the connection up (the lock included), so
   * that a tab whose getToken() works again — signed in there — takes over and connects (issue 18 §3).
   */
  private authRequired(payload: RealtimeEvents["auth-required"]): void {
    this.connection = null;
    if (!this.signInNeeded) this.events.emit("auth-required", payload);
    this.signInNeeded = true;
    // Told before the lock goes, so every tab hears it as a follower.
    this.transport?.post({ kind: "event", tab: this.tabId, name: "auth-required", payload: { error: describeForTabs(payload.error) } });
    this.setMirroredState("disconnected");
    this.transport?.post({ kind: "state", tab: this.tabId, state: "disconnected" });
    this.releaseLeadership?.();
    this.releaseLeadership = null;
  }

  private deliverAsLeader(frame: NotificationFrame, replayed: boolean, original: unknown): void {
    const toastTab = this.toastTab ?? this.tabId;
    this.transport?.post({ kind: "notification", tab: this.tabId, frame: original, replayed, toastTab });
    this.events.emit("notification", { notification: frame, replayed, toast: toastTab === this.tabId });
    if (this.inbox.onNotification(frame)) this.inboxChanged();
  }

  // --- inbox (ADR 0020) ----------------------------------------------------------------------------

  private inboxCommand(command: InboxCommand): void {
    if (this.connection === null) {
      this.transport?.post({ kind: "inbox-command", tab: this.tabId, command });
      return;
    }
    const request = command.action === "read" ? this.inbox.markRead(command.stream, command.offset)
      : command.action === "read-all" ? this.inbox.markAllRead() : this.inbox.olderPage();
    if (request === null) return;
    this.sendInbox(request);
    this.inboxChanged();
  }

  private sendInbox(request: Parameters<Connection["sendInbox"]>[0]): void {
    if (this.connection?.sendInbox(request) === false && request.type === "history") this.inbox.requestFailed();
  }

  private onInboxFrame(frame: InboxFrame): void {
    if (frame.type === "history") {
      if (!this.inbox.onHistory(frame)) return;
    } else if (frame.type === "read.state") {
      this.inbox.onReadState(frame.data);
    } else {
      this.inbox.requestFailed();
    }
    this.inboxChanged();
  }

  private inboxChanged(): void {
    this.inboxView = this.inbox.snapshot();
    this.events.emit("inbox", this.inboxView);
    this.transport?.post({ kind: "inbox", tab: this.tabId, snapshot: this.inboxView });
  }

  private positionsChanged(): void {
    const snapshot = this.ledger.streams.snapshot();
    if (this.user !== null) savePositions(this.storage, this.user, snapshot);
    this.transport?.post({ kind: "positions", tab: this.tabId, snapshot });
  }

  /** Positions belong to one user: load theirs from storage (a reload resumes instead of starting blind). */
  private useUser(user: string | null): void {
    if (user === null || user === this.user) return;
    const switched = this.user !== null;
    this.user = user;
    const stored = loadPositions(this.storage, user);
    if (switched) this.ledger.streams.restore(stored ?? { v: 1, positions: {}, held: {} });
    else if (stored && Object.keys(this.ledger.streams.resumePositions()).length === 0) this.ledger.streams.restore(stored);
  }

  // --- every tab -----------------------------------------------------------------------------------

  private becameActive(): void {
    this.toastTab = this.tabId;
    this.transport?.post({ kind: "active", tab: this.tabId });
  }

  private onTabMessage(message: TabMessage): void {
    if (message.tab === this.tabId || !this.started) return;
    switch (message.kind) {
      case "hello":
        if (this.connection !== null) {
          this.transport?.post({ kind: "state", tab: this.tabId, state: this.connection.state });
          this.transport?.post({ kind: "positions", tab: this.tabId, snapshot: this.ledger.streams.snapshot() });
          this.transport?.post({ kind: "inbox", tab: this.tabId, snapshot: this.inboxView });
        }
        return;
      case "inbox":
        if (this.connection !== null) return;
        this.inboxView = message.snapshot;
        this.events.emit("inbox", this.inboxView);
        return;
      case "inbox-command":
        if (this.connection !== null) this.inboxCommand(message.command);
        return;
      case "active":
        this.toastTab = message.tab;
        this.connection?.check(); // a tab the user looks at again: is the connection still alive?
        return;
      case "bye":
        if (this.toastTab === message.tab) this.toastTab = null;
        return;
      case "state":
        if (this.connection !== null) return;
        if (message.state === "connected") this.signInNeeded = false;
        // Signed out here, but another tab connected again (signed in there): queue up to take over when it
        // closes. Only on "connected": tabs that all need sign-in must not hand the lock around in a loop.
        if (message.state === "connected" && this.releaseLeadership === null) this.compete();
        this.setMirroredState(message.state);
        return;
      case "positions":
        if (this.connection === null) this.ledger.streams.restore(message.snapshot);
        return;
      case "notification":
        if (this.connection === null) this.deliverRelayed(message);
        return;
      case "event":
        // auth-required also when this tab was granted the lock before the message arrived: every tab hears it.
        if (message.name === "auth-required") {
          if (!this.signInNeeded) this.events.emit("auth-required", message.payload as RealtimeEvents["auth-required"]);
          this.signInNeeded = true;
          return;
        }
        if (this.connection === null) this.events.emit(message.name, message.payload as never);
        return;
    }
  }

  /** Relayed frames get the same rules as the socket's: validated here, delivered once. */
  private deliverRelayed(message: Extract<TabMessage, { kind: "notification" }>): void {
    const result = parseServerFrame(message.frame);
    if (!result.ok || result.frame.type !== "notification") {
      if (result.ok || result.reason === "invalid") this.events.emit("invalid-frame", { raw: safeJson(message.frame), error: "not a valid relayed notification" });
      else this.events.emit("unknown-frame", { type: String((message.frame as { type?: unknown } | null)?.type) });
      return;
    }
    if (this.ledger.accept(result.frame, true) === "duplicate") return;
    this.toastTab = message.toastTab;
    this.events.emit("notification", { notification: result.frame, replayed: message.replayed, toast: message.toastTab === this.tabId });
  }

  private setMirroredState(state: ConnectionState): void {
    if (state === this.mirroredState) return;
    const previous = this.mirroredState;
    this.mirroredState = state;
    this.events.emit("state", { state, previous });
  }
}

/** Errors are not all structured-cloneable (BroadcastChannel): other tabs get the message only. */
function describeForTabs(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value).slice(0, 512);
  } catch {
    return String(value);
  }
}

/** `navigator.onLine` with `online`, `offline` and `visibilitychange` (ADR 0007, ADR 0010, issue 18 §6). */
export function browserNetwork(): NetworkStatus {
  const hasWindow = typeof window !== "undefined" && typeof document !== "undefined";
  return {
    online: () => (typeof navigator === "undefined" ? true : navigator.onLine !== false),
    watch(listener) {
      if (!hasWindow) return () => undefined;
      const online = () => listener("online");
      const offline = () => listener("offline");
      const visible = () => document.visibilityState === "visible" && listener("visible");
      window.addEventListener("online", online);
      window.addEventListener("offline", offline);
      document.addEventListener("visibilitychange", visible);
      return () => {
        window.removeEventListener("online", online);
        window.removeEventListener("offline", offline);
        document.removeEventListener("visibilitychange", visible);
      };
    },
  };
}
