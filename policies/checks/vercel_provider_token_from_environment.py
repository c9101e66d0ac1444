"""CKV_RT_015: the Vercel API token never appears in code, configuration or synthesized JSON.

The ``vercel/vercel`` provider reads ``VERCEL_API_TOKEN`` from the environment at plan/apply time;
an ``api_token`` argument (literal or variable) would put the token, or a way to pass it, into the
stack. The provider must also name its team, so a token with access to several teams cannot write
another team's project.
"""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.provider.base_check import BaseProviderCheck
from rt_values import attr


class VercelProviderTokenFromEnvironment(BaseProviderCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure the Vercel provider takes its API token from VERCEL_API_TOKEN and pins its team",
            id="CKV_RT_015",
            categories=[CheckCategories.SECRETS],
            supported_provider=["vercel"],
        )

    def scan_provider_conf(self, conf):
        problems = []
        if "api_token" in conf:
            problems.append("api_token is set in the configuration; the provider must read VERCEL_API_TOKEN")
        team = attr(conf, "team")
        if not isinstance(team, str) or not team:
            problems.append("team is not set")
        self.details.extend(problems)
        return CheckResult.FAILED if problems else CheckResult.PASSED


check = VercelProviderTokenFromEnvironment()
