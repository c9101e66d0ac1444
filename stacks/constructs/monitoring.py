"""Alarms, their SNS topic and the dashboard. Every alarm's description names its runbook
(``runbooks/alarms/<key>.md``); the keys are the contract in docs/contracts.md."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from stacks.constructs.kms_key import CustomerManagedKey

FIVE_MINUTES = 300


def runbook_path(key: str) -> str:
    return f"runbooks/alarms/{key}.md"


@dataclass(frozen=True)
class Companion:
    """A metric graphed beside an alarm's own (same namespace), e.g. the inbox's beside resumes."""

    metric_name: str
    statistic: str
    label: str
    #: Drawn on the right axis (a latency beside counts).
    right_axis: bool = False


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: ``realtime-<env>-<key>``, ``>= threshold`` over one period."""

    key: str
    summary: str
    namespace: str
    metric_name: str
    statistic: str
    threshold: float
    dimensions: Mapping[str, str] = field(default_factory=dict)
    period_seconds: int = FIVE_MINUTES
    evaluation_periods: int = 1
    #: Metrics graphed in the alarm's dashboard widget beside its own (not alarmed).
    companions: Sequence[Companion] = ()


@dataclass(frozen=True)
class MonitoringProps:
    #: ``realtime-<env>``: alarm names are ``<prefix>-<key>``, the topic ``<prefix>-alarms``.
    name_prefix: str
    region: str
    key: CustomerManagedKey
    notification_email: str
    alarms: Sequence[AlarmSpec]


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: MonitoringProps):
        super().__init__(scope, construct_id)
        self.topic = SnsTopic(self, "topic", name=f"{props.name_prefix}-alarms", kms_master_key_id=props.key.arn)
        SnsTopicSubscription(self, "email", topic_arn=self.topic.arn, protocol="email",
                             endpoint=props.notification_email)
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        for spec in props.alarms:
            if spec.key in self.alarms:
                raise ValueError(f"{self.node.path}: alarm {spec.key} declared twice")
            self.alarms[spec.key] = CloudwatchMetricAlarm(
                self, spec.key,
                alarm_name=f"{props.name_prefix}-{spec.key}",
                alarm_description=f"{spec.summary} Runbook: {runbook_path(spec.key)}",
                namespace=spec.namespace, metric_name=spec.metric_name,
                dimensions=dict(spec.dimensions) or None,
                statistic=spec.statistic, period=spec.period_seconds,
                evaluation_periods=spec.evaluation_periods,
                comparison_operator="GreaterThanOrEqualToThreshold", threshold=spec.threshold,
                # No data means nothing happened (no errors, no denials, no connections).
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn])
        CloudwatchDashboard(self, "dashboard", dashboard_name=props.name_prefix,
                            dashboard_body=_dashboard_body(props.region, props.alarms))

    @property
    def topic_arn(self) -> str:
        return self.topic.arn


def _dashboard_body(region: str, alarms: Sequence[AlarmSpec]) -> str:
    """One graph per alarmed metric (and its companions), with the alarm threshold drawn as a horizontal
    annotation."""
    widgets = []
    for index, spec in enumerate(alarms):
        metric: list = [spec.namespace, spec.metric_name]
        for name, value in spec.dimensions.items():
            metric += [name, value]
        metrics = [metric] + [[spec.namespace, companion.metric_name,
                               {"stat": companion.statistic, "label": companion.label,
                                **({"yAxis": "right"} if companion.right_axis else {})}]
                              for companion in spec.companions]
        widgets.append({
            "type": "metric", "width": 8, "height": 6, "x": (index % 3) * 8, "y": (index // 3) * 6,
            "properties": {
                "title": spec.key, "region": region, "view": "timeSeries", "stat": spec.statistic,
                "period": spec.period_seconds, "metrics": metrics,
                "annotations": {"horizontal": [{"label": "alarm", "value": spec.threshold}]},
            },
        })
    return json.dumps({"widgets": widgets}, separators=(",", ":"))
