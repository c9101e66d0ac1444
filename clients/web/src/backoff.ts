// The reconnection schedule of ADR 0010, as a pure function so tests drive it with a fixed random().

/** Cap of the exponential schedule, in seconds: 1, 2, 4, 8, 16, 30, 30, … */
export const BACKOFF_CAP_SECONDS = 30;
/** A connection open this long resets the attempt counter (not `open` itself: an open-then-close loop keeps backing off). */
export const STABLE_CONNECTION_MS = 60_000;

/**
 * Milliseconds to wait before reconnect attempt `attempt` (1-based): `d = min(30, max(floor, 2^(attempt-1)))`
 * seconds with equal jitter, `d/2 + random(0, d/2)`. `floorSeconds` starts the schedule higher (30 after
 * `RATE_LIMITED`, 30 after a 429).
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, floorSeconds = 1): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  }
  const seconds = Math.min(BACKOFF_CAP_SECONDS, Math.max(floorSeconds, 2 ** Math.min(attempt - 1, 16)));
  return Math.round((seconds / 2 + random() * (seconds / 2)) * 1000);
}

/**
 * "Immediately" in ADR 0010: `random(0, 1)` s, so that thousands of clients closed together (a deploy,
 * the 2-hour maximum) do not return in the same second.
 */
export function immediateDelay(random: () => number = Math.random): number {
  return Math.round(random() * 1000);
}
