"""Naming the resources checkov reports on in synthesized terraform JSON.

checkov 3.3.30's terraform_json runner names the subject of a Python check ``resource.<name>`` or
``data.<name>`` (the block kind instead of the resource type). cdktf's logical names are unique
within a stack, so the type can be recovered from the stack's JSON: this module turns those ids
into the terraform addresses reviewers know (``aws_lambda_function.connect_function_1A2B3C``).
"""

from __future__ import annotations

from typing import Any


def terraform_address(resource: str, stack: dict[str, Any]) -> str:
    """``resource.<name>`` -> ``<type>.<name>``, ``data.<name>`` -> ``data.<type>.<name>``;
    ids that already carry a type (graph checks) are returned unchanged."""
    kind, _, name = resource.partition(".")
    if kind not in ("resource", "data") or "." in name:
        return resource
    types = [t for t, by_name in (stack.get(kind) or {}).items() if name in (by_name or {})]
    if len(types) != 1:
        return resource
    return f"{types[0]}.{name}" if kind == "resource" else f"data.{types[0]}.{name}"
