import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, immediateDelay } from "../src/backoff.js";

test("the schedule before jitter is 1, 2, 4, 8, 16, 30, 30 s (ADR 0010)", () => {
  // GIVEN the largest jitter draw WHEN attempts 1..8 are scheduled THEN d = min(30, 2^(n-1)) seconds
  const longest = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, () => 1));
  assert.deepEqual(longest, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test("equal jitter keeps every delay within [d/2, d]", () => {
  const draws = [0, 0.001, 0.25, 0.5, 0.999, 1];
  for (let attempt = 1; attempt <= 10; attempt += 1) {
    const d = Math.min(30, 2 ** (attempt - 1)) * 1000;
    for (const draw of draws) {
      const delay = backoffDelay(attempt, () => draw);
      assert.ok(delay >= d / 2 && delay <= d, `attempt ${attempt}, draw ${draw}: ${delay} not in [${d / 2}, ${d}]`);
    }
  }
  assert.equal(backoffDelay(3, () => 0), 2000);
});

test("a floor starts the schedule at 30 s (RATE_LIMITED, 429)", () => {
  assert.deepEqual([1, 2, 6].map((n) => backoffDelay(n, () => 1, 30)), [30000, 30000, 30000]);
  assert.equal(backoffDelay(1, () => 0, 30), 15000);
});

test("very large attempt counts stay at the cap and bad attempts are refused", () => {
  assert.equal(backoffDelay(10_000, () => 1), 30000);
  assert.throws(() => backoffDelay(0), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
});

test("'immediately' is spread over one second", () => {
  assert.equal(immediateDelay(() => 0), 0);
  assert.equal(immediateDelay(() => 1), 1000);
  assert.equal(immediateDelay(() => 0.42), 420);
});
