"""The Confirmation sections of ADRs 0007–0010 and 0016, as tests: each fails when the code or the stacks
drift from what the decision record promises the web app, so the record has to be revisited."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

from realtime import messages

from stacks.config import load_all
from wsctl.gateway.server import GatewaySettings

REPO = Path(__file__).resolve().parents[2]
DECISIONS = REPO / "runbooks" / "decisions"
LAMBDA_SRC = REPO / "lambda_src" / "realtime"
AWS_STACKS = ("realtime-dev", "realtime-staging", "realtime-prod", "realtime-local")


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """Cells of the first table after the paragraph starting with `heading`."""
    section = markdown.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and separator


# --------------------------------------------------------------------------------------------
# 0007 heartbeat


def test_client_messages_are_ping_resume_refresh_and_the_inbox():
    # ADR 0007's ping, ADR 0016's resume and refresh, ADR 0020's inbox: a new client frame needs a new record.
    variants = typing.get_args(typing.get_args(messages.ClientMessage)[0])
    kinds = {typing.get_args(variant.model_fields["type"].annotation)[0] for variant in variants}
    assert kinds == {"ping", "resume", "refresh", "history", "read", "read.all"} == set(messages.CLIENT_TYPES)


def test_heartbeat_interval_stays_under_the_idle_timeout_and_the_documented_bound():
    adr = (DECISIONS / "0007-heartbeat.md").read_text()
    interval, jitter = map(int, re.search(r"\| ping interval \| (\d+) s ± (\d+) s", adr).groups())
    pong_timeout = int(re.search(r"\| pong timeout \| (\d+) s", adr).group(1))
    longest_gap = interval + jitter + pong_timeout
    # GIVEN API Gateway's idle timeout as the local gateway enforces it, and the runtime's promise
    assert GatewaySettings.idle_timeout_seconds == 600
    assert "at least every 5 minutes" in messages.PingMessage.__doc__
    # THEN a healthy client pings (and learns the answer) well inside both
    assert longest_gap < 300 < GatewaySettings.idle_timeout_seconds
    # AND a background tab's one-minute timer alignment still keeps it under 5 minutes
    assert interval + jitter + 60 <= 300


# --------------------------------------------------------------------------------------------
# 0016 notification log (supersedes 0008)


def test_the_stacks_hold_the_connection_table_and_the_notification_log_only(synth_dir):
    for stack in AWS_STACKS:
        resources = json.loads((Path(synth_dir) / "stacks" / stack / "cdk.tf.json").read_text())["resource"]
        tables = sorted(table["name"] for table in resources.get("aws_dynamodb_table", {}).values())
        env = stack.removeprefix("realtime-")
        assert tables == [f"realtime-{env}-connections", f"realtime-{env}-notifications"], \
            f"{stack}: a new table needs a record superseding ADR 0016"


def test_adr_0008_is_marked_superseded_by_0016():
    assert (DECISIONS / "0008-notification-persistence.md").read_text().startswith(
        "---\nstatus: superseded by 0016\n")


# --------------------------------------------------------------------------------------------
# 0009 multi-tab behaviour


def test_every_environment_fits_a_second_browser_or_a_fallback_tab():
    configs = load_all()
    assert set(configs) >= {"dev", "staging", "prod", "local"}
    for name, config in configs.items():
        assert config.connections.per_user_limit >= 2, name


# --------------------------------------------------------------------------------------------
# 0010 client reconnection contract


def test_every_error_code_has_exactly_one_client_rule():
    adr = (DECISIONS / "0010-client-reconnection-contract.md").read_text()
    documented = [row[0].strip("`") for row in table_rows(adr, "**Error frames**")]
    assert sorted(documented) == sorted(code.value for code in messages.ErrorCode)
    assert len(documented) == len(set(documented))


def test_every_handshake_status_the_backend_produces_has_a_client_rule():
    adr = (DECISIONS / "0010-client-reconnection-contract.md").read_text()
    documented = {int(row[0]) for row in table_rows(adr, "**Handshake statuses**")}
    # The statuses connect refuses with and the authorizer denies with, read from the runtime.
    connect = (LAMBDA_SRC / "services" / "connections.py").read_text()
    authorizer = (LAMBDA_SRC / "auth.py").read_text()
    produced = {int(status) for status in re.findall(r"_refused\((\d{3})", connect)}
    produced |= {int(status) for status in re.findall(r"_deny\([^\n]*?, (\d{3})\)", authorizer)}
    assert produced >= {401, 403, 429, 503}, "the runtime's refusal code moved: update this test and ADR 0010"
    assert produced == documented


def test_every_close_code_of_the_contract_has_a_rule():
    adr = (DECISIONS / "0010-client-reconnection-contract.md").read_text()
    documented = {int(row[0].split()[0]) for row in table_rows(adr, "**Close codes**")}
    assert documented >= {1000, 1001, 1006, 1008, 1009, 1011}


def test_backoff_schedule_is_1_2_4_8_up_to_30_seconds():
    adr = (DECISIONS / "0010-client-reconnection-contract.md").read_text()
    assert "`d = min(30, 2^(n-1))`" in adr
    schedule = [min(30, 2 ** (n - 1)) for n in range(1, 9)]
    assert schedule == [1, 2, 4, 8, 16, 30, 30, 30]
    assert "1, 2, 4, 8, 16, 30, 30" in adr
