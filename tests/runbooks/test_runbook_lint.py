"""Runbooks and decision records are checked like code: an on-call engineer must never meet an alarm
without a runbook, a runbook section missing, a command that does not exist, or a dead reference.

- every alarm in every synthesized stack names `runbooks/alarms/<key>.md`, which exists and has the
  sections Meaning / Impact / Diagnosis / Mitigation / Escalation; no runbook is orphaned;
- every `wsctl …` command written in any runbook or ADR parses against the real CLI parser;
- every `aws …` command names a real service, operation and options (botocore's service models,
  which the AWS CLI is generated from); every `make …` target exists;
- every ADR has the MADR v4 front matter and sections, and the decisions index lists them all;
- every referenced `.md` file and `ADR NNNN` exists.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from wsctl.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "runbooks"
ALARM_RUNBOOKS = RUNBOOKS / "alarms"
DECISIONS = RUNBOOKS / "decisions"
FUNCTIONS = ("authorizer", "connect", "disconnect", "default", "broadcast", "sweeper")
# docs/contracts.md, "Alarms"
CONTRACT_ALARM_KEYS = (
    "connections-near-limit", "authorizer-denials-spike", "api-integration-errors", "api-execution-errors",
    *(f"{fn}-{kind}" for fn in FUNCTIONS for kind in ("errors", "throttles")),
    "broadcast-dlq-not-empty", "broadcast-delivery-failures", "resumes-not-recovered",
)
AWS_STACKS = ("realtime-dev", "realtime-staging", "realtime-prod", "realtime-local")
RUNBOOK_SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation")
OPERATIONS_RUNBOOKS = ("deploy-and-rollback", "vercel-env-drift", "suspected-token-leak", "connection-storm",
                       "broadcast-backlog", "cognito-client-rotation", "notification-deletion-request")
MADR_SECTIONS = ("Context and Problem Statement", "Decision Drivers", "Considered Options", "Decision Outcome",
                 "Pros and Cons of the Options")
MADR_OUTCOME_SUBSECTIONS = ("Consequences", "Confirmation")
PLANNED_DECISIONS = (
    "0001-vercel-aws-hybrid", "0002-cdktf-0-21-pins-and-exit-path", "0003-token-transport",
    "0004-connection-store-schema", "0005-connection-limits", "0006-broadcast-fan-out", "0007-heartbeat",
    "0008-notification-persistence", "0009-multi-tab-behaviour", "0010-client-reconnection-contract",
    "0011-checkov-skips", "0012-observability-and-powertools", "0013-sweeper-token-expiry",
    "0014-iam-resource-scoping", "0015-local-stack", "0016-notification-log-resume-and-refresh",
)
# The ops commands this repo ships; each must be shown to on-call somewhere in the runbooks.
OPS_COMMANDS = (("connections", "count"), ("connections", "list"), ("connections", "kick"),
                ("connections", "purge-stale"), ("dlq", "redrive"), ("status",), ("notifications", "list"),
                ("notifications", "purge"))

# What an engineer types for a placeholder (anything else becomes "sample").
PLACEHOLDER_SAMPLES = {"env": "dev", "region": "eu-west-1", "n": "5"}
# AWS CLI commands that are CLI customizations, not API operations, with their own options.
AWS_CLI_CUSTOMIZATIONS = {
    ("logs", "tail"): {"--since", "--follow", "--format", "--filter-pattern", "--log-stream-names",
                       "--log-stream-name-prefix"},
}
AWS_CLI_GLOBAL_OPTIONS = {"--region", "--output", "--query", "--profile", "--endpoint-url", "--no-cli-pager",
                          "--cli-binary-format", "--debug", "--no-verify-ssl", "--color", "--cli-input-json",
                          "--cli-read-timeout", "--cli-connect-timeout"}
AWS_CLI_PAGINATION_OPTIONS = {"--max-items", "--starting-token", "--page-size", "--no-paginate"}


# --------------------------------------------------------------------------------------------
# reading markdown


def markdown_files() -> list[Path]:
    files = sorted(RUNBOOKS.rglob("*.md"))
    assert len(files) >= len(CONTRACT_ALARM_KEYS), "runbooks/ looks empty"
    return files


def code_block_lines(text: str) -> list[str]:
    """Lines inside fenced code blocks, with `\\` continuations joined."""
    lines, inside, pending = [], False, ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append((pending + stripped).strip())
        pending = ""
    return lines


def inline_code(text: str) -> list[str]:
    without_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", without_blocks)


def commands(text: str, program: str) -> list[str]:
    """Commands of one program, first pipeline stage only: every such line of a code block, and
    inline code with options or assignments (a bare `wsctl dlq redrive` in prose names a command;
    `wsctl dlq redrive --env <env>` and `make deploy ENV=<env>` are commands)."""
    inline = [span for span in inline_code(text) if " --" in span or "=" in span]
    found = []
    for line in code_block_lines(text) + inline:
        line = line.removeprefix("$ ").strip()
        if line.startswith(program + " "):
            found.append(first_stage(line))
    return found


def first_stage(line: str) -> str:
    """The command before the first `|` that is not inside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "|":
            return line[:index].strip()
    return line.strip()


def argv_of(command: str) -> list[str]:
    """Shell words of a documented command, placeholders and `$(…)` substituted by sample values."""
    command = re.sub(r"\$\([^)]*\)", "SUBSTITUTED", command)
    command = re.sub(r"<([a-z0-9][a-z0-9-]*)>", lambda m: PLACEHOLDER_SAMPLES.get(m.group(1), "sample"), command)
    return shlex.split(command)


def sections(text: str, level: str = "## ") -> list[str]:
    return [line[len(level):].strip() for line in text.splitlines() if line.startswith(level)]


def all_commands(program: str) -> list[tuple[Path, str]]:
    return [(path, command) for path in markdown_files() for command in commands(path.read_text(), program)]


# --------------------------------------------------------------------------------------------
# alarms ↔ runbooks


def synthesized_alarms(synth_dir: Path) -> dict[str, list[dict]]:
    stacks = {}
    for stack_file in sorted((Path(synth_dir) / "stacks").glob("*/cdk.tf.json")):
        resources = json.loads(stack_file.read_text()).get("resource", {})
        stacks[stack_file.parent.name] = list(resources.get("aws_cloudwatch_metric_alarm", {}).values())
    return stacks


def test_every_synthesized_alarm_links_an_existing_runbook_with_the_five_sections(synth_dir):
    # GIVEN every stack synthesized once for the session
    stacks = synthesized_alarms(synth_dir)
    assert set(AWS_STACKS) <= set(stacks), f"AWS stacks missing from {synth_dir}: {sorted(stacks)}"
    problems = []
    for stack, alarms in stacks.items():
        if stack in AWS_STACKS:
            names = {alarm["alarm_name"] for alarm in alarms}
            missing = {f"{stack}-{key}" for key in CONTRACT_ALARM_KEYS} - names
            if missing:
                problems.append(f"{stack}: contract alarms not synthesized: {sorted(missing)}")
        for alarm in alarms:
            # WHEN reading the runbook path out of the description
            name, description = alarm["alarm_name"], alarm.get("alarm_description", "")
            key = name.removeprefix(f"{stack}-")
            linked = re.findall(r"runbooks/alarms/[a-z0-9-]+\.md", description)
            # THEN it is the alarm's own runbook, it exists and it has the five sections in order
            if linked != [f"runbooks/alarms/{key}.md"]:
                problems.append(f"{stack}: {name}: description links {linked}, expected runbooks/alarms/{key}.md")
                continue
            runbook = REPO / linked[0]
            if not runbook.is_file():
                problems.append(f"{stack}: {name}: {linked[0]} does not exist")
            elif sections(runbook.read_text()) != list(RUNBOOK_SECTIONS):
                problems.append(f"{linked[0]}: sections {sections(runbook.read_text())}, expected {RUNBOOK_SECTIONS}")
    assert problems == []


def test_no_alarm_runbook_is_orphaned(synth_dir):
    keys = {alarm["alarm_name"].removeprefix(f"{stack}-")
            for stack, alarms in synthesized_alarms(synth_dir).items() for alarm in alarms}
    runbooks = {path.stem for path in ALARM_RUNBOOKS.glob("*.md")}
    assert runbooks - keys == set(), "runbooks for alarms no stack declares"
    assert set(CONTRACT_ALARM_KEYS) <= runbooks


def test_alarm_runbooks_name_their_alarm_and_each_section_has_content():
    for path in sorted(ALARM_RUNBOOKS.glob("*.md")):
        text = path.read_text()
        assert text.startswith(f"# {path.stem}\n"), path
        assert f"realtime-<env>-{path.stem}" in text, path
        bodies = re.split(r"^## .*$", text, flags=re.M)[1:]
        assert len(bodies) == len(RUNBOOK_SECTIONS) and all(len(body.strip()) > 40 for body in bodies), path
        # Diagnosis and Mitigation give the engineer something to run
        diagnosis, mitigation = bodies[2], bodies[3]
        assert "```" in diagnosis, f"{path.name}: Diagnosis has no command block"
        assert "`wsctl " in mitigation or "```" in mitigation or "make deploy" in mitigation or ".md" in mitigation, path


def test_operations_runbooks_exist_with_an_escalation_section():
    for name in OPERATIONS_RUNBOOKS:
        path = RUNBOOKS / "operations" / f"{name}.md"
        assert path.is_file(), path
        text = path.read_text()
        assert "## Escalation" in text and "```" in text, path


# --------------------------------------------------------------------------------------------
# commands


def test_every_wsctl_command_in_the_runbooks_parses_against_the_real_cli():
    parser = build_parser()
    documented = all_commands("wsctl")
    assert len(documented) >= 30
    failures, seen = [], set()
    for path, command in documented:
        argv = argv_of(command)[1:]
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                args = parser.parse_args(argv)
        except SystemExit:
            failures.append(f"{path.relative_to(REPO)}: {command}")
            continue
        seen.add((args.command, getattr(args, "verb", None)))
    assert failures == []
    # every ops command is documented somewhere for on-call
    assert {(c[0], c[1] if len(c) > 1 else None) for c in OPS_COMMANDS} <= seen


def test_the_lint_rejects_a_command_the_cli_does_not_have():
    # GIVEN the same parser; WHEN a runbook invents a flag or a verb; THEN parsing fails
    parser = build_parser()
    for invented in ("wsctl connections kick --env dev", "wsctl connections drain --env dev",
                     "wsctl status --environment dev", "wsctl dlq redrive --env dev --method fast"):
        with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            parser.parse_args(argv_of(invented)[1:])


def aws_command_problem(session, argv: list[str]) -> str | None:
    """Why `aws <service> <command> [--option …]` does not exist, or None."""
    if len(argv) < 3:
        return "no service or command"
    service, command = argv[1], argv[2]
    options = {word.split("=")[0] for word in argv[3:] if word.startswith("--")}
    if (service, command) in AWS_CLI_CUSTOMIZATIONS:
        unknown = options - AWS_CLI_CUSTOMIZATIONS[(service, command)] - AWS_CLI_GLOBAL_OPTIONS
        return f"unknown options {sorted(unknown)}" if unknown else None
    if service not in session.get_available_services():
        return f"no service {service!r}"
    model = session.get_service_model(service)
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    if command not in operations:
        return f"no command {service} {command}"
    operation = model.operation_model(operations[command])
    members = operation.input_shape.members if operation.input_shape else {}
    accepted = {f"--{xform_name(name, '-')}" for name in members}
    accepted |= {f"--no-{xform_name(name, '-')}" for name, shape in members.items() if shape.type_name == "boolean"}
    accepted |= AWS_CLI_GLOBAL_OPTIONS | AWS_CLI_PAGINATION_OPTIONS
    unknown = options - accepted
    if unknown:
        return f"unknown options {sorted(unknown)} for {service} {command}"
    required = {f"--{xform_name(name, '-')}" for name in (operation.input_shape.required_members
                                                            if operation.input_shape else [])}
    missing = required - options
    return f"missing required {sorted(missing)} for {service} {command}" if missing else None


def test_every_aws_cli_command_in_the_runbooks_exists():
    session = botocore.session.get_session()
    documented = all_commands("aws")
    assert len(documented) >= 30
    failures = [f"{path.relative_to(REPO)}: {problem}: {command}" for path, command in documented
                if (problem := aws_command_problem(session, argv_of(command)))]
    assert failures == []


def test_the_aws_lint_rejects_invented_commands():
    session = botocore.session.get_session()
    assert aws_command_problem(session, argv_of("aws lambda get-function-configuration --function-name x")) is None
    assert aws_command_problem(session, argv_of("aws logs tail /aws/lambda/x --since 15m")) is None
    assert "no command" in aws_command_problem(session, argv_of("aws lambda get-function-concurency --function-name x"))
    assert "unknown options" in aws_command_problem(session, argv_of("aws sqs purge-queue --queue x"))
    assert "missing required" in aws_command_problem(session, argv_of("aws sqs purge-queue --region eu-west-1"))
    assert "no service" in aws_command_problem(session, argv_of("aws lamda list-functions"))


def test_every_make_target_in_the_runbooks_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    documented = all_commands("make")
    assert documented
    unknown = [f"{path.relative_to(REPO)}: {command}" for path, command in documented
               if argv_of(command)[1] not in targets]
    assert unknown == []


# --------------------------------------------------------------------------------------------
# references


def test_referenced_markdown_files_and_adrs_exist():
    adr_numbers = {path.name[:4] for path in DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md")}
    problems = []
    for path in markdown_files():
        text = path.read_text()
        for reference in re.findall(r"[A-Za-z0-9_./-]+\.md", text):
            candidates = [(base / reference).resolve() for base in (path.parent, REPO, ALARM_RUNBOOKS)]
            # inside the repository only: a clean clone (CI) has nothing next to it
            if not any(candidate.is_file() and candidate.is_relative_to(REPO) for candidate in candidates):
                problems.append(f"{path.relative_to(REPO)}: {reference}")
        for number in re.findall(r"\bADRs? (\d{4})", text):
            if number not in adr_numbers:
                problems.append(f"{path.relative_to(REPO)}: ADR {number}")
    assert problems == []


# --------------------------------------------------------------------------------------------
# decision records


def adr_files() -> list[Path]:
    return sorted(DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))


def test_every_adr_has_madr_front_matter_and_sections():
    problems = []
    for path in adr_files():
        text = path.read_text()
        front = re.match(r"^---\n(.*?)\n---\n", text, flags=re.S)
        if not front:
            problems.append(f"{path.name}: no front matter")
            continue
        fields = dict(line.split(":", 1) for line in front.group(1).splitlines() if ":" in line)
        if fields.get("status", "").strip() not in ("proposed", "accepted", "rejected", "deprecated", "superseded") \
                and not fields.get("status", "").strip().startswith("superseded by"):
            problems.append(f"{path.name}: status {fields.get('status')!r}")
        if not re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", fields.get("date", "")):
            problems.append(f"{path.name}: date {fields.get('date')!r}")
        body = text[front.end():]
        if not body.lstrip().startswith("# "):
            problems.append(f"{path.name}: no title")
        found = sections(body)
        if [s for s in found if s in MADR_SECTIONS] != list(MADR_SECTIONS):
            problems.append(f"{path.name}: sections {found}")
        outcome = body.split("## Decision Outcome", 1)[-1].split("\n## ", 1)[0]
        for subsection in MADR_OUTCOME_SUBSECTIONS:
            if f"### {subsection}" not in outcome:
                problems.append(f"{path.name}: Decision Outcome lacks ### {subsection}")
    assert adr_files(), "no ADRs"
    assert problems == []


def test_adr_numbers_are_unique():
    numbers = [path.name[:4] for path in adr_files()]
    assert len(numbers) == len(set(numbers))


def test_the_decisions_index_lists_every_adr_and_only_existing_ones():
    index = (DECISIONS / "README.md").read_text()
    linked = set(re.findall(r"\((\d{4}-[a-z0-9-]+\.md)\)", index))
    files = {path.name for path in adr_files()}
    assert files <= linked, f"ADRs missing from the index: {sorted(files - linked)}"
    assert linked <= files, f"index links ADRs that do not exist: {sorted(linked - files)}"
    # each entry carries the record's own title and status
    entries = re.findall(r"\| \[(.+?)\]\((\d{4}-[a-z0-9-]+\.md)\) \| ([a-z ]+[0-9]*) \|", index)
    assert len(entries) == len(files)
    for title, name, status in entries:
        text = (DECISIONS / name).read_text()
        assert re.search(r"^# (.+)$", text, flags=re.M).group(1) == title, name
        assert re.search(r"^status: (.+)$", text, flags=re.M).group(1).strip() == status, name


def test_every_planned_decision_record_exists():
    files = {path.stem for path in adr_files()}
    assert set(PLANNED_DECISIONS) - files == set()
