"""Read-only views over synthesized ``cdk.tf.json`` files, so tests assert on properties by name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CROSS_STACK_OUTPUT_PREFIX = "cross-stack-output-"
REMOTE_OUTPUT = re.compile(r"\$\{data\.terraform_remote_state\.[^.]+\.outputs\.([^}]+)\}")
REFERENCE = re.compile(r"^\$\{([a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}$")


@dataclass(frozen=True)
class Synthesized:
    name: str
    directory: Path
    document: dict[str, Any]

    @classmethod
    def load(cls, synth_dir: Path, name: str) -> Synthesized:
        directory = synth_dir / "stacks" / name
        return cls(name, directory, json.loads((directory / "cdk.tf.json").read_text()))

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.document.get("resource", {}).get(resource_type, {})

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"{self.name}: expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def by(self, resource_type: str, attribute: str, value: Any) -> tuple[str, dict[str, Any]]:
        matches = [(k, v) for k, v in self.resources(resource_type).items() if v.get(attribute) == value]
        assert len(matches) == 1, f"{self.name}: {resource_type} with {attribute}={value!r}: {len(matches)} found"
        return matches[0]

    def ref(self, resource_type: str, logical_id: str, attribute: str) -> str:
        return f"${{{resource_type}.{logical_id}.{attribute}}}"

    @property
    def outputs(self) -> dict[str, Any]:
        """The stack's own outputs (without those cdktf adds for cross-stack references)."""
        return {name: spec["value"] for name, spec in self.document.get("output", {}).items()
                if not name.startswith(CROSS_STACK_OUTPUT_PREFIX)}

    def policy_documents(self) -> list[tuple[str, dict[str, Any]]]:
        """Every IAM policy text in the stack: role inline policies, trust policies, key policies."""
        documents = []
        for resource_type, attribute in (("aws_iam_role_policy", "policy"), ("aws_iam_role", "assume_role_policy"),
                                         ("aws_kms_key_policy", "policy")):
            for logical_id, resource in self.resources(resource_type).items():
                documents.append((f"{resource_type}.{logical_id}", json.loads(resource[attribute])))
        return documents


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def normalised(stack_file: Path) -> dict[str, Any]:
    """The stack JSON with the local backend's path resolved: it is relative to the output dir."""
    document = json.loads(stack_file.read_text())
    local_backend = document.get("terraform", {}).get("backend", {}).get("local")
    if local_backend:
        local_backend["path"] = str((stack_file.parent / local_backend["path"]).resolve())
    return document
