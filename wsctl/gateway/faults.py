"""Fault injection into the local gateway's @connections POSTs — for tests only.

``REALTIME_LOCAL_FAULTS`` (read by :meth:`wsctl.gateway.server.GatewaySettings.from_env`) holds a JSON
list of rules, or the path of a file holding one (re-read whenever the file changes, so a test can aim
at a connection it has just opened; a missing file means no faults). Each rule::

    {"fault": "500" | "timeout" | "429",   # what the POST gets
     "connections": ["<connectionId>", …],  # optional: only these connections (default: every one)
     "fraction": 0.5,                       # optional: this share of the matching posts (default 1)
     "count": 3,                            # required: the first N matching posts, then the rule is spent
     "hold_seconds": 6.0,                   # optional, timeout only: how long the request hangs (default
                                            #   6 s, past the runtime notifier's 5 s read timeout)
     "seed": 7}                             # optional: the random generator of ``fraction``

The first unspent rule that matches a POST decides it: ``500`` answers InternalServerErrorException,
``429`` LimitExceededException, ``timeout`` holds the request ``hold_seconds`` and then closes the TCP
connection without an answer; in all three the frame is NOT delivered. GET and DELETE are never
faulted. Every injected fault is logged (``fault injected …``) and counted in :attr:`FaultSwitch.injected`.

This lives only in the local gateway (``wsctl local up``): nothing deployed reads the variable, and API
Gateway's @connections API has no such switch.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsctl.errors import WsctlError

log = logging.getLogger("wsctl.gateway")

FAULTS = ("500", "timeout", "429")
DEFAULT_HOLD_SECONDS = 6.0


class FaultSpecError(WsctlError, ValueError):
    """``REALTIME_LOCAL_FAULTS`` does not describe valid rules (the message says which key); ``wsctl local
    up`` stops with it as its one-line error."""


@dataclass
class FaultRule:
    fault: str
    count: int
    connections: frozenset[str] | None = None
    fraction: float = 1.0
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    rng: random.Random = field(default_factory=random.Random)
    used: int = 0

    def matches(self, connection_id: str) -> bool:
        if self.used >= self.count:
            return False
        if self.connections is not None and connection_id not in self.connections:
            return False
        return self.fraction >= 1.0 or self.rng.random() < self.fraction


@dataclass(frozen=True)
class Fault:
    """What one POST gets: ``kind`` is ``500``, ``429`` or ``timeout``."""

    kind: str
    hold_seconds: float = 0.0


def parse_rules(text: str) -> list[FaultRule]:
    try:
        document: Any = json.loads(text)
    except ValueError as error:
        raise FaultSpecError(f"REALTIME_LOCAL_FAULTS: not JSON ({error})") from None
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise FaultSpecError("REALTIME_LOCAL_FAULTS: expected a list of rules")
    return [_rule(index, item) for index, item in enumerate(document)]


def _rule(index: int, item: Any) -> FaultRule:
    where = f"REALTIME_LOCAL_FAULTS[{index}]"
    if not isinstance(item, dict):
        raise FaultSpecError(f"{where}: expected an object")
    unknown = set(item) - {"fault", "connections", "fraction", "count", "hold_seconds", "seed"}
    if unknown:
        raise FaultSpecError(f"{where}: unknown keys {sorted(unknown)}")
    fault = str(item.get("fault", ""))
    if fault not in FAULTS:
        raise FaultSpecError(f"{where}.fault: expected one of {', '.join(FAULTS)}, got {item.get('fault')!r}")
    count = item.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FaultSpecError(f"{where}.count: expected an integer >= 1 (faults are always bounded), got {count!r}")
    connections = item.get("connections")
    if connections is not None and (not isinstance(connections, list)
                                    or not all(isinstance(c, str) and c for c in connections)):
        raise FaultSpecError(f"{where}.connections: expected a list of connection ids")
    fraction = item.get("fraction", 1.0)
    if not isinstance(fraction, int | float) or isinstance(fraction, bool) or not 0 < fraction <= 1:
        raise FaultSpecError(f"{where}.fraction: expected a number in (0, 1], got {fraction!r}")
    hold = item.get("hold_seconds", DEFAULT_HOLD_SECONDS)
    if not isinstance(hold, int | float) or isinstance(hold, bool) or not 0 <= hold <= 600:
        raise FaultSpecError(f"{where}.hold_seconds: expected seconds in [0, 600], got {hold!r}")
    seed = item.get("seed")
    return FaultRule(fault=fault, count=count, connections=frozenset(connections) if connections is not None else None,
                     fraction=float(fraction), hold_seconds=float(hold), rng=random.Random(seed))  # noqa: S311


class FaultSwitch:
    """The rules of ``REALTIME_LOCAL_FAULTS``: inline JSON, or a file re-read when it changes."""

    def __init__(self, spec: str):
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {kind: 0 for kind in FAULTS}
        spec = spec.strip()
        if spec.startswith(("[", "{")):
            self._path: Path | None = None
            self._rules = parse_rules(spec)
        else:
            self._path = Path(spec)
            self._rules = []
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def from_env(cls, value: str | None) -> FaultSwitch | None:
        return cls(value) if value and value.strip() else None

    def _reload(self) -> None:
        if self._path is None:
            return
        try:
            stat = self._path.stat()
        except OSError:
            self._rules, self._stamp = [], None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            rules = parse_rules(self._path.read_text())
        except (OSError, FaultSpecError) as error:
            log.error("fault file %s ignored: %s", self._path, error)
            rules = []
        self._rules, self._stamp = rules, stamp

    def for_post(self, connection_id: str) -> Fault | None:
        """The fault the next POST to ``connection_id`` gets, if any (and count it)."""
        with self._lock:
            self._reload()
            for index, rule in enumerate(self._rules):
                if rule.matches(connection_id):
                    rule.used += 1
                    self.injected[rule.fault] += 1
                    log.warning("fault injected %s for %s (rule %d, %d/%d)", rule.fault, connection_id, index,
                                rule.used, rule.count)
                    return Fault(rule.fault, rule.hold_seconds if rule.fault == "timeout" else 0.0)
        return None
