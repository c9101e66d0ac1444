// The socket owner: one explicit state machine for one WebSocket at a time (STYLE.md "Clients").
// The rules are ADR 0010 (backoff, close codes, error codes, handshakes), ADR 0007 (heartbeat) and the
// v1.1 frames of docs/messages.md (resume by cursor, in-band refresh).
import { backoffDelay, immediateDelay, STABLE_CONNECTION_MS } from "./backoff.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { ConnectionState, Emitter, ErrorCode, NotificationFrame, RealtimeEvents } from "./events.js";
import type { z } from "zod";
import { serverMessageSchema, type clientMessageSchema, type ServerMessage } from "./messages.js";
import { renewalLead, tokenNeedsRenewal, tokenTimes } from "./token.js";

export interface WebSocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A client frame as written (defaults such as `data: null` may be left out). */
type ClientFrame = z.input<typeof clientMessageSchema>;

/** `navigator.onLine` and its events, injected so tests can go offline. */
export interface NetworkStatus {
  online(): boolean;
  /** Called on `online`; also on becoming visible again (ADR 0007: ping at once). Returns an unsubscribe. */
  onWake(listener: (reason: "online" | "visible") => void): () => void;
}

export interface HeartbeatSettings {
  /** ADR 0007: 210 s. */
  intervalMs: number;
  /** ± this much, uniformly (ADR 0007: 15 s). */
  jitterMs: number;
  /** A pong later than this after its ping means the connection is dead (ADR 0007: 10 s). */
  pongTimeoutMs: number;
}

export const DEFAULT_HEARTBEAT: HeartbeatSettings = { intervalMs: 210_000, jitterMs: 15_000, pongTimeoutMs: 10_000 };

export interface ConnectionOptions {
  url: string;
  getToken: () => Promise<string>;
  WebSocket: WebSocketConstructor;
  clock: Clock;
  random: () => number;
  network: NetworkStatus;
  heartbeat: HeartbeatSettings;
  events: Emitter<RealtimeEvents>;
  /** The newest cursor this browser has seen (shared by its tabs), or null. */
  cursor: () => string | null;
  /** Every notification frame as it arrives (the owner drops duplicates and keeps the cursor). */
  onNotification: (frame: NotificationFrame, replayed: boolean) => void;
  onState: (state: ConnectionState) => void;
}

/** Close codes the server and API Gateway produce (ADR 0010). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  abnormal: 1006,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
  heartbeatTimeout: 4000,
} as const;

const RATE_LIMIT_QUIET_MS = 60_000;
const HANDSHAKE_FAILURES_BEFORE_UNAVAILABLE = 5;
const POLICY_CLOSES_BEFORE_STOP = 3;
const INTERNAL_ERRORS_BEFORE_RECONNECT = 3;

export class Connection {
  state: ConnectionState = "disconnected";
  private socket: WebSocketLike | null = null;
  private opened = false;
  private stopped = true;
  private token: string | null = null;
  private attempt = 0;
  private handshakeFailures = 0;
  private policyCloses = 0;
  private internalErrors = 0;
  private retriedWithFreshToken = false;
  private lastError: ErrorCode | null = null;
  private quietUntil = 0;
  private frameCounter = 0;
  private pendingPing: string | null = null;
  /** The token of the `refresh` in flight (adopted on `refreshed`, dropped on its refusal). */
  private pendingToken: string | null = null;
  private resuming = false;
  private everConnected = false;
  private speaks11 = true;
  private readonly timers = new Map<string, TimerHandle>();
  private unsubscribeWake: (() => void) | null = null;
  private waitingForNetwork = false;

  constructor(private readonly options: ConnectionOptions) {}

  // --- transitions -------------------------------------------------------------------------------

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribeWake = this.options.network.onWake(() => this.wake());
    this.enter("connecting");
    void this.attemptConnect();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribeWake?.();
    this.unsubscribeWake = null;
    this.clearAllTimers();
    const socket = this.detachSocket();
    socket?.close(CLOSE.normal, "client closed");
    this.enter("disconnected");
  }

  private async attemptConnect(): Promise<void> {
    this.clearTimer("retry");
    if (this.stopped) return;
    if (!this.options.network.online()) {
      // ADR 0010: while offline, wait for `online` instead of counting attempts.
      this.waitingForNetwork = true;
      return;
    }
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (error) {
      if (this.stopped) return;
      if (!this.options.network.online()) {
        this.waitingForNetwork = true;
        return;
      }
      // ADR 0010: a failed token refresh sends the user to sign in and stops reconnecting.
      this.stop();
      this.options.events.emit("auth-required", { error });
      return;
    }
    if (this.stopped) return;
    this.token = token;
    this.opened = false;
    this.lastError = null;
    const separator = this.options.url.includes("?") ? "&" : "?";
    const socket = new this.options.WebSocket(`${this.options.url}${separator}token=${encodeURIComponent(token)}`);
    this.socket = socket;
    socket.onopen = () => this.onOpen(socket);
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    socket.onclose = (event) => this.onClose(socket, event.code);
    socket.onerror = () => undefined; // always followed by close, which decides
  }

  private onOpen(socket: WebSocketLike): void {
    if (socket !== this.socket) return;
    this.opened = true;
    this.quietUntil = 0; // the server's rate limit is per connection: a new one starts clean
    this.handshakeFailures = 0;
    this.retriedWithFreshToken = false;
    this.internalErrors = 0;
    const reconnect = this.everConnected;
    this.everConnected = true;
    this.enter("connected");
    this.setTimer("stable", STABLE_CONNECTION_MS, () => {
      this.attempt = 0;
      this.policyCloses = 0;
    });
    this.scheduleHeartbeat();
    this.scheduleRefresh();
    const cursor = this.options.cursor();
    if (cursor !== null && this.speaks11) {
      this.resuming = true;
      this.send({ type: "resume", version: "1.1", id: this.nextId("rs"), data: { after: cursor } });
    } else if (reconnect) {
      // Without a cursor nothing can be replayed: whatever was sent during the gap must be refetched.
      this.options.events.emit("refetch", { reason: "no-cursor" });
    }
  }

  private onClose(socket: WebSocketLike, code: number): void {
    if (socket !== this.socket) return;
    this.detachSocket();
    this.clearConnectionTimers();
    if (this.stopped) return;
    this.enter("reconnecting");
    if (!this.opened) {
      this.afterHandshakeFailure();
      return;
    }
    switch (code) {
      case CLOSE.normal:
        if (this.lastError === "TOKEN_EXPIRED") return this.reconnectSoon("token expired");
        if (this.lastError === "RATE_LIMITED") return this.reconnectWithBackoff("rate limited", 30);
        return this.reconnectWithBackoff("closed by the server");
      case CLOSE.goingAway:
        return this.reconnectSoon("going away");
      case CLOSE.policyViolation:
        this.policyCloses += 1;
        if (this.policyCloses >= POLICY_CLOSES_BEFORE_STOP) {
          this.stop();
          this.options.events.emit("unavailable", { reason: `${POLICY_CLOSES_BEFORE_STOP} policy-violation closes in a row` });
          return;
        }
        return this.reconnectWithBackoff("policy violation");
      default:
        return this.reconnectWithBackoff(code === CLOSE.heartbeatTimeout ? "heartbeat timeout" : `closed (${code})`);
    }
  }

  /** A close before `open`: the browser hides the handshake status, so ADR 0010's browser rule applies. */
  private afterHandshakeFailure(): void {
    if (!this.retriedWithFreshToken && (this.token === null || tokenNeedsRenewal(this.token, this.options.clock.now()))) {
      this.retriedWithFreshToken = true; // a 401 most likely: one immediate retry with a new token
      return this.reconnectSoon("handshake refused with an expiring token");
    }
    this.handshakeFailures += 1;
    if (this.handshakeFailures === HANDSHAKE_FAILURES_BEFORE_UNAVAILABLE) {
      this.options.events.emit("unavailable", { reason: `${HANDSHAKE_FAILURES_BEFORE_UNAVAILABLE} handshakes refused` });
    }
    this.reconnectWithBackoff("handshake refused");
  }

  private reconnectWithBackoff(reason: string, floorSeconds = 1): void {
    this.attempt += 1;
    this.scheduleAttempt(backoffDelay(this.attempt, this.options.random, floorSeconds), reason);
  }

  private reconnectSoon(reason: string): void {
    this.scheduleAttempt(immediateDelay(this.options.random), reason);
  }

  private scheduleAttempt(delayMs: number, reason: string): void {
    this.options.events.emit("reconnect-scheduled", { attempt: Math.max(this.attempt, 1), delayMs, reason });
    this.setTimer("retry", delayMs, () => void this.attemptConnect());
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.waitingForNetwork && this.options.network.online()) {
      this.waitingForNetwork = false;
      void this.attemptConnect();
      return;
    }
    if (this.state === "connected") this.sendPing(); // ADR 0007: detect a connection that died meanwhile
  }

  private enter(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.options.onState(state);
  }

  // --- frames ------------------------------------------------------------------------------------

  private onMessage(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.socket) return;
    const text = typeof raw === "string" ? raw : String(raw);
    let parsed: ServerMessage;
    try {
      const result = serverMessageSchema.safeParse(JSON.parse(text));
      if (!result.success) {
        this.options.events.emit("invalid-frame", { raw: text, error: result.error.message });
        return;
      }
      parsed = result.data;
    } catch (error) {
      this.options.events.emit("invalid-frame", { raw: text, error: String(error) });
      return;
    }
    this.onFrame(parsed);
  }

  private onFrame(frame: ServerMessage): void {
    switch (frame.type) {
      case "pong":
        if (frame.id !== null && frame.id === this.pendingPing) {
          this.pendingPing = null;
          this.clearTimer("pong");
          this.internalErrors = 0;
        }
        return;
      case "notification":
        this.options.onNotification(frame, this.resuming);
        return;
      case "resumed":
        this.resuming = false;
        this.options.events.emit("resumed", frame.data);
        if (!frame.data.recovered) this.options.events.emit("refetch", { reason: "not-recovered" });
        return;
      case "refreshed":
        this.onRefreshed(frame.data.expiresAt);
        return;
      case "error":
        this.onError(frame.data);
        return;
    }
  }

  private onError(error: Extract<ServerMessage, { type: "error" }>["data"]): void {
    this.lastError = error.code;
    this.options.events.emit("server-error", error);
    switch (error.code) {
      case "RATE_LIMITED":
        this.quietUntil = this.options.clock.now() + RATE_LIMIT_QUIET_MS;
        break;
      case "TOKEN_INVALID":
        if (this.pendingToken !== null) {
          this.pendingToken = null;
          this.options.events.emit("token-refresh-failed", { reason: error.message });
        }
        break;
      case "INVALID_MESSAGE":
      case "UNSUPPORTED_VERSION":
        // An older server refuses the 1.1 frames: keep receiving, stop sending them (ADR 0010).
        if (this.resuming || this.pendingToken !== null) {
          this.speaks11 = false;
          if (this.resuming) {
            this.resuming = false;
            this.options.events.emit("refetch", { reason: "resume-refused" });
          }
          if (this.pendingToken !== null) {
            this.pendingToken = null;
            this.options.events.emit("token-refresh-failed", { reason: error.message });
          }
        }
        break;
      case "INTERNAL_ERROR":
        this.internalErrors += 1;
        if (this.internalErrors >= INTERNAL_ERRORS_BEFORE_RECONNECT) this.abandonSocket(CLOSE.heartbeatTimeout, "internal errors");
        break;
      default:
        break;
    }
  }

  // --- heartbeat (ADR 0007) ------------------------------------------------------------------------

  private scheduleHeartbeat(): void {
    const { intervalMs, jitterMs } = this.options.heartbeat;
    const delay = intervalMs + (this.options.random() * 2 - 1) * jitterMs;
    this.setTimer("heartbeat", delay, () => this.sendPing());
  }

  private sendPing(): void {
    if (this.socket === null || !this.opened) return;
    const id = this.nextId("hb");
    this.pendingPing = id;
    this.send({ type: "ping", version: "1.0", id }, true);
    this.setTimer("pong", this.options.heartbeat.pongTimeoutMs, () => this.abandonSocket(CLOSE.heartbeatTimeout, "heartbeat timeout"));
    this.scheduleHeartbeat();
  }

  /** Close without waiting for the close handshake: on a dead connection it would never complete. */
  private abandonSocket(code: number, reason: string): void {
    const socket = this.socket;
    if (socket === null) return;
    try {
      socket.close(code, reason);
    } catch {
      // already closing
    }
    this.onClose(socket, code);
  }

  // --- in-band token refresh -------------------------------------------------------------------------

  private scheduleRefresh(): void {
    this.clearTimer("refresh");
    const times = this.token === null ? null : tokenTimes(this.token);
    if (times === null || !this.speaks11) return;
    const delay = Math.max(0, times.expiresAt - renewalLead(times) - this.options.clock.now());
    this.setTimer("refresh", delay, () => void this.refresh());
  }

  private async refresh(): Promise<void> {
    const quiet = this.quietUntil - this.options.clock.now();
    if (quiet > 0) {
      this.setTimer("refresh", quiet, () => void this.refresh()); // after RATE_LIMITED's quiet minute
      return;
    }
    const before = this.token === null ? null : tokenTimes(this.token);
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (error) {
      this.options.events.emit("token-refresh-failed", { reason: `getToken() failed: ${String(error)}` });
      return;
    }
    const after = tokenTimes(token);
    if (this.socket === null || !this.opened) return;
    if (after === null || (before !== null && after.expiresAt <= before.expiresAt)) {
      this.options.events.emit("token-refresh-failed", { reason: "getToken() returned no newer token" });
      return;
    }
    this.pendingToken = token;
    this.send({ type: "refresh", version: "1.1", id: this.nextId("rf"), data: { token } });
  }

  private onRefreshed(expiresAt: string): void {
    if (this.pendingToken !== null) this.token = this.pendingToken;
    this.pendingToken = null;
    this.options.events.emit("token-refreshed", { expiresAt });
    this.scheduleRefresh();
  }

  // --- plumbing ------------------------------------------------------------------------------------

  private send(frame: ClientFrame, heartbeat = false): void {
    if (this.socket === null) return;
    if (!heartbeat && this.options.clock.now() < this.quietUntil) return; // ADR 0010: only the heartbeat for 60 s
    this.socket.send(JSON.stringify(frame));
  }

  private nextId(prefix: string): string {
    this.frameCounter += 1;
    return `${prefix}-${this.frameCounter}`;
  }

  private detachSocket(): WebSocketLike | null {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    }
    return socket;
  }

  private setTimer(name: string, ms: number, callback: () => void): void {
    this.clearTimer(name);
    this.timers.set(name, this.options.clock.setTimeout(() => {
      this.timers.delete(name);
      callback();
    }, ms));
  }

  private clearTimer(name: string): void {
    const handle = this.timers.get(name);
    if (handle !== undefined) this.options.clock.clearTimeout(handle);
    this.timers.delete(name);
  }

  private clearConnectionTimers(): void {
    for (const name of ["stable", "heartbeat", "pong", "refresh"]) this.clearTimer(name);
    this.pendingPing = null;
    this.pendingToken = null;
    this.resuming = false;
  }

  private clearAllTimers(): void {
    for (const name of [...this.timers.keys()]) this.clearTimer(name);
  }
}
