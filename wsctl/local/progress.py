"""Progress of ``terraform apply -json``: resources done / total and what a long wait is waiting on.

Terraform's machine-readable UI (``-json``) writes one JSON object per line. The ones read here:

* ``change_summary`` with ``operation: plan`` — how many actions the apply will take (add + change
  + remove; a replacement counts as a remove and an add, and completes as two actions);
* ``apply_start`` / ``apply_progress`` / ``apply_complete`` / ``apply_errored`` — one resource's
  action (``hook.resource.addr``, ``hook.action``, ``elapsed_seconds``);
* ``diagnostic`` with ``severity: error`` — what to report when the apply fails.

Nothing here changes what is applied: the same ``terraform apply`` runs, only its output is read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A resource that has been applying this long is named in the progress line.
LONG_WAIT_SECONDS = 8.0
#: How many long waits one line names (the longest first).
NAMED_WAITS = 3
#: Hook actions that are not among the plan's changes: data sources read during the apply.
UNCOUNTED_ACTIONS = frozenset({"read", "noop"})


@dataclass
class ApplyProgress:
    """Folds terraform's JSON lines into counts; ``line()`` renders the current state."""

    clock: Callable[[], float] = time.monotonic
    total: int | None = None
    #: planned changes seen before the plan's summary (the plan phase's own progress)
    planned: int = 0
    done: int = 0
    failed: int = 0
    #: resource address -> when its current action started (our clock)
    applying: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: float | None = None

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def feed(self, raw: str) -> str | None:
        """Read one line of ``terraform apply -json``; returns its human-readable message (or the
        raw line when it is not terraform JSON, e.g. a crash trace), None for an empty line."""
        raw = raw.strip()
        if not raw:
            return None
        try:
            document = json.loads(raw)
        except ValueError:
            return raw
        if not isinstance(document, dict):
            return raw
        kind = document.get("type")
        hook = document.get("hook") if isinstance(document.get("hook"), dict) else {}
        address = _address(hook)
        counted = hook.get("action") not in UNCOUNTED_ACTIONS
        if kind == "planned_change":
            self.planned += 1
        elif kind == "change_summary":
            changes = document.get("changes") or {}
            if changes.get("operation") == "plan":
                self.total = sum(int(changes.get(key) or 0) for key in ("add", "change", "remove"))
        elif kind == "apply_start" and address:
            self.applying[address] = self.clock() - float(hook.get("elapsed_seconds") or 0)
        elif kind == "apply_progress" and address:
            # terraform's own count wins over ours (it started before we read the line)
            self.applying[address] = self.clock() - float(hook.get("elapsed_seconds") or 0)
        elif kind == "apply_complete" and address:
            self.applying.pop(address, None)
            self.done += counted
        elif kind == "apply_errored" and address:
            self.applying.pop(address, None)
            self.failed += counted
        elif kind == "diagnostic":
            diagnostic = document.get("diagnostic") or {}
            if diagnostic.get("severity") == "error":
                summary = str(diagnostic.get("summary") or "error")
                detail = str(diagnostic.get("detail") or "").strip().splitlines()
                where = diagnostic.get("address")
                self.errors.append(f"Error: {summary}" + (f" ({where})" if where else "")
                                   + (f": {detail[0]}" if detail else ""))
        message = document.get("@message")
        return str(message) if message is not None else raw

    def long_waits(self) -> list[tuple[str, float]]:
        now = self.clock()
        waits = sorted(((address, now - started) for address, started in self.applying.items()),
                       key=lambda item: -item[1])
        return [(address, seconds) for address, seconds in waits if seconds >= LONG_WAIT_SECONDS]

    def line(self) -> str:
        elapsed = f"{self.clock() - (self.started or 0):.0f} s"
        if self.total is None:
            # Before its plan summary terraform loads the provider and plans: nothing is applied yet.
            return f"terraform apply: planning, {self.planned} changes so far ({elapsed})"
        text = f"terraform apply: {self.done}/{self.total} resources"
        if self.failed:
            text += f", {self.failed} failed"
        if self.applying:
            text += f", {len(self.applying)} in progress"
        text += f" ({elapsed})"
        waits = self.long_waits()
        if waits:
            named = ", ".join(f"{address} {seconds:.0f} s" for address, seconds in waits[:NAMED_WAITS])
            more = f" and {len(waits) - NAMED_WAITS} more" if len(waits) > NAMED_WAITS else ""
            text += f"; waiting on {named}{more}"
        return text


def _address(hook: dict[str, Any]) -> str | None:
    resource = hook.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("addr"), str):
        return resource["addr"]
    return None
