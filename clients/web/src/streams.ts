// Positions per stream and epoch (docs/messages.md, "Streams, offsets and epochs", rules 1–4): the
// contiguous prefix the tab has, plus the offsets it delivered above it while a gap is open. This is the
// exact dedup of issue 18 §5: a frame is a duplicate iff its (stream, epoch, offset) is at or below the
// position or among the held offsets. Pure and serialisable, so tabs can share it and a reload can keep it.
import { STREAMS, type Heads, type NotificationFrame, type Position, type StreamName } from "./protocol.js";
import { SeenIds } from "./seen.js";

/** Held offsets per stream above which the oldest are forgotten (a gap this wide is resumed long before). */
export const MAX_HELD_PER_STREAM = 1_000;

export interface StreamsSnapshot {
  v: 1;
  positions: Partial<Record<StreamName, Position>>;
  /** Per stream, per epoch: offsets delivered but not (yet) below the position. */
  held: Partial<Record<StreamName, Record<string, number[]>>>;
}

export type Acceptance = "duplicate" | "next" | "gap" | "other-epoch";

export class Streams {
  private positions: Partial<Record<StreamName, Position>> = {};
  private held = new Map<StreamName, Map<string, Set<number>>>();

  constructor(snapshot?: StreamsSnapshot | null) {
    if (snapshot) this.restore(snapshot);
  }

  /** What `resume` sends: only the streams this tab has a position for (a fresh tab sends `{}`). */
  resumePositions(): Partial<Record<StreamName, Position>> {
    return structuredClone(this.positions);
  }

  position(stream: StreamName): Position | undefined {
    return this.positions[stream];
  }

  /**
   * Records a delivered frame. While a resume is outstanding (`movePositions` false) nothing moves a
   * position (rule 3); otherwise the position advances over every contiguous offset (rule 1).
   */
  accept(stream: StreamName, epoch: string, offset: number, movePositions: boolean): Acceptance {
    const position = this.positions[stream];
    if (position && position.epoch === epoch && offset <= position.offset) return "duplicate";
    const held = this.heldOf(stream, epoch);
    if (held.has(offset)) return "duplicate";
    held.add(offset);
    this.bound(stream);
    if (movePositions) this.advance(stream);
    if (position && position.epoch !== null && position.epoch !== epoch) return "other-epoch";
    return this.gapOpen(stream) ? "gap" : "next";
  }

  /**
   * True while a stream holds offsets above a hole: the gap the grace waits on. (Frames of another epoch
   * stay held for dedup only: they started a resume of their own.)
   */
  gapOpen(stream?: StreamName): boolean {
    return (stream ? [stream] : STREAMS).some((s) => {
      const position = this.positions[s];
      const epochs = this.held.get(s);
      if (!position || !epochs) return false;
      if (position.epoch === null) return [...epochs.values()].some((set) => set.size > 0);
      return (epochs.get(position.epoch)?.size ?? 0) > 0;
    });
  }

  /** A 2.0 `pong`: true when a head is ahead of a position, or in another epoch (rule 2). */
  behind(heads: Heads): boolean {
    return STREAMS.some((s) => {
      const position = this.positions[s];
      const head = heads[s];
      if (!position) return false;
      if (head.epoch === null) return false; // the stream does not exist: nothing to miss
      return head.epoch !== position.epoch || head.offset > position.offset;
    });
  }

  /**
   * `resumed` with `recovered: true` (rules 3–4): move every position over what is now contiguous and
   * check it reached the head. False: something up to the heads is still missing, resume again.
   * A stream without a position (a fresh tab that loaded its state from the REST API) adopts its head.
   */
  completeResume(heads: Heads): boolean {
    let complete = true;
    for (const s of STREAMS) {
      const head = heads[s];
      if (!this.positions[s]) {
        this.adopt(s, head);
        continue;
      }
      this.advance(s);
      const position = this.positions[s]!;
      if (head.epoch === null) continue;
      if (position.epoch !== head.epoch || position.offset < head.offset) complete = false;
    }
    return complete;
  }

  /** `recovered: false` (the app refetches its state): every position becomes its head (rule 4). */
  adoptHeads(heads: Heads): void {
    for (const s of STREAMS) {
      const position = this.positions[s];
      const head = heads[s];
      if (position && position.epoch === head.epoch && position.offset >= head.offset) continue;
      this.adopt(s, head);
    }
  }

  /** Forget every position (a resume that never got an answer ended in a refetch): the next one starts fresh. */
  forget(): void {
    this.positions = {};
  }

  snapshot(): StreamsSnapshot {
    const held: StreamsSnapshot["held"] = {};
    for (const [stream, epochs] of this.held) {
      const entries = [...epochs].filter(([, set]) => set.size > 0).map(([epoch, set]) => [epoch, [...set].sort((a, b) => a - b)]);
      if (entries.length > 0) held[stream] = Object.fromEntries(entries);
    }
    return { v: 1, positions: structuredClone(this.positions), held };
  }

  /** Replaces this state with another tab's (or a stored) snapshot; a malformed one is ignored. */
  restore(snapshot: StreamsSnapshot): void {
    if (!isSnapshot(snapshot)) return;
    this.positions = structuredClone(snapshot.positions);
    this.held = new Map();
    for (const s of STREAMS) {
      for (const [epoch, offsets] of Object.entries(snapshot.held[s] ?? {})) {
        const set = this.heldOf(s, epoch);
        for (const offset of offsets) set.add(offset);
      }
    }
  }

  private adopt(stream: StreamName, head: Position): void {
    this.positions[stream] = { ...head };
    this.prune(stream, true);
    this.advance(stream);
  }

  private advance(stream: StreamName): void {
    const position = this.positions[stream];
    if (!position) return;
    if (position.epoch === null) {
      // The stream did not exist: offset 1 of any epoch is the next one.
      const first = [...(this.held.get(stream) ?? [])].find(([, set]) => set.has(1));
      if (!first) return;
      position.epoch = first[0];
    }
    const held = this.heldOf(stream, position.epoch!);
    while (held.has(position.offset + 1)) position.offset += 1;
    this.prune(stream, false);
  }

  /**
   * Drops what is at or below the position; `otherEpochs` (a position just adopted from the heads): also
   * what was held in other epochs, which can never become contiguous. Until then a frame of another epoch
   * stays held, so that it is delivered once however often it comes.
   */
  private prune(stream: StreamName, otherEpochs: boolean): void {
    const position = this.positions[stream];
    const epochs = this.held.get(stream);
    if (!position || !epochs) return;
    for (const [epoch, set] of epochs) {
      if (otherEpochs && position.epoch !== null && epoch !== position.epoch) {
        epochs.delete(epoch);
        continue;
      }
      if (epoch === position.epoch) for (const offset of set) if (offset <= position.offset) set.delete(offset);
    }
  }

  private bound(stream: StreamName): void {
    for (const set of this.held.get(stream)?.values() ?? []) {
      if (set.size <= MAX_HELD_PER_STREAM) continue;
      const lowest = [...set].sort((a, b) => a - b).slice(0, set.size - MAX_HELD_PER_STREAM);
      for (const offset of lowest) set.delete(offset);
    }
  }

  private heldOf(stream: StreamName, epoch: string): Set<number> {
    let epochs = this.held.get(stream);
    if (!epochs) this.held.set(stream, (epochs = new Map()));
    let set = epochs.get(epoch);
    if (!set) epochs.set(epoch, (set = new Set()));
    return set;
  }
}

function isPosition(value: unknown): value is Position {
  const p = value as Position;
  return typeof p === "object" && p !== null && (p.epoch === null || typeof p.epoch === "string") && Number.isSafeInteger(p.offset) && p.offset >= 0;
}

function isSnapshot(value: unknown): value is StreamsSnapshot {
  const s = value as StreamsSnapshot;
  if (typeof s !== "object" || s === null || s.v !== 1 || typeof s.positions !== "object" || typeof s.held !== "object") return false;
  return STREAMS.every((stream) =>
    (s.positions[stream] === undefined || isPosition(s.positions[stream])) &&
    Object.values(s.held[stream] ?? {}).every((offsets) => Array.isArray(offsets) && offsets.every((o) => Number.isSafeInteger(o))));
}

/** The browser storage a tab keeps its positions in (localStorage; tests inject a Map-backed one). */
export type PositionStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export const STORAGE_PREFIX = "realtime-positions:";

/** Positions are kept per user: another user's positions in this browser must never be sent. */
export function loadPositions(storage: PositionStorage | null, userId: string): StreamsSnapshot | null {
  try {
    const text = storage?.getItem(STORAGE_PREFIX + userId);
    if (!text) return null;
    const snapshot = JSON.parse(text) as unknown;
    return isSnapshot(snapshot) ? snapshot : null;
  } catch {
    return null; // unreadable or disabled storage: start as a fresh tab
  }
}

export function savePositions(storage: PositionStorage | null, userId: string, snapshot: StreamsSnapshot): void {
  try {
    storage?.setItem(STORAGE_PREFIX + userId, JSON.stringify(snapshot));
  } catch {
    // quota or privacy mode: the positions live on in memory
  }
}

export function browserStorage(): PositionStorage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/** Everything a tab has delivered: positions per stream, and ids for frames without a position. */
export class Ledger {
  readonly ids = new SeenIds();

  constructor(readonly streams: Streams = new Streams()) {}

  accept(frame: NotificationFrame, movePositions: boolean): Acceptance {
    const { stream, epoch, offset } = frame.data;
    if (stream != null && epoch != null && offset != null) return this.streams.accept(stream, epoch, offset, movePositions);
    if (frame.id === null) return "next"; // nothing to recognise it by
    return this.ids.add(frame.id) ? "next" : "duplicate";
  }
}
