"""Shared helpers: paths, the Lambda source on sys.path, statistics, machine description, result shape."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_SRC = REPO_ROOT / "lambda_src"
BENCH_DIR = REPO_ROOT / "bench"
VENV_BIN = REPO_ROOT / ".venv" / "bin"

#: Fake AWS identity for everything the benchmarks build with boto3: no real account, no network.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",  # noqa: S105 - fake credential for a local endpoint
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def use_lambda_src() -> None:
    """Make ``realtime`` and ``handlers`` importable, as on the Lambda platform."""
    if str(LAMBDA_SRC) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SRC))


def use_fake_aws() -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS_ENV)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child environment without the caller's AWS identity, with the fake one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    env.update(FAKE_AWS_ENV)
    env.update(extra or {})
    return env


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100 * len(ordered) + 0.4999))))
    return float(ordered[rank - 1])


def repeat(times: int, fn: Callable[[], float]) -> list[float]:
    return [fn() for _ in range(times)]


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_mib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_mib": memory_total_mib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": now_utc(),
        "load_average": [round(x, 2) for x in load_average()],
    }


def rss_kib(pid: int) -> int:
    """Resident set size of one process from /proc (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """pid and every live descendant (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_kib(pid: int) -> int:
    return sum(rss_kib(p) for p in descendants(pid))


class Row(dict):
    """One figure of the results table."""


def row(figure: str, value: float | None, unit: str, *, baseline: float | None = None,
        baseline_label: str = "", ratio: float | None = None, ratio_label: str = "", goal: str = "",
        passed: bool | None = None, note: str = "") -> dict[str, Any]:
    return {"figure": figure, "value": value, "unit": unit, "baseline": baseline, "baseline_label": baseline_label,
            "ratio": ratio, "ratio_label": ratio_label, "goal": goal, "passed": passed, "note": note}


def result(name: str, title: str, command: str, rows: list[dict[str, Any]], details: str = "",
           raw: dict[str, Any] | None = None, measured: bool = True, started: float | None = None) -> dict[str, Any]:
    return {
        "name": name, "title": title, "command": command, "measured": measured, "rows": rows,
        "details": details, "raw": raw or {}, "date": now_utc(),
        "duration_s": round(time.monotonic() - started, 1) if started is not None else None,
        "load_average": [round(x, 2) for x in load_average()],
    }


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value != value:
        return "n/a"
    if isinstance(value, int) or (abs(value) >= 100 and digits <= 1):
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    headers = list(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
