"""The web client's frame validators against the server's pydantic models, over one corpus of server frames.

Three judges see the same JSON texts: pydantic (``realtime.messages.validate_server_message``, the contract's
source), the published Zod schema (``@moc-realtime/client/messages``) and the core's validator generated from
the JSON Schema (``clients/web/src/validate.ts``), the last two run by tests/unit/frame_verdicts.mts in node.

- Zod accepts exactly what pydantic accepts.
- The core accepts exactly what pydantic accepts once the frame is *normalized* for forward compatibility
  (docs/web.md): unknown fields dropped, an open ``kind`` (any non-empty string of at most 64 code points) or
  ``version`` (any string) replaced by a known value. So for frames that use only known names and values the
  three verdicts are identical, and an unknown field, kind or version never turns a verdict.
- An unknown ``type`` is "unknown-type" for the core (ignored, not invalid); pydantic and Zod refuse it.

One documented difference: an integer beyond JavaScript's safe range (|n| > 2^53 - 1) is refused by both JS
validators (Zod's ``.int()`` does; a double cannot hold it exactly), while pydantic accepts any size; the
reference below is pydantic plus that rule.

The corpus is generated from schemas/messages.v1.json (each property: absent, null, each wrong JSON type, string
lengths at and beyond both bounds in ASCII and in astral-plane characters, which count one code point but two
UTF-16 units, pattern and enum misses, integer bounds), so it follows the schema when the protocol changes.
Negative control: with ``[...value].length`` replaced by ``value.length`` in validate.ts, or the code-point
refinement removed from generate-messages.mjs, the astral-plane cases fail here.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
from pydantic import ValidationError
from realtime.messages import validate_server_message

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO_ROOT / "schemas" / "messages.v1.json").read_text())
JUDGE = Path(__file__).with_name("frame_verdicts.mts")
OPEN = {"kind": 64, "version": None, "code": 64, "reason": 64}  # open enums on server frames and their code-point bound (scripts/generate-validator.mjs)
ASTRAL = "\U0001F600"  # one code point, two UTF-16 units
#: A value matching each pattern of the schema; a new pattern needs its sample here.
PATTERN_SAMPLES = {r"^[A-Za-z0-9._:\-]+$": "a", r"^(https://|/)": "/a", r"^[A-Za-z0-9]+$": "e"}


def resolve(node: dict) -> dict:
    ref = node.get("$ref")
    return resolve(SCHEMA["$defs"][ref.rsplit("/", 1)[1]]) if ref else node


def frame_schemas() -> dict[str, dict]:
    return {resolve(alt)["properties"]["type"]["const"]: resolve(alt) for alt in SCHEMA["$defs"]["ServerMessage"]["oneOf"]}


def non_null(node: dict) -> dict:
    node = resolve(node)
    options = [resolve(o) for o in node.get("anyOf", node.get("oneOf", [node]))]
    return next((o for o in options if o.get("type") != "null"), options[0])


def sample(node: dict):
    node = non_null(node)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {key: sample(value) for key, value in node.get("properties", {}).items()}
    if kind == "array":
        return [sample(node.get("items", {}))] * max(node.get("minItems", 1), 1)
    if kind == "integer":
        return node.get("minimum", 0)
    if kind == "number":
        return node.get("minimum", 0.5)
    if kind == "boolean":
        return True
    if kind == "string":
        if "pattern" in node and node["pattern"] not in PATTERN_SAMPLES:
            raise AssertionError(f"the schema has a new pattern {node['pattern']!r}: add a matching sample to PATTERN_SAMPLES")
        base = PATTERN_SAMPLES[node["pattern"]] if "pattern" in node else "t"
        return base + "a" * max(0, node.get("minLength", 1) - len(base))
    return {}


def string_values(node: dict) -> list[str]:
    """Strings at and beyond the length bounds, padded with ASCII and (where the pattern allows) astral characters."""
    base = PATTERN_SAMPLES.get(node.get("pattern", ""), "")
    values = ["", "has space", "http://x"]
    for pad in ("a", ASTRAL):
        if "pattern" in node and not re.search(node["pattern"], base + pad):
            continue
        for bound in (node.get("minLength"), node.get("maxLength")):
            if bound is not None:
                values += [base + pad * max(0, n - len(base)) for n in (bound - 1, bound, bound + 1) if n >= 0]
    return values


def mutations(node: dict) -> list:
    """Values to put where ``node`` is expected: good and bad, each JSON type."""
    node = resolve(node)
    values: list = [None, 1, 1.5, True, "s", [], {}]
    for option in [resolve(o) for o in node.get("anyOf", node.get("oneOf", [node]))]:
        values += option.get("enum", []) + ["NOT_A_VALUE"] if "enum" in option or "const" in option else []
        if option.get("type") == "string":
            values += string_values(option)
        if option.get("type") in ("integer", "number"):
            low = option.get("minimum", 0)
            values += [low - 1, low, low + 1, 2**53, -(2**53)] + ([option["maximum"], option["maximum"] + 1] if "maximum" in option else [])
    return values


def paths(node: dict, prefix: tuple = ()) -> list[tuple[tuple, dict]]:
    result = []
    for key, value in non_null(node).get("properties", {}).items():
        if prefix == () and key == "type":
            continue
        result.append(((*prefix, key), value))
        if non_null(value).get("type") == "object":
            result += paths(value, (*prefix, key))
    return result


def with_value(frame: dict, path: tuple, value, *, delete: bool = False) -> dict:
    changed = copy.deepcopy(frame)
    parent = changed
    for key in path[:-1]:
        if not isinstance(parent.get(key), dict):
            return changed
        parent = parent[key]
    if delete:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return changed


def corpus() -> list[dict]:
    frames = []
    for type_, schema in frame_schemas().items():
        base = {"type": type_, **sample(schema)}
        frames.append(base)
        for path, node in paths(schema):
            frames.append(with_value(base, path, None, delete=True))
            frames += [with_value(base, path, value) for value in mutations(node)]
    # Forward-compatible variants of every case: an unknown field on the frame and on its data, a new kind.
    extended = []
    for frame in frames:
        extended.append({**frame, "future": {"x": 1}})
        if isinstance(frame.get("data"), dict):
            extended.append({**frame, "data": {**frame["data"], "futureField": [1, "two"]}})
            if isinstance(frame["data"].get("kind"), str):
                extended.append({**frame, "data": {**frame["data"], "kind": "moc.future-kind"}})
    return frames + extended


def normalized(frame, schema: dict | None = None):
    """What pydantic must accept for the core to accept ``frame``: unknown fields dropped, open enums known."""
    if schema is None:
        if not isinstance(frame, dict) or frame.get("type") not in frame_schemas():
            return frame
        schema = frame_schemas()[frame["type"]]
    node = non_null(schema)
    if not isinstance(frame, dict) or node.get("type") != "object":
        return frame
    result = {}
    for key, value in frame.items():
        if key not in node.get("properties", {}):
            continue
        child = resolve(node["properties"][key])
        if key in OPEN and isinstance(value, str) and (OPEN[key] is None or 1 <= len(value) <= OPEN[key]):
            known = non_null(child)
            value = known["const"] if "const" in known else known["enum"][0]
        result[key] = normalized(value, child) if isinstance(value, dict) else value
    return result


MAX_SAFE_INTEGER = 2**53 - 1


def unsafe_integer(value) -> bool:
    if isinstance(value, dict):
        return any(unsafe_integer(v) for v in value.values())
    if isinstance(value, list):
        return any(unsafe_integer(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER


def pydantic_accepts(frame) -> bool:
    """pydantic's verdict, plus the one documented difference (module docstring): no integer beyond 2^53 - 1."""
    try:
        validate_server_message(frame)
    except ValidationError:
        return False
    return not unsafe_integer(frame)


@lru_cache(maxsize=1)
def verdicts() -> tuple[list[dict], list[dict]]:
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the differential test needs node 20 (README, make setup)")
    if not (REPO_ROOT / "node_modules" / "tsx").is_dir():
        pytest.fail("node_modules/tsx is missing: run `make setup`")
    frames = corpus()
    texts = [json.dumps(frame, ensure_ascii=False) for frame in frames]
    done = subprocess.run(["node", "--import", "tsx", str(JUDGE)], input=json.dumps(texts), capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120, check=True)
    return frames, json.loads(done.stdout)


def describe(frame) -> str:
    return json.dumps(frame, ensure_ascii=True)[:300]


def test_the_corpus_covers_every_frame_type_and_both_verdicts():
    frames, _ = verdicts()
    accepted = [f for f in frames if pydantic_accepts(f)]
    assert {f["type"] for f in accepted} == set(frame_schemas())
    assert len(accepted) > 50 and len(frames) - len(accepted) > 200, (len(accepted), len(frames))
    assert any(ASTRAL in json.dumps(f, ensure_ascii=False) for f in accepted), "no accepted astral-plane string"


def test_zod_accepts_exactly_what_pydantic_accepts():
    frames, results = verdicts()
    disagreements = [describe(f) for f, r in zip(frames, results, strict=True) if r["zod"] != pydantic_accepts(f)]
    assert disagreements == []


def test_the_core_accepts_exactly_what_pydantic_accepts_of_the_normalized_frame():
    frames, results = verdicts()
    disagreements = [describe(f) for f, r in zip(frames, results, strict=True)
                     if (r["core"] == "ok") != pydantic_accepts(normalized(f))]
    assert disagreements == []


def test_frames_with_only_known_names_and_values_get_the_same_verdict_from_all_three():
    frames, results = verdicts()
    closed = [(f, r) for f, r in zip(frames, results, strict=True) if normalized(f) == f]
    assert len(closed) > 300
    assert [describe(f) for f, r in closed if len({r["core"] == "ok", r["zod"], pydantic_accepts(f)}) != 1] == []


def test_an_unknown_type_is_reported_apart_from_an_invalid_frame():
    texts = [json.dumps({"type": "presence", "version": "2.0", "data": {"who": ["a"]}}), json.dumps({"type": "toString"}),
             json.dumps({"type": 7}), "not json", "[1]"]
    done = subprocess.run(["node", "--import", "tsx", str(JUDGE)], input=json.dumps(texts), capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120, check=True)
    assert [r["core"] for r in json.loads(done.stdout)] == ["unknown-type", "unknown-type", "invalid", "invalid", "invalid"]
    assert not any(pydantic_accepts(json.loads(t)) for t in texts[:3])
