"""Reading checkov's view of synthesized terraform JSON, shared by the CKV_RT checks.

Not a check: checkov executes every ``.py`` file in this folder and puts the folder on ``sys.path``,
so the checks import this module by its bare name (``from rt_values import ...``). That keeps
``checkov --external-checks-dir policies/checks`` working without the repo on ``PYTHONPATH``.

checkov hands a resource's configuration over with every attribute value wrapped in a list
(``conf["runtime"] == ["python3.12"]``, ``conf["ttl"] == [{"enabled": [True], ...}]``); list-valued
attributes come wrapped once more (``conf["actions"] == [["sqs:SendMessage"]]``).
"""

from __future__ import annotations

import re
from typing import Any

#: A whole value that is one terraform interpolation, e.g. ``${aws_kms_key.key.arn}``.
SINGLE_INTERPOLATION_RE = re.compile(r"^\$\{(?P<expr>.*)\}$", re.DOTALL)
#: A reference to an attribute of a managed resource: ``${<type>.<name>.<attribute>}``.
RESOURCE_REFERENCE_RE = re.compile(
    r"^\$\{(?P<type>[a-z0-9_]+)\.(?P<name>[A-Za-z0-9_-]+)\.(?P<attr>[a-z0-9_]+)\}$"
)


def unwrap(value: Any) -> Any:
    """The value checkov wrapped in a one-element list (``["x"]`` -> ``"x"``), else the value."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def as_list(value: Any) -> list[Any]:
    """A scalar or list attribute as a plain list; ``None`` is empty."""
    value = unwrap(value)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def attr(conf: dict[str, Any], *path: str) -> Any:
    """The unwrapped value at ``path`` through nested blocks (``attr(conf, "ttl", "enabled")``),
    or ``None`` when any step is missing."""
    node: Any = conf
    for key in path:
        node = unwrap(node)
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return unwrap(node)


def blocks(conf: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The nested blocks of ``key`` (a block given once or repeated), as a list of dicts."""
    value = conf.get(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [unwrap(item) for item in items if isinstance(unwrap(item), dict)]


def resource_reference(value: Any, resource_type: str, attribute: str | None = None) -> str | None:
    """The resource name when ``value`` is exactly ``${<resource_type>.<name>.<attribute>}``."""
    if not isinstance(value, str):
        return None
    match = RESOURCE_REFERENCE_RE.match(value)
    if not match or match["type"] != resource_type:
        return None
    if attribute is not None and match["attr"] != attribute:
        return None
    return match["name"]
