// RealtimeClient: what the web app uses. It runs the Connection when this tab leads (or when there is no
// tab coordination), mirrors the leader otherwise, drops duplicates by id and keeps the newest cursor.
import { systemClock, type Clock } from "./clock.js";
import { Connection, DEFAULT_HEARTBEAT, type HeartbeatSettings, type NetworkStatus, type WebSocketConstructor } from "./connection.js";
import { Emitter, type ConnectionState, type Listener, type NotificationFrame, type RealtimeEvents } from "./events.js";
import { SeenIds } from "./seen.js";
import { browserTabs, type RelayedEvent, type TabMessage, type TabTransport } from "./tabs.js";

export interface RealtimeClientOptions {
  /** The WebSocket endpoint (`wss://…/<stage>`, locally the READY line's `ws_url`). */
  url: string;
  /** Called before every (re)connect and before the token expires (in-band refresh). Reject to send the user to sign in. */
  getToken: () => Promise<string>;
  /** Share one connection among this browser's tabs (ADR 0009). A string scopes it (e.g. the user id); false: this tab connects alone. */
  tabs?: string | TabTransport | false;
  heartbeat?: Partial<HeartbeatSettings>;
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
  random?: () => number;
  network?: NetworkStatus;
}

const RELAYED: readonly RelayedEvent[] = ["resumed", "refetch", "reconnect-scheduled", "token-refreshed", "token-refresh-failed", "unavailable"];

export class RealtimeClient {
  private readonly events = new Emitter<RealtimeEvents>();
  private readonly seen = new SeenIds();
  private readonly clock: Clock;
  private readonly tabId: string;
  private readonly transport: TabTransport | null;
  private readonly cleanups: Array<() => void> = [];
  private connection: Connection | null = null;
  private releaseLeadership: (() => void) | null = null;
  private cursor: string | null = null;
  private toastTab: string | null = null;
  private started = false;
  private finished = false;
  private mirroredState: ConnectionState = "disconnected";

  constructor(private readonly options: RealtimeClientOptions) {
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    this.tabId = `tab-${Math.floor(random() * 2 ** 48).toString(36)}-${this.clock.now().toString(36)}`;
    const tabs = options.tabs ?? "default";
    this.transport = tabs === false ? null : typeof tabs === "string" ? browserTabs(tabs) : tabs;
  }

  get state(): ConnectionState {
    return this.connection?.state ?? this.mirroredState;
  }

  /** True while this tab holds the browser's connection (always, without tab coordination). */
  get leader(): boolean {
    return this.connection !== null;
  }

  /** The newest notification cursor this browser has seen (sent in `resume` after a reconnect). */
  get lastCursor(): string | null {
    return this.cursor;
  }

  on<K extends keyof RealtimeEvents>(event: K, listener: Listener<RealtimeEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  /** Connects (or joins this browser's connection). A stopped client stays stopped: create a new one. */
  start(): void {
    if (this.started) return;
    if (this.finished) throw new Error("this RealtimeClient was stopped: create a new one");
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
    this.releaseLeadership = transport.requestLeadership(() => this.lead());
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
    events.on("auth-required", (payload) => this.events.emit("auth-required", payload));
    events.on("invalid-frame", (payload) => this.events.emit("invalid-frame", payload));
    events.on("server-error", (payload) => this.events.emit("server-error", payload));
    this.connection = new Connection({
      url: this.options.url,
      getToken: this.options.getToken,
      WebSocket: this.options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor),
      clock: this.clock,
      random: this.options.random ?? Math.random,
      network: this.options.network ?? browserNetwork(),
      heartbeat: { ...DEFAULT_HEARTBEAT, ...this.options.heartbeat },
      events,
      cursor: () => this.cursor,
      onNotification: (frame, replayed) => this.onLeaderNotification(frame, replayed),
      onState: (state) => {
        this.setMirroredState(state);
        relay?.post({ kind: "state", tab: this.tabId, state, cursor: this.cursor });
      },
    });
    this.connection.start();
  }

  private onLeaderNotification(frame: NotificationFrame, replayed: boolean): void {
    if (!this.accept(frame)) return;
    const toastTab = this.toastTab ?? this.tabId;
    this.transport?.post({ kind: "notification", tab: this.tabId, frame, replayed, toastTab });
    this.events.emit("notification", { notification: frame, replayed, toast: toastTab === this.tabId });
  }

  // --- every tab -----------------------------------------------------------------------------------

  /** Drops a duplicate (same id seen in the last 10 minutes) and keeps the newest cursor. */
  private accept(frame: NotificationFrame): boolean {
    this.advanceCursor(frame.data.cursor);
    return frame.id === null || this.seen.add(frame.id, this.clock.now());
  }

  private becameActive(): void {
    this.toastTab = this.tabId;
    this.transport?.post({ kind: "active", tab: this.tabId });
  }

  private onTabMessage(message: TabMessage): void {
    if (message.tab === this.tabId || !this.started) return;
    switch (message.kind) {
      case "hello":
        if (this.connection !== null) {
          this.transport?.post({ kind: "state", tab: this.tabId, state: this.connection.state, cursor: this.cursor });
        }
        return;
      case "active":
        this.toastTab = message.tab;
        return;
      case "bye":
        if (this.toastTab === message.tab) this.toastTab = null;
        return;
      case "state":
        this.advanceCursor(message.cursor);
        if (this.connection === null) this.setMirroredState(message.state);
        return;
      case "notification":
        if (this.connection !== null || !this.accept(message.frame)) return;
        this.toastTab = message.toastTab;
        this.events.emit("notification", { notification: message.frame, replayed: message.replayed, toast: message.toastTab === this.tabId });
        return;
      case "event":
        if (this.connection === null) this.events.emit(message.name, message.payload as never);
        return;
    }
  }

  private advanceCursor(cursor: string | null): void {
    if (cursor !== null && (this.cursor === null || cursor > this.cursor)) this.cursor = cursor;
  }

  private setMirroredState(state: ConnectionState): void {
    if (state === this.mirroredState) return;
    const previous = this.mirroredState;
    this.mirroredState = state;
    this.events.emit("state", { state, previous });
  }
}

/** `navigator.onLine` with the `online` and `visibilitychange` events (ADR 0007: ping at once on both). */
export function browserNetwork(): NetworkStatus {
  const hasWindow = typeof window !== "undefined" && typeof document !== "undefined";
  return {
    online: () => (typeof navigator === "undefined" ? true : navigator.onLine !== false),
    onWake(listener) {
      if (!hasWindow) return () => undefined;
      const online = () => listener("online");
      const visible = () => document.visibilityState === "visible" && listener("visible");
      window.addEventListener("online", online);
      document.addEventListener("visibilitychange", visible);
      return () => {
        window.removeEventListener("online", online);
        document.removeEventListener("visibilitychange", visible);
      };
    },
  };
}
