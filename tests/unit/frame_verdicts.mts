// The JavaScript side of tests/unit/test_frame_validator_differential.py: judges each frame text with the core's
// generated validator (clients/web/src/validate.ts) and with the published Zod schema (src/messages.ts).
// stdin: a JSON array of frame texts. stdout: one {"core": "ok" | "invalid" | "unknown-type", "zod": bool} each.
import { readFileSync } from "node:fs";
import { serverMessageSchema } from "../../clients/web/src/messages.ts";
import { parseServerFrame } from "../../clients/web/src/validate.ts";

const texts: string[] = JSON.parse(readFileSync(0, "utf8"));
const verdicts = texts.map((text) => {
  const core = parseServerFrame(text);
  let zod = false;
  try {
    zod = serverMessageSchema.safeParse(JSON.parse(text)).success;
  } catch {
    zod = false;
  }
  return { core: core.ok ? "ok" : core.reason, zod };
});
process.stdout.write(JSON.stringify(verdicts));
