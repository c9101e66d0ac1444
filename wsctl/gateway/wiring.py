"""The deployed wiring, read back from the emulator exactly as Terraform left it.

Nothing here comes from the stack's Python code or the environment file: routes, the route
selection expression, integrations, the authorizer and its identity sources, the stage, each
function's handler/environment/timeout/code hash, the SQS event source mappings and the schedules
are all read from moto's apigatewayv2/lambda/events/scheduler APIs. A wrong value in the stack is
therefore a wrong value here, and fails locally the way it would fail in AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LAMBDA_URI_RE = re.compile(r"/functions/(?P<arn>arn:[^/]+:lambda:[^/]+:\d+:function:[^/:]+)(?::[^/]+)?/invocations$")
RATE_RE = re.compile(r"^rate\((?P<value>\d+)\s+(?P<unit>minute|minutes|hour|hours|day|days)\)$")
RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


class WiringError(RuntimeError):
    """The deployed API cannot be served (missing API/stage, unsupported integration, …)."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: tuple[tuple[str, str], ...]
    code_sha256: str

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)


@dataclass(frozen=True)
class AuthorizerSpec:
    authorizer_id: str
    name: str
    authorizer_type: str
    function_name: str
    identity_sources: tuple[str, ...]


@dataclass(frozen=True)
class RouteSpec:
    route_key: str
    route_id: str
    #: None when the route has no Lambda proxy integration (served as 500, like a broken integration).
    function_name: str | None
    authorization_type: str
    authorizer: AuthorizerSpec | None
    #: A route response lets the integration's response body go back to the client (two-way route).
    returns_response: bool


@dataclass(frozen=True)
class EventSourceSpec:
    uuid: str
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    function_name: str
    expression: str
    interval_seconds: int
    source_arn: str
    #: ``events`` (EventBridge rule: the documented "Scheduled Event") or ``scheduler``.
    kind: str
    input: str | None = None


@dataclass(frozen=True)
class Wiring:
    region: str
    account_id: str
    api_id: str
    api_name: str
    route_selection_expression: str
    stage_name: str
    routes: dict[str, RouteSpec]
    functions: dict[str, FunctionSpec]
    event_sources: tuple[EventSourceSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def method_arn(self, route_key: str) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage_name}/{route_key}"


def function_name_from_arn(arn: str) -> str:
    """``arn:aws:lambda:r:a:function:name[:qualifier]`` or a bare name → ``name``."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn


def function_name_from_uri(uri: str) -> str | None:
    match = LAMBDA_URI_RE.search(uri or "")
    return function_name_from_arn(match.group("arn")) if match else None


def schedule_interval(expression: str) -> int | None:
    match = RATE_RE.match(expression.strip())
    if not match:
        return None
    return int(match.group("value")) * RATE_UNITS[match.group("unit")]


def read_wiring(session: Any, aws_endpoint: str, *, api_id: str | None = None, stage_name: str | None = None,
                api_name: str | None = None) -> Wiring:
    """Read everything the gateway serves from the emulator at ``aws_endpoint``."""

    def client(service: str):
        return session.client(service, endpoint_url=aws_endpoint)

    apigw, lam = client("apigatewayv2"), client("lambda")
    region = session.region_name
    account_id = client("sts").get_caller_identity()["Account"]
    api = _find_api(apigw, api_id, api_name)
    api_id = api["ApiId"]
    stages = [s["StageName"] for s in apigw.get_stages(ApiId=api_id).get("Items", [])]
    if stage_name is None:
        if len(stages) != 1:
            raise WiringError(f"API {api['Name']} has stages {stages}; expected exactly one")
        stage_name = stages[0]
    elif stage_name not in stages:
        raise WiringError(f"API {api['Name']} has no stage {stage_name!r} (stages: {stages})")

    integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id).get("Items", [])}
    authorizers: dict[str, AuthorizerSpec] = {}
    routes: dict[str, RouteSpec] = {}
    notes: list[str] = []
    function_names: set[str] = set()
    for route in apigw.get_routes(ApiId=api_id).get("Items", []):
        function_name = None
        target = route.get("Target") or ""
        if target.startswith("integrations/"):
            integration = integrations.get(target.split("/", 1)[1])
            if integration is None:
                notes.append(f"route {route['RouteKey']}: target {target} does not exist")
            elif integration.get("IntegrationType") != "AWS_PROXY":
                notes.append(f"route {route['RouteKey']}: integration type {integration.get('IntegrationType')} "
                             "is not served locally (only AWS_PROXY)")
            else:
                function_name = function_name_from_uri(integration.get("IntegrationUri", ""))
                if function_name is None:
                    notes.append(f"route {route['RouteKey']}: integration URI is not a Lambda invocation URI")
        authorizer = None
        authorizer_id = route.get("AuthorizerId")
        if authorizer_id:
            if authorizer_id not in authorizers:
                authorizers[authorizer_id] = _read_authorizer(apigw, api_id, authorizer_id)
            authorizer = authorizers[authorizer_id]
            function_names.add(authorizer.function_name)
        if function_name:
            function_names.add(function_name)
        routes[route["RouteKey"]] = RouteSpec(
            route_key=route["RouteKey"], route_id=route["RouteId"], function_name=function_name,
            authorization_type=route.get("AuthorizationType") or "NONE", authorizer=authorizer,
            returns_response=bool(route.get("RouteResponseSelectionExpression")))

    event_sources: list[EventSourceSpec] = []
    sqs = None
    for mapping in _paginate(lam.list_event_source_mappings, "EventSourceMappings", "NextMarker", "Marker"):
        source_arn = mapping.get("EventSourceArn", "")
        if not source_arn.startswith("arn:aws:sqs:") or mapping.get("State", "Enabled") not in ("Enabled", "Creating", "Updating"):
            continue
        sqs = sqs or client("sqs")
        name = function_name_from_arn(mapping["FunctionArn"])
        function_names.add(name)
        queue_name, queue_account = source_arn.split(":")[5], source_arn.split(":")[4]
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=queue_account)["QueueUrl"]
        event_sources.append(EventSourceSpec(
            uuid=mapping["UUID"], function_name=name, queue_arn=source_arn, queue_url=queue_url,
            batch_size=int(mapping.get("BatchSize") or 10),
            report_batch_item_failures="ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])))

    schedules = _read_schedules(client, notes)
    function_names.update(s.function_name for s in schedules)
    functions = {name: _read_function(lam, name) for name in sorted(function_names)}
    return Wiring(region=region, account_id=account_id, api_id=api_id, api_name=api["Name"],
                  route_selection_expression=api.get("RouteSelectionExpression") or "$request.body.action",
                  stage_name=stage_name, routes=routes, functions=functions,
                  event_sources=tuple(event_sources), schedules=tuple(schedules), notes=tuple(notes))


def _find_api(apigw: Any, api_id: str | None, api_name: str | None) -> dict:
    apis = [a for a in apigw.get_apis().get("Items", []) if a.get("ProtocolType") == "WEBSOCKET"]
    if api_id:
        apis = [a for a in apis if a["ApiId"] == api_id]
    elif api_name:
        apis = [a for a in apis if a["Name"] == api_name]
    if len(apis) != 1:
        wanted = api_id or api_name or "any"
        raise WiringError(f"expected one WebSocket API ({wanted}) in the emulator, found {len(apis)}")
    return apis[0]


def _read_authorizer(apigw: Any, api_id: str, authorizer_id: str) -> AuthorizerSpec:
    # moto has no GetAuthorizers (list): every authorizer is reached through a route's AuthorizerId.
    found = apigw.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
    function_name = function_name_from_uri(found.get("AuthorizerUri", ""))
    if found.get("AuthorizerType") != "REQUEST" or function_name is None:
        raise WiringError(f"authorizer {found.get('Name')}: only Lambda REQUEST authorizers are served locally")
    return AuthorizerSpec(authorizer_id=authorizer_id, name=found.get("Name", ""), authorizer_type="REQUEST",
                          function_name=function_name,
                          identity_sources=tuple(found.get("IdentitySource") or ()))


def _read_function(lam: Any, name: str) -> FunctionSpec:
    config = lam.get_function_configuration(FunctionName=name)
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return FunctionSpec(name=config["FunctionName"], arn=config["FunctionArn"], handler=config.get("Handler", ""),
                        runtime=config.get("Runtime", ""), timeout_seconds=int(config.get("Timeout") or 3),
                        memory_mb=int(config.get("MemorySize") or 128),
                        environment=tuple(sorted(variables.items())), code_sha256=config.get("CodeSha256", ""))


def _read_schedules(client: Any, notes: list[str]) -> list[ScheduleSpec]:
    schedules: list[ScheduleSpec] = []
    events = client("events")
    for rule in _paginate(events.list_rules, "Rules", "NextToken", "NextToken"):
        expression = rule.get("ScheduleExpression")
        if not expression or rule.get("State") != "ENABLED":
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            if ":lambda:" in target.get("Arn", ""):
                schedules.append(_schedule(rule["Name"], target["Arn"], expression, rule["Arn"], "events",
                                           target.get("Input"), notes))
    try:
        scheduler = client("scheduler")
        for item in _paginate(scheduler.list_schedules, "Schedules", "NextToken", "NextToken"):
            found = scheduler.get_schedule(Name=item["Name"], GroupName=item.get("GroupName", "default"))
            target = found.get("Target") or {}
            if found.get("State") == "ENABLED" and ":lambda:" in target.get("Arn", ""):
                schedules.append(_schedule(found["Name"], target["Arn"], found["ScheduleExpression"], found["Arn"],
                                           "scheduler", target.get("Input"), notes))
    except Exception as error:  # noqa: BLE001 - an emulator without the scheduler API has no schedules there
        notes.append(f"scheduler schedules not read: {error}")
    return [s for s in schedules if s is not None]


def _schedule(name: str, target_arn: str, expression: str, source_arn: str, kind: str, input_: str | None,
              notes: list[str]) -> ScheduleSpec | None:
    interval = schedule_interval(expression)
    if interval is None:
        notes.append(f"schedule {name}: {expression!r} is not a rate() expression; run every 60 s locally")
        interval = 60
    return ScheduleSpec(name=name, function_name=function_name_from_arn(target_arn), expression=expression,
                        interval_seconds=interval, source_arn=source_arn, kind=kind, input=input_)


def _paginate(call: Any, items_key: str, token_out: str, token_in: str) -> list[dict]:
    items: list[dict] = []
    kwargs: dict[str, str] = {}
    while True:
        page = call(**kwargs)
        items.extend(page.get(items_key, []))
        token = page.get(token_out)
        if not token:
            return items
        kwargs = {token_in: token}
