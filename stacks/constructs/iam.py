"""IAM building blocks: policy statements checked at the source, and a role whose single inline
policy collects the grants other constructs make on it.

The guardrail lives here because every statement in the stacks is built through :class:`Statement`:
an action ``*`` or ``service:*`` fails synthesis with the construct path that asked for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsii
from cdktf import IResolveContext, IStringProducer, Lazy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

POLICY_VERSION = "2012-10-17"


class WildcardActionError(ValueError):
    """A statement asked for ``*`` or ``service:*``: the stacks never grant whole services."""


def check_actions(actions: Sequence[str], where: str) -> None:
    for action in actions:
        service, _, name = action.partition(":")
        if action == "*" or name == "*" or not service or not name:
            raise WildcardActionError(
                f"{where}: IAM action {action!r} is not allowed (name exact actions, see "
                "runbooks/decisions/0014-iam-resource-scoping.md)")


@dataclass(frozen=True)
class Statement:
    """One IAM policy statement. Resources are exact ARNs (or tokens resolving to them)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    effect: str = "Allow"
    principal: Mapping[str, Any] | None = None
    condition: Mapping[str, Any] | None = None
    #: Where the statement was made, for the guardrail's message.
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        check_actions(self.actions, self.origin or self.sid)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        if self.principal is not None:
            document["Principal"] = dict(self.principal)
        document["Action"] = sorted(self.actions)
        if self.resources:
            document["Resource"] = list(self.resources) if len(self.resources) > 1 else self.resources[0]
        if self.condition is not None:
            document["Condition"] = dict(self.condition)
        return document


def policy_document(statements: Sequence[Statement]) -> str:
    """A policy JSON string; cdktf resolves the ARN tokens embedded in it at synthesis."""
    return json.dumps({"Version": POLICY_VERSION, "Statement": [s.to_json() for s in statements]},
                      separators=(",", ":"))


def service_trust(service: str) -> str:
    """Trust policy letting an AWS service (``lambda.amazonaws.com``) assume the role."""
    return policy_document([Statement(sid="AssumedBy" + service.split(".")[0].title(),
                                      actions=("sts:AssumeRole",), principal={"Service": service})])


@jsii.implements(IStringProducer)
class _StatementsProducer:
    def __init__(self, role: LeastPrivilegeRole):
        self._role = role

    def produce(self, context: IResolveContext) -> str:  # noqa: ARG002 - jsii interface
        return policy_document(self._role.statements)


class LeastPrivilegeRole(Construct):
    """An IAM role plus ONE inline policy holding every grant made on it.

    Grants come from the constructs that own the resources (``table.grant_connection_writes(role)``);
    the policy text is produced lazily at synthesis, so grant order does not matter.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, trust_policy: str):
        super().__init__(scope, construct_id)
        self._statements: dict[str, Statement] = {}
        self.role = IamRole(self, "role", name=name, assume_role_policy=trust_policy)
        self.policy = IamRolePolicy(self, "policy", name=f"{name}-least-privilege", role=self.role.id,
                                    policy=Lazy.string_value(_StatementsProducer(self)))

    @property
    def arn(self) -> str:
        return self.role.arn

    @property
    def name(self) -> str:
        return self.role.name

    @property
    def statements(self) -> list[Statement]:
        return [self._statements[sid] for sid in sorted(self._statements)]

    def add_statement(self, sid: str, actions: Sequence[str], resources: Sequence[str],
                      condition: Mapping[str, Any] | None = None) -> None:
        """Grant ``actions`` on exact ``resources``.

        Granting the same ``sid`` again widens that statement (union of actions and of resources), so
        two grants that both need the stack key produce one key statement, not two.
        """
        existing = self._statements.get(sid)
        if existing is not None:
            if existing.condition != condition:
                raise ValueError(f"{self.node.path}: statement {sid} granted with two different conditions")
            actions = tuple(dict.fromkeys((*existing.actions, *actions)))
            resources = tuple(dict.fromkeys((*existing.resources, *resources)))
        self._statements[sid] = Statement(sid=sid, actions=tuple(actions), resources=tuple(resources),
                                          condition=condition, origin=f"{self.node.path} ({sid})")
