import assert from "node:assert/strict";
import { test } from "node:test";
import { renewalLead, tokenNeedsRenewal, tokenTimes } from "../src/token.js";
import { fakeToken } from "./fakes.js";

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

test("exp, iat and sub are read from the payload", () => {
  const times = tokenTimes(fakeToken(NOW, 3600, "abc"));
  assert.deepEqual(times, { expiresAt: NOW + 3_600_000, issuedAt: NOW, subject: "abc" });
});

test("garbage is not a token", () => {
  for (const bad of ["", "abc", "a.b.c", "a.eyJleHAiOiJ4In0.c"]) assert.equal(tokenTimes(bad), null, bad);
  assert.equal(tokenNeedsRenewal("a.b.c", NOW), true);
});

test("renewal 60 s before expiry, or at half the lifetime of short tokens", () => {
  assert.equal(renewalLead(tokenTimes(fakeToken(NOW, 3600))!), 60_000);
  assert.equal(renewalLead(tokenTimes(fakeToken(NOW, 30))!), 15_000);
  const hour = fakeToken(NOW, 3600);
  assert.equal(tokenNeedsRenewal(hour, NOW + 3_539_000), false);
  assert.equal(tokenNeedsRenewal(hour, NOW + 3_540_000), true);
});
