"""IAM policy documents in synthesized terraform JSON, normalised to one statement shape.

Not a check (see ``rt_values``). cdktf puts a policy document in one of three forms, and the checks
must read all of them the same way:

* a JSON string (``json.dumps`` in Python), possibly with ``${...}`` references inside strings;
* ``${jsonencode({...})}`` (``Fn.jsonencode``), an HCL object expression;
* ``${data.aws_iam_policy_document.<name>.json}``: the statements live in that data source, which
  the data-source variant of a check reads (:func:`statements_from_policy_document_data`).

Anything else (another reference, a template, malformed JSON) cannot be verified statically, and the
checks fail closed on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import hcl2
from checkov.common.models.enums import CheckResult
from rt_values import SINGLE_INTERPOLATION_RE, as_list, attr, blocks, unwrap

#: Where each resource type keeps its policy documents (attribute paths through nested blocks).
POLICY_ATTRIBUTES: dict[str, tuple[tuple[str, ...], ...]] = {
    "aws_iam_policy": (("policy",),),
    "aws_iam_role_policy": (("policy",),),
    "aws_iam_user_policy": (("policy",),),
    "aws_iam_group_policy": (("policy",),),
    "aws_iam_role": (("assume_role_policy",), ("inline_policy", "policy")),
    "aws_kms_key": (("policy",),),
    "aws_kms_key_policy": (("policy",),),
    "aws_sqs_queue": (("policy",),),
    "aws_sqs_queue_policy": (("policy",),),
    "aws_sns_topic": (("policy",),),
    "aws_sns_topic_policy": (("policy",),),
    "aws_cloudwatch_log_resource_policy": (("policy_document",),),
}

POLICY_DOCUMENT_DATA_RE = re.compile(r"^data\.aws_iam_policy_document\.[A-Za-z0-9_-]+\.(json|minified_json)$")
JSONENCODE_RE = re.compile(r"^jsonencode\((?P<object>.*)\)$", re.DOTALL)


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One IAM statement, whichever form it was written in."""

    effect: str = "Allow"
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    #: principal type (``AWS``, ``Service``, ``Federated``, ``*``) -> identifiers
    principals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    def allows_action(self, action: str) -> bool:
        """True for an Allow statement that grants ``action`` exactly (case-insensitively)."""
        return self.allows and any(a.lower() == action.lower() for a in self.actions)

    def conditions_on(self, variable: str) -> list[Condition]:
        return [c for c in self.conditions if c.variable.lower() == variable.lower()]


@dataclass
class Documents:
    """The statements found in a resource's policy attributes, and what could not be read."""

    statements: list[Statement] = field(default_factory=list)
    #: ``attribute: value`` of policy values that could not be parsed (the checks fail on these).
    unreadable: list[str] = field(default_factory=list)
    #: Policy values that delegate to an ``aws_iam_policy_document`` data source.
    delegated: list[str] = field(default_factory=list)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in as_list(value))


def _statement_from_json(raw: dict[str, Any]) -> Statement:
    principal = raw.get("Principal")
    if principal == "*":
        principals = {"*": ("*",)}
    elif isinstance(principal, dict):
        principals = {str(k): _strings(v) for k, v in principal.items()}
    else:
        principals = {}
    condition = raw.get("Condition") or {}
    if not isinstance(condition, dict) or not all(isinstance(v, dict) for v in condition.values()):
        raise ValueError("Condition is not an object of objects")
    conditions = tuple(
        Condition(test=str(test), variable=str(variable), values=_strings(values))
        for test, by_variable in condition.items()
        for variable, values in by_variable.items()
    )
    return Statement(
        effect=str(raw.get("Effect", "Allow")),
        actions=_strings(raw.get("Action")),
        not_actions=_strings(raw.get("NotAction")),
        resources=_strings(raw.get("Resource")),
        principals=principals,
        conditions=conditions,
    )


def statements_from_document(document: Any) -> list[Statement]:
    """The statements of a parsed policy document (``{"Statement": [...]}``)."""
    if not isinstance(document, dict) or "Statement" not in document:
        raise ValueError("not a policy document (no Statement)")
    raw_statements = document["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not all(isinstance(s, dict) for s in raw_statements):
        raise ValueError("Statement is neither an object nor a list of objects")
    return [_statement_from_json(s) for s in raw_statements]


def parse_policy_value(value: str) -> list[Statement] | None:
    """Statements of one policy attribute value; ``None`` when it delegates to a policy-document
    data source. Raises ``ValueError`` when the value cannot be verified statically."""
    interpolation = SINGLE_INTERPOLATION_RE.match(value.strip())
    if interpolation:
        expression = interpolation["expr"].strip()
        if POLICY_DOCUMENT_DATA_RE.match(expression):
            return None
        encoded = JSONENCODE_RE.match(expression)
        if not encoded:
            raise ValueError(f"a reference that cannot be read statically: {value[:80]}")
        try:
            parsed = hcl2.loads("document = " + encoded["object"])
        except Exception as error:  # noqa: BLE001 - the HCL parser raises several unrelated types
            raise ValueError(f"jsonencode argument is not a literal object: {error}") from error
        return statements_from_document(unwrap(parsed["document"]))
    try:
        document = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error.msg}") from error
    return statements_from_document(document)


def statements_from_resource(
    conf: dict[str, Any], resource_type: str, only: tuple[str, ...] | None = None
) -> Documents:
    """Every statement in the policy attributes of a resource of ``resource_type`` (or in the one
    attribute path ``only``)."""
    found = Documents()
    for path in (only,) if only else POLICY_ATTRIBUTES.get(resource_type, ()):
        *block_path, leaf = path
        holders = [conf]
        for block in block_path:
            holders = [b for holder in holders for b in blocks(holder, block)]
        for holder in holders:
            value = attr(holder, leaf)
            if value is None or value == "":
                continue
            label = ".".join(path)
            if isinstance(value, dict):  # an already-decoded document
                value = json.dumps(value)
            try:
                parsed = parse_policy_value(str(value))
            except ValueError as error:
                found.unreadable.append(f"{label}: {error}")
                continue
            if parsed is None:
                found.delegated.append(label)
            else:
                found.statements.extend(parsed)
    return found


def statements_from_policy_document_data(conf: dict[str, Any]) -> list[Statement]:
    """The ``statement`` blocks of an ``aws_iam_policy_document`` data source."""
    statements = []
    for block in blocks(conf, "statement"):
        principals: dict[str, tuple[str, ...]] = {}
        for principal in blocks(block, "principals"):
            kind = str(attr(principal, "type"))
            principals[kind] = principals.get(kind, ()) + _strings(principal.get("identifiers"))
        conditions = tuple(
            Condition(
                test=str(attr(c, "test")),
                variable=str(attr(c, "variable")),
                values=_strings(c.get("values")),
            )
            for c in blocks(block, "condition")
        )
        statements.append(
            Statement(
                effect=str(attr(block, "effect") or "Allow"),
                actions=_strings(block.get("actions")),
                not_actions=_strings(block.get("not_actions")),
                resources=_strings(block.get("resources")),
                principals=principals,
                conditions=conditions,
            )
        )
    return statements


def is_wildcard_action(action: str) -> bool:
    """``*`` or ``<service>:*``: the actions no statement of ours may allow."""
    return action.strip() == "*" or action.strip().endswith(":*")


def wildcard_action_findings(statements: list[Statement]) -> list[str]:
    """Allow statements granting ``*``/``service:*`` or using ``NotAction`` (which allows everything
    it does not name)."""
    findings = []
    for statement in statements:
        if not statement.allows:
            continue
        findings += [f"allows wildcard action {a!r}" for a in statement.actions if is_wildcard_action(a)]
        if statement.not_actions:
            findings.append(f"allows everything except {list(statement.not_actions)} (NotAction)")
    return findings


MANAGE_CONNECTIONS = "execute-api:ManageConnections"
#: ``<api>/<stage>/<method>/@connections/*`` where ``<api>`` is an execute-api ARN or the API's
#: ``execution_arn`` reference; or ``${aws_apigatewayv2_stage.<name>.execution_arn}/<method>/@connections/*``.
CONNECTIONS_RESOURCE_RES = (
    re.compile(
        r"^(?P<api>\$\{aws_apigatewayv2_api\.[A-Za-z0-9_-]+\.execution_arn\}"
        r"|arn:aws[a-z-]*:execute-api:[^:/*]+:[^:/*]+:[^:/*]+)"
        r"/(?P<stage>[^/*]+)/(?P<method>POST|GET|DELETE|\*)/@connections/\*$"
    ),
    re.compile(
        r"^(?P<stage>\$\{aws_apigatewayv2_stage\.[A-Za-z0-9_-]+\.execution_arn\})"
        r"/(?P<method>POST|GET|DELETE|\*)/@connections/\*$"
    ),
)


def connections_stage(resource: str) -> str | None:
    """``<api>/<stage>`` for an ARN pattern that covers exactly one stage's @connections, else None."""
    for pattern in CONNECTIONS_RESOURCE_RES:
        match = pattern.match(resource)
        if match:
            groups = match.groupdict()
            return f"{groups.get('api', '')}/{groups['stage']}"
    return None


def manage_connections_findings(statements: list[Statement]) -> tuple[bool, list[str]]:
    """(whether any statement grants ManageConnections, what is wrong with how it is scoped)."""
    granting = [s for s in statements if s.allows_action(MANAGE_CONNECTIONS)]
    findings = []
    stages = set()
    for statement in granting:
        if not statement.resources:
            findings.append("ManageConnections without a Resource")
        for resource in statement.resources:
            stage = connections_stage(resource)
            if stage is None:
                findings.append(f"ManageConnections on {resource!r}, not one stage's @connections/*")
            else:
                stages.add(stage)
    if len(stages) > 1:
        findings.append(f"ManageConnections spans {len(stages)} stages: {sorted(stages)}")
    return bool(granting), findings


WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
EXACT_MATCH_TESTS = ("StringEquals", "ForAllValues:StringEquals")


def _pinned(statement: Statement, provider: str, claim: str) -> bool:
    """True when ``<provider>:<claim>`` is pinned with StringEquals to values without wildcards."""
    for condition in statement.conditions_on(f"{provider}:{claim}"):
        if (
            condition.test in EXACT_MATCH_TESTS
            and condition.values
            and not any("*" in v or "?" in v for v in condition.values)
        ):
            return True
    return False


def web_identity_trust_findings(statements: list[Statement]) -> tuple[bool, list[str]]:
    """(whether any statement trusts an OIDC provider, which of them do not pin ``aud`` and ``sub``).

    The provider's condition-key prefix is its URL without scheme (``oidc.vercel.com/<team>``),
    which is also how the provider's ARN ends (``...:oidc-provider/oidc.vercel.com/<team>``)."""
    trusting = [s for s in statements if s.allows_action(WEB_IDENTITY)]
    findings = []
    for statement in trusting:
        federated = statement.principals.get("Federated", ())
        if not federated:
            findings.append("web identity trust without a Federated principal")
        for principal in federated:
            if "${" in principal:
                # A reference to the provider resource: its URL is not known here, so any prefix the
                # conditions use may be it.
                prefixes = {c.variable.rsplit(":", 1)[0] for c in statement.conditions if ":" in c.variable}
            else:
                prefixes = {principal.split(":oidc-provider/", 1)[-1]}
            for claim in ("aud", "sub"):
                if not any(_pinned(statement, prefix, claim) for prefix in prefixes):
                    findings.append(f"trust of {principal!r} does not pin {claim} with StringEquals")
    return bool(trusting), findings


def verdict(check: Any, applies: bool, findings: list[str], unreadable: Sequence[str] = ()) -> CheckResult:
    """PASSED/FAILED with the findings as the check's details; UNKNOWN (not reported) when nothing in
    the documents is what the rule is about. Unreadable documents fail: they cannot be verified."""
    check.details.extend([f"cannot verify {u}" for u in unreadable] + findings)
    if unreadable or findings:
        return CheckResult.FAILED
    return CheckResult.PASSED if applies else CheckResult.UNKNOWN


def star_resource_findings(
    statements: list[Statement], unscoped_actions: frozenset[str]
) -> tuple[bool, list[str]]:
    """(whether any Allow statement names resources, which grant ``Resource: "*"`` to an action
    outside ``unscoped_actions``, the actions AWS has no resource-level permissions for)."""
    scoped = [s for s in statements if s.allows and s.resources]
    findings = []
    for statement in scoped:
        if "*" in statement.resources:
            widened = sorted(a for a in statement.actions if a.lower() not in unscoped_actions)
            if widened or statement.not_actions:
                findings.append(
                    f'Resource "*" for {widened or list(statement.not_actions)}, which can be scoped'
                )
    return bool(scoped), findings
