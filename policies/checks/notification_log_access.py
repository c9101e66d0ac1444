"""CKV_RT_018: only the broadcast function writes the notification log, only the default function reads it —
and writes, besides, nothing but a user's read state.

The log holds every user's notifications for the retention window (ADR 0016): personal data, and the
stream heads whose offsets only the broadcast function may move (ADR 0018). A role
policy that names the log's table is allowed exactly the actions of its owner's grant
(stacks/constructs/notification_log.py); the role is known by its policy's name,
``realtime-<env>-<function>-least-privilege``.

The default function may also ``PutItem`` a user's read state (ADR 0020), but only in a statement that
grants ``PutItem`` alone under ``ForAllValues:StringEquals`` on ``dynamodb:Attributes`` with a subset of
the read-state attributes: it can then never write a notification frame, a head or an epoch.
"""

import re

from checkov.common.models.enums import CheckCategories
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_iam import statements_from_resource, verdict
from rt_values import attr

#: A reference to the notification log's table (construct id ``notification-log``).
LOG_TABLE_RE = re.compile(r"\$\{aws_dynamodb_table\.notification-log[A-Za-z0-9_-]*\.arn\}")
ALLOWED = {
    "broadcast": frozenset({"dynamodb:getitem", "dynamodb:putitem", "dynamodb:updateitem"}),
    "default": frozenset({"dynamodb:getitem", "dynamodb:query"}),
}
#: The only write the default function may make, and the attributes it may name (ADR 0020).
READ_STATE_ACTIONS = frozenset({"dynamodb:putitem"})
READ_STATE_ATTRIBUTES = frozenset({"userId", "cursor", "readUser", "readGlobal", "ver", "expiresAt"})
POLICY_NAME_RE = re.compile(r"^realtime-[a-z0-9]+-(?P<function>[a-z]+)-least-privilege$")


class NotificationLogAccess(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure only the broadcast function writes and only the default function reads the notification log",
            id="CKV_RT_018",
            categories=[CheckCategories.IAM],
            supported_resources=["aws_iam_role_policy"],
        )

    def scan_resource_conf(self, conf):
        documents = statements_from_resource(conf, self.entity_type)
        name = attr(conf, "name")
        match = POLICY_NAME_RE.match(name) if isinstance(name, str) else None
        allowed = ALLOWED.get(match["function"], frozenset()) if match else frozenset()
        touching = [s for s in documents.statements
                    if s.allows and any(LOG_TABLE_RE.search(resource) for resource in s.resources)]
        findings = []
        for statement in touching:
            if match and match["function"] == "default" and _read_state_only(statement):
                continue
            extra = sorted(a for a in statement.actions if a.lower() not in allowed)
            if extra or statement.not_actions:
                findings.append(f"{name or 'this policy'} may {extra or list(statement.not_actions)} on the "
                                "notification log (only broadcast writes, only default reads)")
        return verdict(self, bool(touching), findings, documents.unreadable)


def _read_state_only(statement) -> bool:
    """PutItem alone, limited to read-state attributes (every condition on them must be ForAllValues)."""
    if statement.not_actions or {a.lower() for a in statement.actions} != READ_STATE_ACTIONS:
        return False
    limits = statement.conditions_on("dynamodb:Attributes")
    return bool(limits) and all(c.test == "ForAllValues:StringEquals" and c.values
                                and set(c.values) <= READ_STATE_ATTRIBUTES for c in limits)


check = NotificationLogAccess()
