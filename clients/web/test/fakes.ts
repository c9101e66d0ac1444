// A fake clock, a fake WebSocket and in-memory tabs: the client's tests drive time and the network.
import type { Clock } from "../src/clock.js";
import type { NetworkStatus, WebSocketLike } from "../src/connection.js";
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

  send(data: string): void {
    const frame = JSON.parse(data);
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

export class FakeNetwork implements NetworkStatus {
  isOnline = true;
  private readonly listeners = new Set<(reason: "online" | "visible") => void>();

  online(): boolean {
    return this.isOnline;
  }

  onWake(listener: (reason: "online" | "visible") => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(online: boolean): void {
    this.isOnline = online;
    if (online) for (const listener of this.listeners) listener("online");
  }

  becomeVisible(): void {
    for (const listener of this.listeners) listener("visible");
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

export function notification(id: string, cursor: string | null, title = `title ${id}`) {
  return {
    type: "notification",
    version: "1.0",
    id,
    data: { kind: "set.created", title, timestamp: "2026-12-01T12:00:00.000Z", ...(cursor === null ? {} : { cursor }) },
  };
}
