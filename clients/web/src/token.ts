// What the client needs to know about a JWT without verifying it (the server verifies): when it expires
// and whose it is; and how getToken() says that only signing in again can help.

/**
 * Throw (or reject with) this from `getToken()` when the user must sign in again (the session is revoked
 * or gone). Any other failure is transient: retried on the backoff schedule (issue 18 §3).
 */
export class AuthRequiredError extends Error {
  constructor(message = "the user must sign in again", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AuthRequiredError";
  }
}

/** By name too, so an error class from another copy of this package (two bundles) still counts. */
export function isAuthRequired(error: unknown): boolean {
  return error instanceof AuthRequiredError || (error instanceof Error && error.name === "AuthRequiredError");
}

/** getToken() has this long to settle; then the attempt counts as a transient failure. */
export const TOKEN_TIMEOUT_MS = 10_000;

export interface TokenTimes {
  /** `exp` in epoch milliseconds. */
  expiresAt: number;
  /** `iat` in epoch milliseconds (falls back to `exp - 1 h`, Cognito's lifetime). */
  issuedAt: number;
  /** `sub`, the userId the server stores the connection under. */
  subject: string | null;
}

/** ADR 0010: before every attempt the token must stay valid for at least this long. */
export const TOKEN_RENEWAL_LEAD_MS = 60_000;

export function tokenTimes(token: string): TokenTimes | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "=");
    const claims = JSON.parse(atob(base64)) as { exp?: unknown; iat?: unknown; sub?: unknown };
    if (typeof claims.exp !== "number") return null;
    const expiresAt = claims.exp * 1000;
    const issuedAt = typeof claims.iat === "number" ? claims.iat * 1000 : expiresAt - 3_600_000;
    return { expiresAt, issuedAt, subject: typeof claims.sub === "string" ? claims.sub : null };
  } catch {
    return null;
  }
}

/**
 * How long before `exp` a token is renewed: 60 s, or half its lifetime for tokens shorter than two
 * minutes (short-lived test tokens), so that a renewal always happens while the token still works.
 */
export function renewalLead(times: TokenTimes): number {
  return Math.min(TOKEN_RENEWAL_LEAD_MS, Math.max(0, times.expiresAt - times.issuedAt) / 2);
}

/** True when `token` expires within its renewal lead (or cannot be read): fetch a new one. */
export function tokenNeedsRenewal(token: string, now: number): boolean {
  const times = tokenTimes(token);
  return times === null || times.expiresAt - now <= renewalLead(times);
}
