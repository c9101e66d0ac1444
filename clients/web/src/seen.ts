// Ids of delivered notifications that carry no stream position (frames of a server older than 2.0).
// Frames with (stream, epoch, offset) are deduplicated exactly by src/streams.ts instead; this memory is
// only bounded by count (no time window: a replay may come hours later).

export const MAX_REMEMBERED_IDS = 2_000;

export class SeenIds {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number = MAX_REMEMBERED_IDS) {}

  /** Records `id`; false when it was already seen (a duplicate). The oldest ids are forgotten past the limit. */
  add(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    for (const oldest of this.seen) {
      if (this.seen.size <= this.limit) break;
      this.seen.delete(oldest);
    }
    return true;
  }
}
