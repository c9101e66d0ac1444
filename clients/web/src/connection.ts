// The socket owner: ONE explicit state machine for one WebSocket at a time (STYLE.md "Clients").
// `TRANSITIONS` below is the whole machine; ADR 0010 ("Connection state machine", 2026-12-02) prints the
// same table and docs/web.md draws it. The rules are ADR 0010 (backoff, close codes, error codes,
// handshakes), ADR 0007 (heartbeat) and protocol 2.0 (docs/messages.md: resume by positions, refresh).
import { backoffDelay, immediateDelay, STABLE_CONNECTION_MS } from "./backoff.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { ConnectionState, Emitter, MachineState, RealtimeEvents } from "./events.js";
import { PROTOCOL_VERSION, type ClientFrame, type ErrorFrame, type Heads, type InboxFrame, type NotificationFrame, type ServerFrame } from "./protocol.js";
import type { Ledger } from "./streams.js";
import { isAuthRequired, renewalLead, TOKEN_TIMEOUT_MS, tokenNeedsRenewal, tokenTimes } from "./token.js";
import { parseServerFrame } from "./validate.js";

export interface WebSocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `navigator.onLine` and its events, injected so tests can go offline. */
export interface NetworkStatus {
  online(): boolean;
  /** `offline`, `online`, and this tab becoming visible (ADR 0007: ping at once). Returns an unsubscribe. */
  watch(listener: (event: "online" | "offline" | "visible") => void): () => void;
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
  /** What this tab has delivered (positions per stream, ids): read for `resume`, updated by every frame. */
  ledger: Ledger;
  /** A notification not delivered before; `original` is the frame as received (relayed to other tabs). */
  deliver: (frame: NotificationFrame, replayed: boolean, original: unknown) => void;
  /** The positions changed (persist and relay them). */
  onPositions: () => void;
  /** A token was obtained (the owner learns the user from it). */
  onToken: (token: string) => void;
  onState: (state: ConnectionState) => void;
  /** The inbox's frames (`history` parts and `read.state`, ADR 0020); absent: ignored. */
  onInbox?: (frame: InboxFrame) => void;
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
  /** The client gave up on a resume that never got an answer (it refetches and starts fresh). */
  resumeFailed: 4001,
} as const;

/**
 * What happens to the machine. `token`: getToken() settled and the socket is created; `fail`: an
 * attempt failed before `open` (getToken() failed or timed out, the constructor threw, the handshake was
 * refused); `close`: an open connection ended; `gap`: a gap outlived its grace or a `pong` head is ahead;
 * `resume-retry`: a resume got no valid answer and is sent again; `resumed`: a valid `resumed` ended it (or
 * the bounded retry gave up with heads to adopt); `give-up`: ADR 0010's stop after 3 policy closes;
 * `auth-required`: getToken() threw AuthRequiredError.
 */
export type Input =
  | "start" | "token" | "fail" | "retry" | "open" | "resumed" | "resume-retry" | "gap" | "close"
  | "offline" | "online" | "give-up" | "auth-required" | "stop";

/** The machine: for each state, the inputs it accepts and the state each leads to. Anything else is ignored. */
export const TRANSITIONS: Readonly<Record<MachineState, Partial<Record<Input, MachineState>>>> = {
  idle: { start: "connecting", stop: "stopped" },
  connecting: { token: "connecting", fail: "reconnecting", open: "resuming", offline: "offline", "auth-required": "stopped", stop: "stopped" },
  reconnecting: { retry: "reconnecting", online: "reconnecting", token: "reconnecting", fail: "reconnecting", open: "resuming", offline: "offline", "auth-required": "stopped", stop: "stopped" },
  offline: { online: "reconnecting", stop: "stopped" },
  resuming: { resumed: "live", "resume-retry": "resuming", close: "reconnecting", "give-up": "stopped", offline: "offline", stop: "stopped" },
  live: { gap: "resuming", close: "reconnecting", "give-up": "stopped", offline: "offline", stop: "stopped" },
  stopped: {},
};

/** What the indicator shows for each machine state. */
export const PUBLIC_STATE: Readonly<Record<MachineState, ConnectionState>> = {
  idle: "disconnected",
  connecting: "connecting",
  reconnecting: "reconnecting",
  offline: "offline",
  resuming: "connected",
  live: "connected",
  stopped: "disconnected",
};

const RATE_LIMIT_QUIET_MS = 60_000;
const HANDSHAKE_FAILURES_BEFORE_UNAVAILABLE = 5;
const POLICY_CLOSES_BEFORE_STOP = 3;
const INTERNAL_ERRORS_BEFORE_RECONNECT = 3;
/** docs/messages.md rule 2: a gap open longer than this makes the client resume. */
export const GAP_GRACE_MS = 3_000;
/** A resume with no frame and no answer for this long has failed (each replayed frame restarts it). */
export const RESUME_ANSWER_TIMEOUT_MS = 10_000;
/** Resumes sent per episode before it ends in `refetch`. */
export const MAX_RESUME_ATTEMPTS = 3;
/** A `refresh` without `refreshed` or `TOKEN_INVALID` for this long has failed. */
const REFRESH_ANSWER_TIMEOUT_MS = 10_000;
/** When another tab becomes visible the leader pings with this (shorter) pong deadline... */
export const CHECK_PONG_TIMEOUT_MS = 5_000;
/** ...at most once per this interval (tab switching must not eat the server's rate limit). */
const CHECK_MIN_INTERVAL_MS = 10_000;

export class Connection {
  machine: MachineState = "idle";
  private socket: WebSocketLike | null = null;
  /** Incremented whenever a socket or an attempt is given up: late async results of older ones are dropped. */
  private generation = 0;
  private token: string | null = null;
  private attempt = 0;
  private handshakeFailures = 0;
  private policyCloses = 0;
  private internalErrors = 0;
  private retriedWithFreshToken = false;
  private lastError: string | null = null;
  private quietUntil = 0;
  private frameCounter = 0;
  private pendingPing: string | null = null;
  private lastCheckAt = -Infinity;
  private resumeId: string | null = null;
  private resumeAttempts = 0;
  /** The token of the `refresh` in flight (adopted on `refreshed`, dropped on its refusal or a reconnect). */
  private pendingToken: string | null = null;
  private refreshFailures = 0;
  private readonly timers = new Map<string, TimerHandle>();
  private unsubscribeNetwork: (() => void) | null = null;

  constructor(private readonly options: ConnectionOptions) {}

  get state(): ConnectionState {
    return PUBLIC_STATE[this.machine];
  }

  /** Applies `input` if the table allows it in the current state; false (and nothing changes) otherwise. */
  private go(input: Input): boolean {
    const to = TRANSITIONS[this.machine][input];
    if (to === undefined) return false;
    const from = this.machine;
    this.machine = to;
    this.options.events.emit("transition", { from, to, input });
    if (PUBLIC_STATE[from] !== PUBLIC_STATE[to]) this.options.onState(PUBLIC_STATE[to]);
    return true;
  }

  // --- lifecycle -----------------------------------------------------------------------------------

  start(): void {
    if (!this.go("start")) return;
    this.unsubscribeNetwork = this.options.network.watch((event) => this.onNetwork(event));
    if (!this.options.network.online()) return this.enterOffline();
    void this.connect();
  }

  stop(): void {
    this.shutdown();
    this.go("stop");
  }

  /** A visible follower asks the leader to check its connection (ADR 0009 + issue 18 §6). */
  check(): void {
    const now = this.options.clock.now();
    if (now - this.lastCheckAt < CHECK_MIN_INTERVAL_MS) return;
    this.lastCheckAt = now;
    this.sendPing(CHECK_PONG_TIMEOUT_MS);
  }

  private shutdown(): void {
    this.generation += 1;
    this.unsubscribeNetwork?.();
    this.unsubscribeNetwork = null;
    this.clearAllTimers();
    this.detachSocket()?.close(CLOSE.normal, "client closed");
  }

  private onNetwork(event: "online" | "offline" | "visible"): void {
    if (event === "offline") return this.enterOffline();
    if (event === "online" && (this.machine === "offline" || this.timers.has("retry"))) {
      // Back at once, cutting a pending backoff short: the failures were the network's.
      if (this.go("online")) void this.connect();
      return;
    }
    if (this.machine === "live" || this.machine === "resuming") this.sendPing(); // ADR 0007
  }

  private enterOffline(): void {
    if (!TRANSITIONS[this.machine].offline) return;
    this.generation += 1;
    for (const name of [...this.timers.keys()]) this.clearTimer(name);
    this.detachSocket()?.close(CLOSE.normal, "offline");
    this.resetConnectionState();
    this.go("offline");
  }

  // --- attempts ------------------------------------------------------------------------------------

  private async connect(): Promise<void> {
    this.clearTimer("retry");
    const generation = ++this.generation;
    let token: string;
    try {
      token = await this.fetchToken();
    } catch (error) {
      if (generation !== this.generation) return;
      if (isAuthRequired(error)) {
        this.shutdown();
        this.go("auth-required");
        this.options.events.emit("auth-required", { error });
        return;
      }
      return this.attemptFailed(`getToken() failed: ${describe(error)}`, false);
    }
    if (generation !== this.generation) return;
    this.token = token;
    this.options.onToken(token);
    this.go("token");
    const separator = this.options.url.includes("?") ? "&" : "?";
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(`${this.options.url}${separator}token=${encodeURIComponent(token)}`);
    } catch (error) {
      this.options.events.emit("socket-error", { error: describe(error) });
      return this.attemptFailed("the WebSocket constructor threw", false);
    }
    this.socket = socket;
    this.lastError = null;
    socket.onopen = () => this.onOpen(socket);
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    socket.onclose = (event) => this.onClose(socket, event.code);
    socket.onerror = () => undefined; // always followed by close, which decides
  }

  /** getToken() with a deadline: a promise that never settles must not leave the client "connecting". */
  private fetchToken(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = this.options.clock.setTimeout(
        () => reject(new Error(`getToken() did not settle within ${TOKEN_TIMEOUT_MS / 1000} s`)), TOKEN_TIMEOUT_MS);
      Promise.resolve()
        .then(() => this.options.getToken())
        .then(
          (token) => (typeof token === "string" && token.length > 0 ? resolve(token) : reject(new Error("getToken() returned no token"))),
          reject,
        )
        .finally(() => this.options.clock.clearTimeout(timer));
    });
  }

  /** An attempt that never opened. `handshake`: the socket closed before `open` (ADR 0010's browser rule). */
  private attemptFailed(reason: string, handshake: boolean): void {
    if (!this.options.network.online()) return this.enterOffline();
    this.go("fail");
    if (!handshake) return this.reconnectWithBackoff(reason);
    if (!this.retriedWithFreshToken && (this.token === null || tokenNeedsRenewal(this.token, this.options.clock.now()))) {
      this.retriedWithFreshToken = true; // a 401 most likely: one immediate retry with a new token
      return this.reconnectSoon("handshake refused with an expiring token");
    }
    this.handshakeFailures += 1;
    if (this.handshakeFailures === HANDSHAKE_FAILURES_BEFORE_UNAVAILABLE) {
      this.options.events.emit("unavailable", { reason: `${HANDSHAKE_FAILURES_BEFORE_UNAVAILABLE} handshakes refused` });
    }
    this.reconnectWithBackoff(reason);
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
    this.setTimer("retry", delayMs, () => {
      if (this.go("retry")) void this.connect();
    });
  }

  private onOpen(socket: WebSocketLike): void {
    if (socket !== this.socket || !this.go("open")) return;
    this.quietUntil = 0; // the server's rate limit is per connection: a new one starts clean
    this.handshakeFailures = 0;
    this.retriedWithFreshToken = false;
    this.internalErrors = 0;
    this.refreshFailures = 0;
    this.setTimer("stable", STABLE_CONNECTION_MS, () => {
      this.attempt = 0;
      this.policyCloses = 0;
    });
    this.scheduleHeartbeat();
    this.scheduleRefresh();
    this.resumeAttempts = 0;
    this.sendResume(); // after every (re)connect, also a fresh tab's first (with no positions)
  }

  private onClose(socket: WebSocketLike, code: number): void {
    if (socket !== this.socket) return;
    const wasOpen = this.machine === "resuming" || this.machine === "live";
    this.detachSocket();
    this.clearConnectionTimers();
    if (!wasOpen) return this.attemptFailed("handshake refused", true);
    if (!this.options.network.online()) return this.enterOffline();
    if (code === CLOSE.policyViolation && this.policyCloses + 1 >= POLICY_CLOSES_BEFORE_STOP) {
      this.shutdown();
      this.go("give-up");
      this.options.events.emit("unavailable", { reason: `${POLICY_CLOSES_BEFORE_STOP} policy-violation closes in a row` });
      return;
    }
    this.go("close");
    switch (code) {
      case CLOSE.normal:
        if (this.lastError === "TOKEN_EXPIRED") return this.reconnectSoon("token expired");
        if (this.lastError === "CONNECTION_UNKNOWN") return this.reconnectSoon("connection unknown to the server");
        if (this.lastError === "RATE_LIMITED") return this.reconnectWithBackoff("rate limited", 30);
        return this.reconnectWithBackoff("closed by the server");
      case CLOSE.goingAway:
        return this.reconnectSoon("going away");
      case CLOSE.policyViolation:
        this.policyCloses += 1;
        return this.reconnectWithBackoff("policy violation");
      default:
        return this.reconnectWithBackoff(
          code === CLOSE.heartbeatTimeout ? "heartbeat timeout" : code === CLOSE.resumeFailed ? "resume failed" : `closed (${code})`);
    }
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

  // --- frames --------------------------------------------------------------------------------------

  private onMessage(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.socket) return;
    const text = typeof raw === "string" ? raw : String(raw);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      document = undefined;
    }
    const result = document === undefined ? ({ ok: false, reason: "invalid" } as const) : parseServerFrame(document);
    if (result.ok) return this.onFrame(result.frame, document);
    if (result.reason === "unknown-type") {
      this.options.events.emit("unknown-frame", { type: String((document as { type: unknown }).type) });
      return;
    }
    this.options.events.emit("invalid-frame", { raw: text.slice(0, 512), error: "not a valid server frame" });
    // An invalid `resumed`, API Gateway's own error body (no `type`) or anything else that is not a
    // notification answers the resume in flight: it failed (issue 18 §2).
    if (this.machine === "resuming" && (document as { type?: unknown } | undefined)?.type !== "notification") {
      this.resumeFailed("an invalid answer", null);
    }
  }

  private onFrame(frame: ServerFrame, original: unknown): void {
    switch (frame.type) {
      case "pong":
        if (frame.id === null || frame.id !== this.pendingPing) return; // a late pong of an earlier ping
        this.pendingPing = null;
        this.clearTimer("pong");
        this.internalErrors = 0;
        if (frame.data.heads && this.machine === "live" && this.options.ledger.streams.behind(frame.data.heads)) this.startResume();
        return;
      case "notification":
        return this.onNotification(frame, original);
      case "resumed":
        return this.onResumed(frame.id, frame.data);
      case "refreshed":
        return this.onRefreshed(frame.data.expiresAt);
      case "error":
        return this.onError(frame.data);
      case "history":
      case "read.state":
        return this.options.onInbox?.(frame);
    }
  }

  /**
   * Sends an inbox frame (`history`, `read`, `read.all`) on the open connection; false when there is none
   * (or the client keeps quiet after RATE_LIMITED): the caller asks again after the next `resumed`.
   */
  sendInbox(frame: ClientFrame): boolean {
    if (this.socket === null || (this.machine !== "live" && this.machine !== "resuming")) return false;
    if (this.options.clock.now() < this.quietUntil) return false;
    this.send(frame);
    return true;
  }

  private onNotification(frame: NotificationFrame, original: unknown): void {
    const resuming = this.machine === "resuming";
    // Rule 3: frames before `resumed` are delivered once but never move a position.
    const acceptance = this.options.ledger.accept(frame, !resuming);
    if (resuming && this.timers.has("resume")) this.setTimer("resume", RESUME_ANSWER_TIMEOUT_MS, () => this.resumeFailed("no answer", null));
    if (acceptance === "duplicate") return;
    this.options.deliver(frame, resuming, original);
    this.options.onPositions();
    if (resuming) return;
    if (acceptance === "other-epoch") return this.startResume();
    this.watchGap();
  }

  /** Rule 2: a gap that stays open past the grace makes the client resume. */
  private watchGap(): void {
    if (!this.options.ledger.streams.gapOpen()) return this.clearTimer("gap");
    if (this.timers.has("gap")) return;
    this.setTimer("gap", GAP_GRACE_MS, () => {
      if (this.machine === "live" && this.options.ledger.streams.gapOpen()) this.startResume();
    });
  }

  private startResume(): void {
    if (!this.go("gap")) return;
    this.clearTimer("gap");
    this.resumeAttempts = 0;
    this.sendResume();
  }

  private sendResume(): void {
    const quiet = this.quietUntil - this.options.clock.now();
    if (quiet > 0) return this.setTimer("resume-send", quiet, () => this.sendResume()); // after RATE_LIMITED's minute
    this.resumeAttempts += 1;
    this.resumeId = this.nextId("rs");
    this.send({ type: "resume", version: PROTOCOL_VERSION, id: this.resumeId, data: { positions: this.options.ledger.streams.resumePositions() } });
    this.setTimer("resume", RESUME_ANSWER_TIMEOUT_MS, () => this.resumeFailed("no answer", null));
  }

  private onResumed(id: string | null, data: { recovered: boolean; replayed: number; heads: Heads; reason?: string | null }): void {
    if (this.machine !== "resuming" || (id !== null && id !== this.resumeId)) return; // a late answer of an earlier resume
    this.clearTimer("resume");
    this.options.events.emit("resumed", { ...data });
    if (!data.recovered) {
      this.options.ledger.streams.adoptHeads(data.heads);
      return this.endResume("not-recovered");
    }
    if (this.options.ledger.streams.completeResume(data.heads)) return this.endResume(null);
    this.options.onPositions();
    this.resumeFailed("offsets up to the heads are missing", data.heads);
  }

  /** A resume always ends (issue 18 §2): retried a bounded number of times, then `refetch`. */
  private resumeFailed(reason: string, heads: Heads | null): void {
    if (this.machine !== "resuming") return;
    this.clearTimer("resume");
    if (this.resumeAttempts < MAX_RESUME_ATTEMPTS) {
      this.go("resume-retry");
      this.setTimer("resume-send", backoffDelay(this.resumeAttempts, this.options.random), () => this.sendResume());
      return;
    }
    if (heads !== null) {
      this.options.ledger.streams.adoptHeads(heads);
      return this.endResume("resume-failed");
    }
    // No heads to adopt: refetch, start the next connection as a fresh tab, and reconnect.
    this.options.ledger.streams.forget();
    this.options.onPositions();
    this.options.events.emit("refetch", { reason: "resume-failed" });
    this.abandonSocket(CLOSE.resumeFailed, `resume failed: ${reason}`);
  }

  private endResume(refetch: "not-recovered" | "resume-failed" | null): void {
    this.clearTimer("resume-send"); // a late answer of an earlier send may end it while a retry waits
    this.resumeAttempts = 0;
    this.resumeId = null;
    this.options.onPositions();
    this.go("resumed");
    if (refetch !== null) this.options.events.emit("refetch", { reason: refetch });
    this.watchGap();
  }

  private onError(error: ErrorFrame["data"]): void {
    this.lastError = error.code;
    this.options.events.emit("server-error", { code: error.code, message: error.message, requestId: error.requestId });
    switch (error.code) {
      case "RATE_LIMITED":
        this.quietUntil = this.options.clock.now() + RATE_LIMIT_QUIET_MS;
        return;
      case "TOKEN_EXPIRED":
        return; // the server closes (1000); onClose reconnects at once
      case "CONNECTION_UNKNOWN":
        // The server forgot this connection and closes it: do not wait for that, reconnect at once.
        return this.abandonSocket(CLOSE.normal, "connection unknown");
      case "TOKEN_INVALID":
        if (this.pendingToken !== null) this.refreshFailed(error.message);
        return;
      case "NOT_FOUND":
      case "BUDGET_EXCEEDED":
        // An inbox frame refused (ADR 0020): nothing changed on the server; the connection is fine.
        this.options.onInbox?.({ type: "error", code: error.code as "NOT_FOUND" | "BUDGET_EXCEEDED" });
        return;
      case "INVALID_MESSAGE":
      case "UNSUPPORTED_VERSION":
      case "MESSAGE_TOO_LARGE":
        if (this.pendingToken !== null) this.refreshFailed(error.message);
        if (this.machine === "resuming") this.resumeFailed(error.code, null);
        return;
      default: // INTERNAL_ERROR, and any code this client does not know
        if (this.machine === "resuming") return this.resumeFailed(error.code, null);
        this.internalErrors += 1;
        if (this.internalErrors >= INTERNAL_ERRORS_BEFORE_RECONNECT) this.abandonSocket(CLOSE.heartbeatTimeout, "internal errors");
    }
  }

  // --- heartbeat (ADR 0007) ------------------------------------------------------------------------

  private scheduleHeartbeat(): void {
    const { intervalMs, jitterMs } = this.options.heartbeat;
    const delay = intervalMs + (this.options.random() * 2 - 1) * jitterMs;
    this.setTimer("heartbeat", delay, () => this.sendPing());
  }

  private sendPing(pongTimeoutMs = this.options.heartbeat.pongTimeoutMs): void {
    if (this.machine !== "live" && this.machine !== "resuming") return;
    const id = this.nextId("hb");
    this.pendingPing = id;
    this.send({ type: "ping", version: PROTOCOL_VERSION, id }, true);
    this.setTimer("pong", pongTimeoutMs, () => this.abandonSocket(CLOSE.heartbeatTimeout, "heartbeat timeout"));
    this.scheduleHeartbeat();
  }

  // --- in-band token refresh -------------------------------------------------------------------------

  private scheduleRefresh(): void {
    const times = this.token === null ? null : tokenTimes(this.token);
    if (times === null) return this.clearTimer("refresh");
    const delay = Math.max(0, times.expiresAt - renewalLead(times) - this.options.clock.now());
    this.setTimer("refresh", delay, () => void this.refresh());
  }

  private async refresh(): Promise<void> {
    const quiet = this.quietUntil - this.options.clock.now();
    if (quiet > 0) return this.setTimer("refresh", quiet, () => void this.refresh()); // after RATE_LIMITED's quiet minute
    const generation = this.generation;
    const before = this.token === null ? null : tokenTimes(this.token);
    let token: string;
    try {
      token = await this.fetchToken();
    } catch (error) {
      if (generation === this.generation) this.refreshFailed(`getToken() failed: ${describe(error)}`);
      return;
    }
    // A refresh in flight across a reconnect is discarded: the new connection was opened with a new token.
    if (generation !== this.generation || this.socket === null) return;
    const after = tokenTimes(token);
    if (after === null || (before !== null && after.expiresAt <= before.expiresAt)) return this.refreshFailed("getToken() returned no newer token");
    this.pendingToken = token;
    this.send({ type: "refresh", version: PROTOCOL_VERSION, id: this.nextId("rf"), data: { token } });
    this.setTimer("refresh-answer", REFRESH_ANSWER_TIMEOUT_MS, () => this.refreshFailed("no answer to refresh"));
  }

  private onRefreshed(expiresAt: string): void {
    if (this.pendingToken === null) return; // not ours (its connection is gone)
    this.clearTimer("refresh-answer");
    this.token = this.pendingToken;
    this.pendingToken = null;
    this.refreshFailures = 0;
    this.options.events.emit("token-refreshed", { expiresAt });
    this.scheduleRefresh();
  }

  /** Retried before expiry on the backoff schedule (at most half the time left); past expiry the server closes. */
  private refreshFailed(reason: string): void {
    this.pendingToken = null;
    this.clearTimer("refresh-answer");
    this.options.events.emit("token-refresh-failed", { reason });
    const times = this.token === null ? null : tokenTimes(this.token);
    const left = times === null ? 0 : times.expiresAt - this.options.clock.now();
    if (left <= 0) return;
    this.refreshFailures += 1;
    const delay = Math.min(backoffDelay(this.refreshFailures, this.options.random), Math.max(1_000, left / 2));
    this.setTimer("refresh", delay, () => void this.refresh());
  }

  // --- plumbing ------------------------------------------------------------------------------------

  private send(frame: ClientFrame, heartbeat = false): void {
    if (this.socket === null) return;
    if (!heartbeat && this.options.clock.now() < this.quietUntil) return; // ADR 0010: only the heartbeat for 60 s
    try {
      this.socket.send(JSON.stringify(frame));
    } catch {
      // a socket that is closing: its close event decides
    }
  }

  private nextId(prefix: string): string {
    this.frameCounter += 1;
    return `${prefix}-${this.frameCounter}`;
  }

  private detachSocket(): WebSocketLike | null {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      this.generation += 1;
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

  /** What belongs to one socket; the positions survive (a drop before `resumed` resumes from them). */
  private clearConnectionTimers(): void {
    for (const name of ["stable", "heartbeat", "pong", "refresh", "refresh-answer", "resume", "resume-send", "gap"]) this.clearTimer(name);
    this.resetConnectionState();
  }

  private resetConnectionState(): void {
    this.pendingPing = null;
    this.pendingToken = null;
    this.resumeId = null;
  }

  private clearAllTimers(): void {
    for (const name of [...this.timers.keys()]) this.clearTimer(name);
  }
}

/** An error's message for an event, never the token or a URL with it. */
function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/token=[^&\s]+/g, "token=…").slice(0, 200);
}
