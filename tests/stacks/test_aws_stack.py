"""Properties of every ``realtime-<env>`` stack, asserted on the synthesized JSON (no snapshots)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from realtime.services.broadcast import CLAIM_LEASE_SECONDS, MIN_REMAINING_MILLIS
from realtime.services.connections import CONNECT_GRACE_SECONDS
from realtime.services.fan_out import RetryPolicy

from stacks.config import ENVIRONMENT_NAMES, EnvConfig, load_env
from tests.stacks.synthesized import REFERENCE, Synthesized, as_list, statements

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("authorizer", "connect", "disconnect", "default", "broadcast", "sweeper")
COMMON_VARIABLES = {"ENVIRONMENT", "LOG_LEVEL", "METRICS_NAMESPACE"}
TOKEN_RULES = {"COGNITO_ISSUER", "COGNITO_JWKS_URL", "COGNITO_CLIENT_IDS", "COGNITO_TOKEN_USE",
               "MAX_TOKEN_AGE_SECONDS", "JWKS_CACHE_TTL_SECONDS"}
LOG_VARIABLES = {"NOTIFICATIONS_TABLE", "NOTIFICATION_RETENTION_SECONDS"}
CONTRACT_VARIABLES = {
    "authorizer": TOKEN_RULES | {"ALLOWED_ORIGINS", "ALLOW_MISSING_ORIGIN"},
    "connect": {"CONNECTIONS_TABLE", "CONNECTIONS_ENDPOINT", "GLOBAL_CONNECTION_LIMIT", "PER_USER_CONNECTION_LIMIT"},
    "disconnect": {"CONNECTIONS_TABLE"},
    "default": {"CONNECTIONS_TABLE", "CONNECTIONS_ENDPOINT", "MAX_MESSAGE_BYTES", "MESSAGE_RATE_LIMIT_PER_MINUTE",
                "MAX_RATE_VIOLATIONS", "RESUME_MAX_NOTIFICATIONS",
                "READ_BUDGET_ITEMS", "READ_BUDGET_WINDOW_SECONDS"} | LOG_VARIABLES | TOKEN_RULES,
    "broadcast": {"CONNECTIONS_TABLE", "CONNECTIONS_ENDPOINT", "BROADCAST_QUEUE_URL", "BROADCAST_CONCURRENCY",
                  "BROADCAST_SCAN_SEGMENTS", "ANNOUNCEMENT_INTERVAL_SECONDS"} | LOG_VARIABLES,
    "sweeper": {"CONNECTIONS_TABLE", "CONNECTIONS_ENDPOINT", "GLOBAL_CONNECTION_LIMIT"},
}
ALARM_KEYS = ({"connections-near-limit", "authorizer-denials-spike", "api-integration-errors",
               "api-execution-errors", "broadcast-dlq-not-empty", "broadcast-delivery-failures",
               "lambda-dlq-not-empty", "resumes-not-recovered"}
              | {f"{fn}-{kind}" for fn in FUNCTIONS for kind in ("errors", "throttles")})
COMMON_OUTPUTS = {"websocket_url", "connections_endpoint", "connections_table_name", "notifications_table_name",
                  "broadcast_queue_url",
                  "broadcast_dlq_url", "region", "api_id", "stage_name", "alarm_topic_arn"}
# AWS offers no resource-level permission for these: Resource "*" is the only form (ADR 0014).
ACTIONS_WITHOUT_RESOURCE_ARNS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.fixture(scope="module", params=ENVIRONMENT_NAMES)
def env(request, synth_dir) -> tuple[EnvConfig, Synthesized]:
    # The emulator endpoints may be overridden at synth time; the test reads the same variables.
    cfg = load_env(request.param)
    return cfg, Synthesized.load(synth_dir, cfg.stack_name)


def key_ref(stack: Synthesized) -> str:
    logical_id, _ = stack.one("aws_kms_key")
    return stack.ref("aws_kms_key", logical_id, "arn")


def function(stack: Synthesized, cfg: EnvConfig, name: str) -> tuple[str, dict]:
    return stack.by("aws_lambda_function", "function_name", cfg.resource_name(name))


def role_policy_of(stack: Synthesized, role_reference: str) -> dict:
    role_id = REFERENCE.match(role_reference).group(2)
    policies = [p for p in stack.resources("aws_iam_role_policy").values()
                if p["role"] == stack.ref("aws_iam_role", role_id, "id")]
    assert len(policies) == 1, f"role {role_id} should have exactly one inline policy"
    return json.loads(policies[0]["policy"])


def granted(document: dict) -> dict[str, set[str]]:
    """``{action: resources}`` over the Allow statements of a policy."""
    result: dict[str, set[str]] = {}
    for statement in statements(document):
        for action in as_list(statement["Action"]):
            result.setdefault(action, set()).update(as_list(statement.get("Resource", [])))
    return result


# --- KMS ---------------------------------------------------------------------------------------

def test_kms_key_rotates_and_its_policy_names_every_action(env):
    cfg, stack = env
    key_id, key = stack.one("aws_kms_key")
    assert key["enable_key_rotation"] is True
    _, alias = stack.one("aws_kms_alias")
    assert alias["name"] == f"alias/{cfg.stack_name}"
    _, key_policy = stack.one("aws_kms_key_policy")
    document = json.loads(key_policy["policy"])
    actions = {a for s in statements(document) for a in as_list(s["Action"])}
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= actions
    assert {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"} <= actions
    assert not any(a == "kms:*" or a.endswith("*") for a in actions)
    # Resource is the key itself, never "*".
    assert {r for s in statements(document) for r in as_list(s["Resource"])} == {key_ref(stack)}


# --- Connection table ----------------------------------------------------------------------------

def test_connection_table_schema_indexes_ttl_pitr_sse(env):
    cfg, stack = env
    _, table = stack.by("aws_dynamodb_table", "name", cfg.resource_name("connections"))
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["hash_key"] == "connectionId"
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {
        ("connectionId", "S"), ("userId", "S"), ("expiryBucket", "S"), ("tokenExpiresAt", "N")}
    indexes = {i["name"]: i for i in table["global_secondary_index"]}
    assert set(indexes) == {"byUser", "byTokenExpiry"}
    assert indexes["byUser"]["hash_key"] == "userId" and "range_key" not in indexes["byUser"]
    assert (indexes["byTokenExpiry"]["hash_key"], indexes["byTokenExpiry"]["range_key"]) == \
        ("expiryBucket", "tokenExpiresAt")
    assert {i["projection_type"] for i in indexes.values()} == {"KEYS_ONLY"}
    assert table["ttl"] == {"attribute_name": "expiresAt", "enabled": True}
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": key_ref(stack)}
    assert table["deletion_protection_enabled"] is (not cfg.targets_emulator)


def test_notification_log_is_a_keyed_range_per_user_with_the_tables_protections(env):
    cfg, stack = env
    _, table = stack.by("aws_dynamodb_table", "name", cfg.resource_name("notifications"))
    assert (table["billing_mode"], table["hash_key"], table["range_key"]) == ("PAY_PER_REQUEST", "userId", "cursor")
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {("userId", "S"), ("cursor", "S")}
    assert "global_secondary_index" not in table
    assert table["ttl"] == {"attribute_name": "expiresAt", "enabled": True}
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": key_ref(stack)}
    assert table["deletion_protection_enabled"] is (not cfg.targets_emulator)
    _, default = function(stack, cfg, "default")
    variables = default["environment"]["variables"]
    assert variables["NOTIFICATION_RETENTION_SECONDS"] == str(cfg.notifications.retention_hours * 3600)
    assert variables["RESUME_MAX_NOTIFICATIONS"] == str(cfg.notifications.replay_limit)
    _, broadcast = function(stack, cfg, "broadcast")
    assert broadcast["environment"]["variables"]["NOTIFICATION_RETENTION_SECONDS"] == \
        variables["NOTIFICATION_RETENTION_SECONDS"]


def test_the_connect_grace_outlasts_the_connect_function(env):
    """ADR 0021: a member younger than the grace may still be inside its own $connect (410 until it returns),
    so the grace must exceed the longest a connect function can run."""
    cfg, stack = env
    _, connect = function(stack, cfg, "connect")
    assert CONNECT_GRACE_SECONDS > connect["timeout"]


# --- Queues --------------------------------------------------------------------------------------

def test_broadcast_queue_has_encrypted_dlq_and_event_source_reports_item_failures(env):
    cfg, stack = env
    queue_id, queue = stack.by("aws_sqs_queue", "name", cfg.resource_name("broadcast"))
    dlq_id, dlq = stack.by("aws_sqs_queue", "name", cfg.resource_name("broadcast-dlq"))
    _, lambda_dlq = stack.by("aws_sqs_queue", "name", cfg.resource_name("lambda-dlq"))
    for q in (queue, dlq, lambda_dlq):
        assert q["kms_master_key_id"] == key_ref(stack)
    redrive = json.loads(queue["redrive_policy"])
    assert redrive["deadLetterTargetArn"] == stack.ref("aws_sqs_queue", dlq_id, "arn")
    assert redrive["maxReceiveCount"] >= 1
    _, broadcast = function(stack, cfg, "broadcast")
    assert queue["visibility_timeout_seconds"] >= 6 * broadcast["timeout"]

    _, mapping = stack.one("aws_lambda_event_source_mapping")
    # ADR 0019: a crashed invocation holds no request it never started, and the one it started comes back
    # within 6 minutes (not 720 s), to an expired claim (lease > timeout, lease < visibility timeout).
    assert mapping["batch_size"] == 1
    assert queue["visibility_timeout_seconds"] <= 360
    assert broadcast["timeout"] < CLAIM_LEASE_SECONDS < queue["visibility_timeout_seconds"]
    assert broadcast["timeout"] * 1000 > MIN_REMAINING_MILLIS + 1000 * (RetryPolicy().reserve_seconds
                                                                        + RetryPolicy().attempt_seconds)
    assert mapping["event_source_arn"] == stack.ref("aws_sqs_queue", queue_id, "arn")
    broadcast_id, _ = function(stack, cfg, "broadcast")
    assert mapping["function_name"] == stack.ref("aws_lambda_function", broadcast_id, "arn")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]


def test_moto_redrive_workaround_only_on_the_emulator(env):
    cfg, stack = env
    _, queue = stack.by("aws_sqs_queue", "name", cfg.resource_name("broadcast"))
    ignored = queue.get("lifecycle", {}).get("ignore_changes", [])
    assert ("redrive_policy" in ignored) is cfg.targets_emulator


# --- Functions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_runtime_tracing_concurrency_encryption_dlq(env, name):
    cfg, stack = env
    _, fn = function(stack, cfg, name)
    assert fn["handler"] == f"handlers.{name}.handler"
    assert fn["runtime"] == "python3.12"
    assert fn["architectures"] == ["arm64"]
    assert fn["tracing_config"] == {"mode": "Active"}
    assert fn["reserved_concurrent_executions"] >= 1
    assert fn["kms_key_arn"] == key_ref(stack)
    lambda_dlq_id, _ = stack.by("aws_sqs_queue", "name", cfg.resource_name("lambda-dlq"))
    assert fn["dead_letter_config"] == {"target_arn": stack.ref("aws_sqs_queue", lambda_dlq_id, "arn")}
    layer_id, layer = stack.one("aws_lambda_layer_version")
    assert fn["layers"] == [stack.ref("aws_lambda_layer_version", layer_id, "arn")]
    assert layer["compatible_architectures"] == ["arm64"] and layer["compatible_runtimes"] == ["python3.12"]
    # The zips are inside the stack directory (terraform runs there) and hashed as Lambda expects.
    for artifact in (fn, layer):
        assert (stack.directory / artifact["filename"]).is_file()
        assert len(artifact["source_code_hash"]) == 44 and artifact["source_code_hash"].endswith("=")
    ignored = set(fn.get("lifecycle", {}).get("ignore_changes", []))
    assert ignored == ({"dead_letter_config", "logging_config"} if cfg.targets_emulator else set())


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_has_own_role_and_own_encrypted_log_group(env, name):
    cfg, stack = env
    _, fn = function(stack, cfg, name)
    group_id, group = stack.by("aws_cloudwatch_log_group", "name", f"/aws/lambda/{cfg.resource_name(name)}")
    assert group["retention_in_days"] == cfg.logs.retention_days
    assert group["kms_key_id"] == key_ref(stack)
    assert fn["logging_config"]["log_group"] == stack.ref("aws_cloudwatch_log_group", group_id, "name")
    role_id = REFERENCE.match(fn["role"]).group(2)
    role = stack.resources("aws_iam_role")[role_id]
    assert role["name"] == cfg.resource_name(name)
    other_roles = {f["role"] for f in stack.resources("aws_lambda_function").values() if f is not fn}
    assert fn["role"] not in other_roles
    trust = json.loads(role["assume_role_policy"])
    assert [s["Principal"] for s in statements(trust)] == [{"Service": "lambda.amazonaws.com"}]
    assert granted(role_policy_of(stack, fn["role"]))["logs:PutLogEvents"] == {
        f"{stack.ref('aws_cloudwatch_log_group', group_id, 'arn')}:*"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_environment_is_exactly_the_contract(env, name):
    cfg, stack = env
    _, fn = function(stack, cfg, name)
    variables = fn["environment"]["variables"]
    assert set(variables) == COMMON_VARIABLES | CONTRACT_VARIABLES[name]
    assert variables["ENVIRONMENT"] == cfg.name
    assert variables["METRICS_NAMESPACE"] == f"Realtime/{cfg.name}"
    if "CONNECTIONS_ENDPOINT" in variables:
        if cfg.emulator:
            assert variables["CONNECTIONS_ENDPOINT"] == f"{cfg.emulator.gateway_url}/local"
        else:
            api_id, _ = stack.one("aws_apigatewayv2_api")
            assert variables["CONNECTIONS_ENDPOINT"] == (
                f"https://{stack.ref('aws_apigatewayv2_api', api_id, 'id')}.execute-api.{cfg.region}"
                f".amazonaws.com/{cfg.name}")
    if "GLOBAL_CONNECTION_LIMIT" in variables:
        assert variables["GLOBAL_CONNECTION_LIMIT"] == str(cfg.connections.global_limit)


def test_refresh_in_default_verifies_with_exactly_the_authorizers_rules(env):
    cfg, stack = env
    authorizer = function(stack, cfg, "authorizer")[1]["environment"]["variables"]
    default = function(stack, cfg, "default")[1]["environment"]["variables"]
    assert {name: default[name] for name in TOKEN_RULES} == {name: authorizer[name] for name in TOKEN_RULES}


def test_authorizer_environment_follows_the_cognito_config(env):
    cfg, stack = env
    _, fn = function(stack, cfg, "authorizer")
    variables = fn["environment"]["variables"]
    assert variables["ALLOWED_ORIGINS"] == ",".join(cfg.origins.allowed)
    assert variables["ALLOW_MISSING_ORIGIN"] == ("true" if cfg.origins.allow_missing else "false")
    assert variables["COGNITO_TOKEN_USE"] == cfg.cognito.token_use
    assert variables["MAX_TOKEN_AGE_SECONDS"] == str(cfg.connections.max_token_age_seconds)
    if cfg.cognito.local_user_pool:
        pool_id, _ = stack.one("aws_cognito_user_pool")
        client_id, client = stack.one("aws_cognito_user_pool_client")
        pool = stack.ref("aws_cognito_user_pool", pool_id, "id")
        assert variables["COGNITO_ISSUER"] == f"https://cognito-idp.{cfg.region}.amazonaws.com/{pool}"
        assert variables["COGNITO_JWKS_URL"] == f"{cfg.emulator.aws_endpoint}/{pool}/.well-known/jwks.json"
        assert variables["COGNITO_CLIENT_IDS"] == stack.ref("aws_cognito_user_pool_client", client_id, "id")
        assert "ALLOW_USER_PASSWORD_AUTH" in client["explicit_auth_flows"]
    else:
        assert not stack.resources("aws_cognito_user_pool")
        assert variables["COGNITO_ISSUER"] == cfg.cognito.issuer
        assert variables["COGNITO_JWKS_URL"] == cfg.cognito.jwks_url
        assert variables["COGNITO_CLIENT_IDS"] == ",".join(cfg.cognito.client_ids)


def test_sweeper_runs_every_minute(env):
    cfg, stack = env
    rule_id, rule = stack.one("aws_cloudwatch_event_rule")
    assert rule["schedule_expression"] == "rate(1 minute)"
    _, target = stack.one("aws_cloudwatch_event_target")
    sweeper_id, _ = function(stack, cfg, "sweeper")
    assert target["arn"] == stack.ref("aws_lambda_function", sweeper_id, "arn")
    permissions = [p for p in stack.resources("aws_lambda_permission").values()
                   if p["principal"] == "events.amazonaws.com"]
    assert [p["source_arn"] for p in permissions] == [stack.ref("aws_cloudwatch_event_rule", rule_id, "arn")]


# --- Least privilege -----------------------------------------------------------------------------

def test_no_statement_allows_wildcard_actions(env):
    _, stack = env
    documents = stack.policy_documents()
    assert len(documents) >= 7
    for where, document in documents:
        for statement in statements(document):
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{where}: {action}"


def test_resources_are_exact_except_where_aws_has_no_arn(env):
    _, stack = env
    for where, document in stack.policy_documents():
        for statement in statements(document):
            if "*" in as_list(statement.get("Resource", [])):
                assert set(as_list(statement["Action"])) <= ACTIONS_WITHOUT_RESOURCE_ARNS, where


def test_each_function_gets_only_what_it_uses(env):
    cfg, stack = env
    table_id, _ = stack.by("aws_dynamodb_table", "name", cfg.resource_name("connections"))
    table = stack.ref("aws_dynamodb_table", table_id, "arn")
    api_id, _ = stack.one("aws_apigatewayv2_api")
    execution = stack.ref("aws_apigatewayv2_api", api_id, "execution_arn")
    manage = {f"{execution}/{cfg.name}/{m}/@connections/*" for m in ("DELETE", "GET", "POST")}
    by_function = {name: granted(role_policy_of(stack, function(stack, cfg, name)[1]["role"]))
                   for name in FUNCTIONS}
    assert not any(a.startswith("dynamodb:") for a in by_function["authorizer"])
    assert by_function["connect"]["dynamodb:Query"] == {f"{table}/index/byUser"}
    assert by_function["sweeper"]["dynamodb:Query"] == {f"{table}/index/byTokenExpiry"}
    assert by_function["connect"]["dynamodb:PutItem"] == {table}
    for name in ("default", "broadcast", "sweeper"):
        assert by_function[name]["execute-api:ManageConnections"] == manage
    # connect may only ask whether a connection is gone, at the per-user cap (ADR 0021)
    assert by_function["connect"]["execute-api:ManageConnections"] == {f"{execution}/{cfg.name}/GET/@connections/*"}
    for name in ("authorizer", "disconnect"):
        assert "execute-api:ManageConnections" not in by_function[name]
    assert "sqs:ReceiveMessage" in by_function["broadcast"]
    assert not any("sqs:ReceiveMessage" in by_function[n] for n in FUNCTIONS if n != "broadcast")
    log_id, _ = stack.by("aws_dynamodb_table", "name", cfg.resource_name("notifications"))
    log = stack.ref("aws_dynamodb_table", log_id, "arn")
    on_log = {name: {action for action, resources in grants.items() if log in resources}
              for name, grants in by_function.items()}
    assert on_log == {"authorizer": set(), "connect": set(), "disconnect": set(), "sweeper": set(),
                      "broadcast": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
                      "default": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}}
    # default's PutItem is its read-state statement alone, limited to the attributes the runtime writes (ADR 0020)
    from realtime.adapters.notification_log import READ_STATE_ATTRIBUTES

    default_policy = role_policy_of(stack, function(stack, cfg, "default")[1]["role"])
    default_puts = [s for s in statements(default_policy)
                    if "dynamodb:PutItem" in as_list(s["Action"]) and log in as_list(s["Resource"])]
    assert [(s["Sid"], as_list(s["Action"]), s["Condition"]) for s in default_puts] == [
        ("NotificationLogReadState", ["dynamodb:PutItem"],
         {"ForAllValues:StringEquals": {"dynamodb:Attributes": list(READ_STATE_ATTRIBUTES)}})]


# --- WebSocket API -------------------------------------------------------------------------------

def test_routes_integrations_and_authorizer(env):
    cfg, stack = env
    api_id, api = stack.one("aws_apigatewayv2_api")
    assert api["protocol_type"] == "WEBSOCKET" and api["name"] == cfg.resource_name("ws")
    authorizer_id, authorizer = stack.one("aws_apigatewayv2_authorizer")
    assert authorizer["authorizer_type"] == "REQUEST"
    assert authorizer["identity_sources"] == ["route.request.querystring.token"]
    authorizer_fn_id, _ = function(stack, cfg, "authorizer")
    assert authorizer["authorizer_uri"] == stack.ref("aws_lambda_function", authorizer_fn_id, "invoke_arn")

    routes = {r["route_key"]: r for r in stack.resources("aws_apigatewayv2_route").values()}
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    assert routes["$connect"]["authorization_type"] == "CUSTOM"
    assert routes["$connect"]["authorizer_id"] == stack.ref("aws_apigatewayv2_authorizer", authorizer_id, "id")
    assert routes["$disconnect"]["authorization_type"] == routes["$default"]["authorization_type"] == "NONE"
    integrations = stack.resources("aws_apigatewayv2_integration")
    execution = stack.ref("aws_apigatewayv2_api", api_id, "execution_arn")
    for route_key, handler in (("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "default")):
        prefix, reference = routes[route_key]["target"].split("/", 1)
        assert prefix == "integrations"
        integration = integrations[REFERENCE.match(reference).group(2)]
        handler_id, _ = function(stack, cfg, handler)
        assert integration["integration_type"] == "AWS_PROXY"
        assert integration["integration_uri"] == stack.ref("aws_lambda_function", handler_id, "invoke_arn")
        permission = [p for p in stack.resources("aws_lambda_permission").values()
                      if p["function_name"] == stack.ref("aws_lambda_function", handler_id, "function_name")]
        assert [p["source_arn"] for p in permission] == [f"{execution}/{cfg.name}/{route_key}"]


def test_stage_access_logs_never_include_the_query_string(env):
    cfg, stack = env
    _, stage = stack.one("aws_apigatewayv2_stage")
    assert stage["name"] == cfg.name
    group_id, group = stack.by("aws_cloudwatch_log_group", "name", f"/aws/apigateway/{cfg.resource_name('ws')}")
    assert group["kms_key_id"] == key_ref(stack)
    assert group["retention_in_days"] == cfg.logs.retention_days
    settings = stage["access_log_settings"]
    assert settings["destination_arn"] == stack.ref("aws_cloudwatch_log_group", group_id, "arn")
    log_format = json.loads(settings["format"])
    assert {"requestId", "routeKey", "status", "connectionId"} <= set(log_format)
    for value in log_format.values():
        assert value.startswith("$context."), value
        assert "querystring" not in value.lower() and "requestoverride" not in value.lower(), value
    assert "$request" not in settings["format"] and "token" not in settings["format"].lower()


def test_stage_throttling_metrics_and_deployment(env):
    cfg, stack = env
    _, stage = stack.one("aws_apigatewayv2_stage")
    route_settings = stage["default_route_settings"]
    assert route_settings["throttling_rate_limit"] == cfg.throttling.rate_limit
    assert route_settings["throttling_burst_limit"] == cfg.throttling.burst_limit
    assert route_settings["detailed_metrics_enabled"] is True
    assert route_settings["data_trace_enabled"] is False
    deployments = stack.resources("aws_apigatewayv2_deployment")
    if cfg.targets_emulator:  # moto has no CreateDeployment
        assert not deployments and "deployment_id" not in stage
    else:
        (deployment_id, _), = deployments.items()
        assert stage["deployment_id"] == stack.ref("aws_apigatewayv2_deployment", deployment_id, "id")


# --- Vercel OIDC ---------------------------------------------------------------------------------

def test_vercel_role_trusts_one_team_project_and_targets_and_only_sends(env):
    cfg, stack = env
    if cfg.vercel is None:
        assert not stack.resources("aws_iam_openid_connect_provider")
        return
    provider_id, provider = stack.one("aws_iam_openid_connect_provider")
    assert provider["url"] == f"https://oidc.vercel.com/{cfg.vercel.team_slug}"
    assert provider["client_id_list"] == [f"https://vercel.com/{cfg.vercel.team_slug}"]
    role_id, role = stack.by("aws_iam_role", "name", cfg.resource_name("vercel-broadcast"))
    (trust,) = statements(json.loads(role["assume_role_policy"]))
    assert trust["Principal"] == {"Federated": stack.ref("aws_iam_openid_connect_provider", provider_id, "arn")}
    assert trust["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    host = f"oidc.vercel.com/{cfg.vercel.team_slug}"
    assert trust["Condition"]["StringEquals"][f"{host}:aud"] == f"https://vercel.com/{cfg.vercel.team_slug}"
    assert trust["Condition"]["StringEquals"][f"{host}:sub"] == [
        f"owner:{cfg.vercel.team_slug}:project:{cfg.vercel.project_name}:environment:{t}" for t in cfg.vercel.targets]
    queue_id, _ = stack.by("aws_sqs_queue", "name", cfg.resource_name("broadcast"))
    actions = granted(role_policy_of(stack, stack.ref("aws_iam_role", role_id, "arn")))
    assert actions["sqs:SendMessage"] == {stack.ref("aws_sqs_queue", queue_id, "arn")}
    assert set(actions) == {"sqs:SendMessage", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


# --- Monitoring ----------------------------------------------------------------------------------

def test_alarms_cover_the_contract_and_name_their_runbooks(env):
    cfg, stack = env
    topic_id, topic = stack.by("aws_sns_topic", "name", cfg.resource_name("alarms"))
    assert topic["kms_master_key_id"] == key_ref(stack)
    alarms = {a["alarm_name"]: a for a in stack.resources("aws_cloudwatch_metric_alarm").values()}
    assert set(alarms) == {cfg.resource_name(key) for key in ALARM_KEYS}
    for key in ALARM_KEYS:
        alarm = alarms[cfg.resource_name(key)]
        assert f"runbooks/alarms/{key}.md" in alarm["alarm_description"]
        assert alarm["alarm_actions"] == [stack.ref("aws_sns_topic", topic_id, "arn")]
    near_limit = alarms[cfg.resource_name("connections-near-limit")]
    assert near_limit["metric_name"] == "ActiveConnections" and near_limit["namespace"] == f"Realtime/{cfg.name}"
    assert near_limit["threshold"] == pytest.approx(
        cfg.connections.global_limit * cfg.alarms.connections_utilization_percent / 100, abs=1)
    denials = alarms[cfg.resource_name("authorizer-denials-spike")]
    assert (denials["metric_name"], denials["threshold"]) == ("AuthorizerDenials",
                                                              cfg.alarms.authorizer_denials_per_5min)
    _, dashboard = stack.one("aws_cloudwatch_dashboard")
    widgets = {w["properties"]["title"]: w["properties"] for w in json.loads(dashboard["dashboard_body"])["widgets"]}
    # the resumes widget also graphs the inbox (ADR 0020): requests, items read, marks, p99 latency
    graphed = [(m[1], m[2].get("stat") if len(m) > 2 else None) for m in widgets["resumes-not-recovered"]["metrics"]]
    assert graphed == [("ResumesNotRecovered", None), ("HistoryRequests", "Sum"), ("HistoryItemsRead", "Sum"),
                       ("ReadMarks", "Sum"), ("HistoryLatency", "p99")]
    assert all(m[0] == f"Realtime/{cfg.name}" for m in widgets["resumes-not-recovered"]["metrics"])
    _, subscription = stack.one("aws_sns_topic_subscription")
    assert subscription["endpoint"] == cfg.alarms.notification_email


def test_alarm_runbooks_exist_in_the_repo():
    """The runbooks issue writes them; a missing one means an alarm nobody can act on."""
    missing = [key for key in sorted(ALARM_KEYS) if not (REPO_ROOT / "runbooks" / "alarms" / f"{key}.md").is_file()]
    assert not missing


# --- Outputs, backend, provider ------------------------------------------------------------------

def test_outputs(env):
    cfg, stack = env
    outputs = stack.outputs
    expected = set(COMMON_OUTPUTS)
    expected |= ({"user_pool_id", "user_pool_client_id", "jwks_url", "aws_endpoint"} if cfg.targets_emulator
                 else {"vercel_role_arn"})
    assert set(outputs) == expected
    assert outputs["region"] == cfg.region and outputs["stage_name"] == cfg.name
    if cfg.emulator:
        port = cfg.emulator.gateway_url.rsplit(":", 1)[1]
        assert outputs["websocket_url"] == f"ws://127.0.0.1:{port}/local"
        assert outputs["aws_endpoint"] == cfg.emulator.aws_endpoint
    else:
        api_id, _ = stack.one("aws_apigatewayv2_api")
        assert outputs["websocket_url"] == f"{stack.ref('aws_apigatewayv2_api', api_id, 'api_endpoint')}/{cfg.name}"


def test_state_backend(env):
    cfg, stack = env
    backend = stack.document["terraform"]["backend"]
    if cfg.state.backend == "s3":
        assert backend == {"s3": {"bucket": cfg.state.bucket, "key": cfg.state.key, "region": cfg.state.region,
                                  "encrypt": True, "use_lockfile": True}}
    else:
        path = backend["local"]["path"]
        assert not os.path.isabs(path)
        assert (stack.directory / path).resolve() == (REPO_ROOT / cfg.state.path).resolve()


def test_provider_targets_the_right_aws(env):
    cfg, stack = env
    (provider,) = stack.document["provider"]["aws"]
    assert provider["region"] == cfg.region
    assert stack.document["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    if cfg.emulator:
        (endpoints,) = provider["endpoints"]
        assert set(endpoints.values()) == {cfg.emulator.aws_endpoint}
        assert {"apigatewayv2", "cognitoidp", "dynamodb", "iam", "kms", "lambda", "logs", "sqs", "sts"} <= set(endpoints)
        assert "allowed_account_ids" not in provider
    else:
        assert "endpoints" not in provider and "access_key" not in provider
        assert provider["allowed_account_ids"] == [cfg.account_id]
