// The store behind the toasts and the center (src/react/store.ts), on a fake clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { NotificationFrame } from "../src/events.js";
import { BURST_QUIET_MS, MAX_TOASTS, RealtimeStore, TOAST_MS } from "../src/react/store.js";
import { FakeClock, notification } from "./fakes.js";

const frame = (id: string) => notification(id, `c-${id}`) as unknown as NotificationFrame;
const live = (store: RealtimeStore, id: string, toast = true) => store.addNotification({ notification: frame(id), toast, replayed: false });
const replayed = (store: RealtimeStore, id: string) => store.addNotification({ notification: frame(id), toast: true, replayed: true });
const toastIds = (store: RealtimeStore) => store.getSnapshot().toasts.map((t) => (t.type === "summary" ? `summary of ${t.count}` : t.id));

test("at most three toasts: a fourth live one pushes the oldest off screen, never out of the center", () => {
  const store = new RealtimeStore({ clock: new FakeClock() });
  for (const id of ["a", "b", "c", "d"]) live(store, id);
  assert.equal(MAX_TOASTS, 3);
  assert.deepEqual(toastIds(store), ["b", "c", "d"]);
  assert.deepEqual(store.getSnapshot().notifications.map((n) => n.id), ["d", "c", "b", "a"]);
});

test("the store never lists an id twice, nor toasts it again", () => {
  const store = new RealtimeStore({ clock: new FakeClock() });
  live(store, "a");
  store.dismissToast("a");
  live(store, "a");
  replayed(store, "a");
  store.endBurst();
  assert.deepEqual(store.getSnapshot().notifications.map((n) => n.id), ["a"]);
  assert.deepEqual(toastIds(store), []);
  assert.equal(store.getSnapshot().unread, 1);
});

test("a replay of more than three becomes one summary toast; the center lists each", () => {
  const store = new RealtimeStore({ clock: new FakeClock() });
  for (let i = 0; i < 12; i += 1) replayed(store, `r${i}`);
  assert.deepEqual(toastIds(store), [], "nothing is toasted while the replay runs");
  store.endBurst(); // what `resumed` does
  assert.deepEqual(toastIds(store), ["summary of 12"]);
  assert.equal(store.getSnapshot().notifications.length, 12);
  assert.equal(store.getSnapshot().unread, 12);
});

test("a replay of three or fewer toasts each; a replay without `resumed` ends after a quiet moment", async () => {
  const clock = new FakeClock();
  const store = new RealtimeStore({ clock });
  for (const id of ["x", "y"]) replayed(store, id);
  await clock.advance(BURST_QUIET_MS - 1);
  assert.deepEqual(toastIds(store), []);
  await clock.advance(1);
  assert.deepEqual(toastIds(store), ["x", "y"]);
});

test(`toasts dismiss themselves after ${TOAST_MS} ms, unless hovered or focused (WCAG 2.2.2)`, async () => {
  const clock = new FakeClock();
  const store = new RealtimeStore({ clock });
  live(store, "a");
  live(store, "b");
  store.pauseToast("b"); // the pointer is over it
  await clock.advance(TOAST_MS - 1);
  assert.deepEqual(toastIds(store), ["a", "b"]);
  await clock.advance(1);
  assert.deepEqual(toastIds(store), ["b"], "the hovered toast stays");
  await clock.advance(TOAST_MS * 10);
  assert.deepEqual(toastIds(store), ["b"]);
  store.resumeToast("b"); // the pointer left: a full time again
  await clock.advance(TOAST_MS - 1);
  assert.deepEqual(toastIds(store), ["b"]);
  await clock.advance(1);
  assert.deepEqual(toastIds(store), []);
  assert.equal(store.getSnapshot().notifications.length, 2, "dismissing a toast keeps the notification");
});

test("toastMs: 0 keeps toasts until dismissed; a toast pushed off screen leaves no timer behind", async () => {
  const clock = new FakeClock();
  const kept = new RealtimeStore({ clock, toastMs: 0 });
  live(kept, "a");
  await clock.advance(TOAST_MS * 100);
  assert.deepEqual(toastIds(kept), ["a"]);
  const store = new RealtimeStore({ clock });
  for (const id of ["a", "b", "c", "d"]) live(store, id);
  let updates = 0;
  store.subscribe(() => (updates += 1));
  await clock.advance(TOAST_MS);
  assert.deepEqual(toastIds(store), []);
  assert.equal(updates, 3, "one update per visible toast, none for the one already gone");
});

test("a summary toast opens the center through the store", () => {
  const store = new RealtimeStore({ clock: new FakeClock() });
  assert.equal(store.getSnapshot().centerOpen, false);
  store.setCenterOpen(true);
  assert.equal(store.getSnapshot().centerOpen, true);
});
