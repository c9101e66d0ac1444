// A fake clock, a fake WebSocket and in-memory tabs: the client's tests drive time and the network.
import { afterEach } from "node:test";
import type { Clock } from "../src/clock.js";
import type { NetworkStatus, WebSocketLike } from "../src/connection.js";
import { RealtimeClient } from "../src/client.js";
import { clientMessageSchema } from "../src/messages.js";
import type { RealtimeEvents } from "../src/events.js";
import type { Heads, Position, StreamName } from "../src/protocol.js";
import type { TabMessage, TabTransport } from "../src/tabs.js";

export class FakeClock implements Clock {
  private current = Date.UTC(2026, 11, 1, 12, 0, 0);
  private nextHandle = 1;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): number {
    const handle = this.nextHandle++;
    this.timers.set(handle, { at: this.current + Math.max(0, ms), callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward, firing due timers in order (also those they create), settling promises between them. */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      await settle();
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.current = due[1].at;
      due[1].callback();
    }
    this.current = end;
    await settle();
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FakeSocket implements WebSocketLike {
  static instances: FakeSocket[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason?: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: Array<Record<string, unknown>> = [];
  closedWith: number | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }

  static last(): FakeSocket {
    const socket = FakeSocket.instances.at(-1);
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }

  static reset(): void {
    FakeSocket.instances = [];
  }

  /** Answer every ping like the server's $default does (for tests that run past the heartbeat). */
  answerPings = false;

  /** Frames a socket was given that the server's schema refuses (schemas/messages.v1.json, ClientMessage). */
  static refused: Array<{ frame: unknown; issues: string }> = [];

  send(data: string): void {
    const frame = JSON.parse(data);
    const verdict = clientMessageSchema.safeParse(frame);
    if (!verdict.success) FakeSocket.refused.push({ frame, issues: verdict.error.message });
    this.sent.push(frame);
    if (this.answerPings && frame.type === "ping") {
      queueMicrotask(() => this.receive({ type: "pong", version: frame.version, id: frame.id, data: { timestamp: "t" } }));
    }
  }

  close(code = 1000): void {
    this.closedWith = code;
  }

  open(): void {
    this.onopen?.({});
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  /** The server (or the network) ends the connection; 1006 = no close frame. */
  drop(code = 1006): void {
    this.onclose?.({ code });
  }

  sentOfType(type: string): Array<Record<string, unknown>> {
    return this.sent.filter((frame) => frame.type === type);
  }
}

// Every frame the client sends in any test must be one the server accepts: the client's frame types are
// written by hand in src/protocol.ts and src/inbox.ts, the server's in the schema (the client swallows a
// send that throws, so the check is made after each test instead).
afterEach(() => {
  const refused = FakeSocket.refused.splice(0);
  if (refused.length > 0) {
    throw new Error(`the client sent ${refused.length} frame(s) the server's schema refuses: ${JSON.stringify(refused.slice(0, 3))}`);
  }
});

export class FakeNetwork implements NetworkStatus {
  isOnline = true;
  private readonly listeners = new Set<(event: "online" | "offline" | "visible") => void>();

  online(): boolean {
    return this.isOnline;
  }

  watch(listener: (event: "online" | "offline" | "visible") => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Like the browser: `navigator.onLine` changes, then the `online`/`offline` event fires. */
  set(online: boolean): void {
    this.isOnline = online;
    for (const listener of [...this.listeners]) listener(online ? "online" : "offline");
  }

  becomeVisible(): void {
    for (const listener of [...this.listeners]) listener("visible");
  }
}

/** localStorage in memory (one per browser profile). */
export class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** One browser: a lock queue and a channel shared by the tabs created from it. */
export class FakeBrowser {
  private readonly tabs = new Set<FakeTab>();
  private readonly waiting: Array<{ tab: FakeTab; onLeader: () => void }> = [];
  private holder: FakeTab | null = null;

  tab(): FakeTab {
    const tab = new FakeTab(this);
    this.tabs.add(tab);
    return tab;
  }

  deliver(from: FakeTab, message: TabMessage): void {
    // Structured clone, like BroadcastChannel: no shared objects between tabs.
    const copy = structuredClone(message);
    for (const tab of this.tabs) if (tab !== from && !tab.closed) queueMicrotask(() => tab.dispatch(copy));
  }

  request(tab: FakeTab, onLeader: () => void): () => void {
    this.waiting.push({ tab, onLeader });
    this.grant();
    return () => {
      const index = this.waiting.findIndex((w) => w.tab === tab);
      if (index >= 0) this.waiting.splice(index, 1);
      if (this.holder === tab) {
        this.holder = null;
        this.grant();
      }
    };
  }

  private grant(): void {
    if (this.holder !== null) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.holder = next.tab;
    queueMicrotask(next.onLeader);
  }
}

export class FakeTab implements TabTransport {
  closed = false;
  active = false;
  private readonly listeners = new Set<(message: TabMessage) => void>();
  private readonly activeListeners = new Set<() => void>();

  constructor(private readonly browser: FakeBrowser) {}

  post(message: TabMessage): void {
    this.browser.deliver(this, message);
  }

  onMessage(listener: (message: TabMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispatch(message: TabMessage): void {
    for (const listener of this.listeners) listener(message);
  }

  requestLeadership(onLeader: () => void): () => void {
    return this.browser.request(this, onLeader);
  }

  isActive(): boolean {
    return this.active;
  }

  onActive(listener: () => void): () => void {
    this.activeListeners.add(listener);
    return () => this.activeListeners.delete(listener);
  }

  focus(): void {
    this.active = true;
    for (const listener of this.activeListeners) listener();
  }

  close(): void {
    this.closed = true;
  }
}

/** An unsigned JWT with the claims the client reads (the server verifies; the client only schedules). */
export function fakeToken(issuedAtMs: number, lifetimeSeconds: number, sub = "user-1"): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const iat = Math.floor(issuedAtMs / 1000);
  return `${encode({ alg: "RS256", kid: "test" })}.${encode({ sub, iat, exp: iat + lifetimeSeconds })}.signature`;
}

/**
 * A notification frame. `place` is a 2.0 position (`{stream, epoch, offset}`), or a string/null: a frame
 * without one (a server older than 2.0; the string becomes the retired 1.1 `cursor`, an unknown field now).
 */
export function notification(id: string, place: string | null | Place, title = `title ${id}`) {
  const extra = place === null ? {} : typeof place === "string" ? { cursor: place } : place;
  return {
    type: "notification",
    version: "1.0",
    id,
    data: { kind: "set.created", title, timestamp: "2026-12-01T12:00:00.000Z", ...extra },
  };
}

export interface Place {
  stream: StreamName;
  epoch: string;
  offset: number;
}

/**
 * A scripted 2.0 server for one user: two streams with epochs and offsets, storing every notification and
 * answering `resume` by docs/messages.md (replay (position, head] in offset order, then `resumed`).
 */
export class FakeServer {
  readonly epochs: Record<StreamName, string> = { user: "uepoch1", global: "gepoch1" };
  readonly heads: Record<StreamName, number> = { user: 0, global: 0 };

  /** Stores the next notification of `stream` and returns its frame (not sent: the test decides). */
  publish(stream: StreamName = "user"): ReturnType<typeof notification> {
    this.heads[stream] += 1;
    return this.frame(stream, this.heads[stream]);
  }

  frame(stream: StreamName, offset: number) {
    return notification(`${stream}-${this.epochs[stream]}-${offset}`, { stream, epoch: this.epochs[stream], offset });
  }

  headsFrame(): Heads {
    // A stream that never held a notification has the epoch null (docs/messages.md).
    const head = (stream: StreamName): Position => ({ epoch: this.heads[stream] === 0 ? null : this.epochs[stream], offset: this.heads[stream] });
    return { user: head("user"), global: head("global") };
  }

  /** The frames a `resume` with these positions replays, in offset order. */
  replay(positions: Partial<Record<StreamName, Position>>): Array<ReturnType<typeof notification>> {
    const frames = [];
    for (const stream of ["user", "global"] as const) {
      const position = positions[stream];
      if (!position) continue;
      for (let offset = position.offset + 1; offset <= this.heads[stream]; offset += 1) frames.push(this.frame(stream, offset));
    }
    return frames;
  }

  resumed(id: unknown, replayed: number, recovered = true, reason?: string) {
    return { type: "resumed", version: "2.0", id, data: { recovered, replayed, heads: this.headsFrame(), ...(reason ? { reason } : {}) } };
  }

  /** Answers the last `resume` on `socket` completely: the replay, then `resumed`. */
  answerResume(socket: FakeSocket): void {
    const resume = socket.sentOfType("resume").at(-1);
    if (!resume) throw new Error("no resume was sent");
    const frames = this.replay((resume.data as { positions: Partial<Record<StreamName, Position>> }).positions);
    for (const frame of frames) socket.receive(frame);
    socket.receive(this.resumed(resume.id, frames.length));
  }

  pong(socket: FakeSocket): void {
    const ping = socket.sentOfType("ping").at(-1);
    if (!ping) throw new Error("no ping was sent");
    socket.receive({ type: "pong", version: "2.0", id: ping.id, data: { timestamp: "t", heads: this.headsFrame() } });
  }
}

// --- a client on the fakes, for the connection tests -------------------------------------------------

export interface Harness {
  client: RealtimeClient;
  clock: FakeClock;
  network: FakeNetwork;
  tokens: string[];
  server: FakeServer;
  storage: MemoryStorage;
  events: Array<[keyof RealtimeEvents, unknown]>;
  of<K extends keyof RealtimeEvents>(name: K): Array<RealtimeEvents[K]>;
}

export function harness(options: {
  lifetimeSeconds?: number; random?: number; getToken?: () => Promise<string>; storage?: MemoryStorage; clock?: FakeClock; server?: FakeServer;
  sub?: string;
} = {}): Harness {
  const clock = options.clock ?? new FakeClock();
  const storage = options.storage ?? new MemoryStorage();
  const server = options.server ?? new FakeServer();
  const network = new FakeNetwork();
  const tokens: string[] = [];
  const events: Array<[keyof RealtimeEvents, unknown]> = [];
  const client = new RealtimeClient({
    url: "ws://127.0.0.1:3001/local",
    getToken:
      options.getToken ??
      (async () => {
        const token = fakeToken(clock.now(), options.lifetimeSeconds ?? 3600, options.sub);
        tokens.push(token);
        return token;
      }),
    tabs: false,
    WebSocket: FakeSocket,
    clock,
    network,
    random: () => options.random ?? 1,
    storage,
  });
  const names: Array<keyof RealtimeEvents> = ["state", "notification", "resumed", "refetch", "reconnect-scheduled", "token-refreshed",
    "token-refresh-failed", "auth-required", "unavailable", "invalid-frame", "unknown-frame", "server-error", "socket-error", "transition"];
  for (const name of names) client.on(name, (payload) => events.push([name, payload]));
  const of = <K extends keyof RealtimeEvents>(name: K) => events.filter(([n]) => n === name).map(([, p]) => p as RealtimeEvents[K]);
  return { client, clock, network, tokens, server, storage, events, of };
}

/** Starts the client, opens its socket and answers its first resume (a fresh tab adopts the heads). */
export async function connected(h: Harness): Promise<FakeSocket> {
  h.client.start();
  await settle();
  const socket = FakeSocket.last();
  socket.open();
  h.server.answerResume(socket);
  return socket;
}

/** After a drop: waits out the scheduled delay, opens the next socket (the resume is left to the test). */
export async function reopened(h: Harness): Promise<FakeSocket> {
  await h.clock.advance(h.of("reconnect-scheduled").at(-1)!.delayMs);
  const socket = FakeSocket.last();
  socket.open();
  return socket;
}

export const delivered = (h: Harness) => h.of("notification").map((n) => n.notification.id);
export const userOffset = (h: Harness) => h.client.positions.positions.user?.offset;

