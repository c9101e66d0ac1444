// The notification inbox (ADR 0020, docs/messages.md "Inbox: history and read state"): the user's stored
// notifications of the last 24 hours, newest first, with read state that belongs to the user — the unread
// count is the server's, and every tab and device gets the same one. Pure (no socket): the RealtimeClient
// feeds it the server's `history` and `read.state` frames and the live notifications, and sends the frames
// it returns. History is listed, never delivered as a notification (so it is never toasted).
import type { NotificationFrame, StreamName } from "./protocol.js";

export interface InboxItem {
  stream: StreamName;
  epoch: string;
  offset: number;
  /** The broadcast request id. */
  id: string;
  read: boolean;
  /** The notification exactly as it was posted. */
  data: NotificationFrame["data"];
}

export interface InboxSnapshot {
  /** Newest first (stored time, then offset), each (stream, offset) once. */
  items: readonly InboxItem[];
  /** The user's unread count over both streams, as the server last said (adjusted by what this tab did since). */
  unread: number;
  /** Whether older notifications are stored (`loadOlder()`). */
  more: boolean;
  /** True until the first page arrived. */
  loading: boolean;
  readUpto: Record<StreamName, number>;
}

type Offsets = Record<StreamName, number>;

/** A page as the server sends it (one or more `history` frames with the request's id). */
export interface HistoryPart {
  id: string | null;
  data: {
    items: ReadonlyArray<Omit<InboxItem, "read"> & { read: boolean }>;
    part: number;
    parts: number;
    more: boolean;
    before: Offsets;
    unread: number;
    readUpto: Offsets;
  };
}

export interface ReadState {
  unread: number;
  readUpto: Offsets;
  marked: ReadonlyArray<{ stream: StreamName; offset: number }>;
}

export type InboxRequest =
  | { type: "history"; version: "2.0"; id: string; data: { limit: number; before?: Offsets } }
  | { type: "read"; version: "2.0"; id: string; data: { stream: StreamName; offset: number } }
  | { type: "read.all"; version: "2.0"; id: string; data: { upto: Partial<Offsets> } };

export const HISTORY_PAGE = 50;

const key = (stream: StreamName, offset: number) => `${stream}:${offset}`;

export class Inbox {
  private items = new Map<string, InboxItem>();
  private unread = 0;
  private more = false;
  private loading = true;
  private before: Offsets | null = null;
  private readUpto: Offsets = { user: 0, global: 0 };
  /** The page being assembled: its id and the parts so far. */
  private pending: { id: string; parts: HistoryPart["data"][] } | null = null;
  private requests = 0;

  /** The first page (again: after every resume the center is the server's). */
  firstPage(): InboxRequest {
    return this.request(undefined);
  }

  /** The next older page, or null when there is none (or one is on its way). */
  olderPage(): InboxRequest | null {
    if (!this.more || this.before === null || this.pending !== null) return null;
    return this.request(this.before);
  }

  private request(before: Offsets | undefined): InboxRequest {
    const id = `ih-${(this.requests += 1)}`;
    this.pending = { id, parts: [] };
    return { type: "history", version: "2.0", id, data: before ? { limit: HISTORY_PAGE, before } : { limit: HISTORY_PAGE } };
  }

  /** True when the frame completed a page (the snapshot changed). */
  onHistory(frame: HistoryPart): boolean {
    if (this.pending === null || frame.id !== this.pending.id) return false; // an answer to an older request
    this.pending.parts.push(frame.data);
    if (frame.data.part < frame.data.parts) return false;
    const parts = this.pending.parts;
    this.pending = null;
    const last = parts[parts.length - 1]!;
    for (const part of parts) for (const item of part.items) this.items.set(key(item.stream, item.offset), { ...item });
    this.more = last.more;
    this.before = last.before;
    this.unread = last.unread;
    this.readUpto = last.readUpto;
    this.loading = false;
    this.applyPositions();
    return true;
  }

  onReadState(state: ReadState): void {
    this.unread = state.unread;
    this.readUpto = state.readUpto;
    for (const mark of state.marked) {
      const item = this.items.get(key(mark.stream, mark.offset));
      if (item) item.read = true;
    }
    this.applyPositions();
  }

  /** A live notification (beyond the tab's positions): listed unread unless already known or read. */
  onNotification(frame: NotificationFrame): boolean {
    const { stream, epoch, offset } = frame.data;
    if (stream == null || epoch == null || offset == null) return false;
    const at = key(stream, offset);
    if (this.items.has(at)) return false;
    const read = offset <= this.readUpto[stream];
    this.items.set(at, { stream, epoch, offset, id: frame.id ?? at, read, data: frame.data });
    if (!read) this.unread += 1;
    return true;
  }

  /** Marks one read here at once (the server's `read.state` confirms); null when it is read already. */
  markRead(stream: StreamName, offset: number): InboxRequest | null {
    const item = this.items.get(key(stream, offset));
    if (item === undefined || item.read) return null;
    item.read = true;
    this.unread = Math.max(0, this.unread - 1);
    return { type: "read", version: "2.0", id: `ir-${(this.requests += 1)}`, data: { stream, offset } };
  }

  /** Everything this tab lists is read: up to the highest offset it shows per stream (a newer one stays unread). */
  markAllRead(): InboxRequest | null {
    const upto: Partial<Offsets> = {};
    for (const item of this.items.values()) upto[item.stream] = Math.max(upto[item.stream] ?? 0, item.offset);
    if (Object.keys(upto).length === 0) return null;
    for (const item of this.items.values()) item.read = true;
    this.unread = 0;
    return { type: "read.all", version: "2.0", id: `ia-${(this.requests += 1)}`, data: { upto } };
  }

  /** A page request that got an error instead (BUDGET_EXCEEDED, …): another may be asked for. */
  requestFailed(): void {
    this.pending = null;
    this.loading = false;
  }

  snapshot(): InboxSnapshot {
    const items = [...this.items.values()].map((item) => ({ ...item }));
    items.sort((a, b) => (b.data.timestamp ?? "").localeCompare(a.data.timestamp ?? "") || (a.stream === b.stream ? b.offset - a.offset : a.stream === "user" ? -1 : 1));
    return { items, unread: this.unread, more: this.more, loading: this.loading, readUpto: { ...this.readUpto } };
  }

  private applyPositions(): void {
    for (const item of this.items.values()) if (item.offset <= this.readUpto[item.stream]) item.read = true;
  }
}
