// Notification ids seen recently (ADR 0009: drop a notification whose id was seen in the last 10 minutes).

export const SEEN_TTL_MS = 10 * 60_000;
const MAX_REMEMBERED = 5_000;

export class SeenIds {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs: number = SEEN_TTL_MS) {}

  /** Records `id` at `now`; false when it was already seen within the TTL (a duplicate). */
  add(id: string, now: number): boolean {
    this.evict(now);
    if (this.seen.has(id)) return false;
    this.seen.set(id, now);
    return true;
  }

  private evict(now: number): void {
    // Insertion order is arrival order, so the oldest entries are first.
    for (const [id, at] of this.seen) {
      if (now - at < this.ttlMs && this.seen.size <= MAX_REMEMBERED) break;
      this.seen.delete(id);
    }
  }
}
