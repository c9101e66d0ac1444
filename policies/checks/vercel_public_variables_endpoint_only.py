"""CKV_RT_014: what the browser can read is only where to connect.

A Vercel variable whose key starts with a public prefix (``NEXT_PUBLIC_`` and the like) is inlined
into the JavaScript bundle every visitor downloads. Of the variables this repository sets, only the
WebSocket endpoint may be public; the role ARN, the queue URL and the region are for Vercel
functions only (docs/contracts.md). The prefixes are the frameworks' own plus every
``vercel.public_prefix`` in ``environments/*.toml``.
"""

import tomllib
from pathlib import Path

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK_PUBLIC_PREFIXES = (
    "NEXT_PUBLIC_", "NUXT_PUBLIC_", "EXPO_PUBLIC_", "VITE_", "PUBLIC_", "REACT_APP_", "VUE_APP_", "GATSBY_",
)  # fmt: skip
PUBLIC_VARIABLE = "WEBSOCKET_API_ENDPOINT"


def public_prefixes() -> tuple[str, ...]:
    configured = []
    for path in sorted((REPO_ROOT / "environments").glob("*.toml")):
        prefix = tomllib.loads(path.read_text()).get("vercel", {}).get("public_prefix")
        if isinstance(prefix, str) and prefix:
            configured.append(prefix)
    return tuple(dict.fromkeys([*FRAMEWORK_PUBLIC_PREFIXES, *configured]))


class VercelPublicVariablesEndpointOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure browser-visible Vercel variables carry only the WebSocket endpoint",
            id="CKV_RT_014",
            categories=[CheckCategories.SECRETS],
            supported_resources=["vercel_project_environment_variable"],
        )
        self.prefixes = public_prefixes()

    def scan_resource_conf(self, conf):
        key = attr(conf, "key")
        if not isinstance(key, str) or not key:
            self.details.append("the variable has no literal key")
            return CheckResult.FAILED
        prefix = next((p for p in self.prefixes if key.startswith(p)), None)
        if prefix is None:
            return CheckResult.UNKNOWN  # server-side only: not what this check is about
        if key == prefix + PUBLIC_VARIABLE:
            return CheckResult.PASSED
        self.details.append(f"{key} is browser-visible ({prefix}); only {prefix}{PUBLIC_VARIABLE} may be")
        return CheckResult.FAILED


check = VercelPublicVariablesEndpointOnly()
