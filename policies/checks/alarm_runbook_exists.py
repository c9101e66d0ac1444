"""CKV_RT_007: whoever is paged by an alarm finds its runbook from the alarm itself.

The description must name ``runbooks/alarms/<key>.md``, that file must exist in this repository, and
it must be the alarm's own runbook: the alarm is named ``<prefix>-<key>`` (docs/contracts.md).
"""

import re
from pathlib import Path

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from rt_values import attr

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNBOOK_RE = re.compile(r"runbooks/alarms/(?P<key>[A-Za-z0-9_.-]+)\.md")


class AlarmRunbookExists(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every alarm's description names its runbook and the runbook exists",
            id="CKV_RT_007",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm"],
        )

    def scan_resource_conf(self, conf):
        description = attr(conf, "alarm_description")
        match = RUNBOOK_RE.search(description) if isinstance(description, str) else None
        if not match:
            self.details.append("alarm_description names no runbooks/alarms/<key>.md")
            return CheckResult.FAILED
        if not (REPO_ROOT / match.group(0)).is_file():
            self.details.append(f"{match.group(0)} does not exist in the repository")
            return CheckResult.FAILED
        name = attr(conf, "alarm_name")
        if isinstance(name, str) and "${" not in name and not name.endswith(f"-{match['key']}"):
            self.details.append(f"{match.group(0)} is not the runbook of alarm {name!r}")
            return CheckResult.FAILED
        return CheckResult.PASSED


check = AlarmRunbookExists()
