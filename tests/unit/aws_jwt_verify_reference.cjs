// Verifies tokens with aws-jwt-verify (AWS's own Cognito JWT verifier), offline, for the
// differential test of the authorizer (tests/unit/test_authorizer_differential.py).
//
// stdin: {"userPoolId", "clientId", "tokenUse", "jwks", "now", "tokens": [...]}; "now" is epoch
// seconds and replaces the clock, so both verifiers judge exp/nbf at the same instant.
// stdout: one result per token, in order: {"ok": true} or {"ok": false, "error": "<error class>"}.
"use strict";

const { CognitoJwtVerifier } = require("aws-jwt-verify");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
Date.now = () => input.now * 1000;
const verifier = CognitoJwtVerifier.create({
  userPoolId: input.userPoolId,
  tokenUse: input.tokenUse,
  clientId: input.clientId,
});
verifier.cacheJwks(input.jwks);
const results = input.tokens.map((token) => {
  try {
    verifier.verifySync(token);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error.constructor.name };
  }
});
process.stdout.write(JSON.stringify(results));
