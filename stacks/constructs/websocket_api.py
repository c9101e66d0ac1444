"""The API Gateway v2 WebSocket API: routes, Lambda proxy integrations, the REQUEST authorizer on
``$connect``, and a stage with access logs (never the query string: it carries the token)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf import Fn, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.apigatewayv2_api import Apigatewayv2Api
from cdktf_cdktf_provider_aws.apigatewayv2_authorizer import Apigatewayv2Authorizer
from cdktf_cdktf_provider_aws.apigatewayv2_deployment import Apigatewayv2Deployment
from cdktf_cdktf_provider_aws.apigatewayv2_integration import Apigatewayv2Integration
from cdktf_cdktf_provider_aws.apigatewayv2_route import Apigatewayv2Route
from cdktf_cdktf_provider_aws.apigatewayv2_stage import (
    Apigatewayv2Stage,
    Apigatewayv2StageAccessLogSettings,
    Apigatewayv2StageDefaultRouteSettings,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from stacks.constructs.handler_function import HandlerFunction
from stacks.constructs.iam import LeastPrivilegeRole, service_trust
from stacks.constructs.kms_key import CustomerManagedKey

# The web app sends the Cognito JWT as ?token=… (ADR 0003). API Gateway caches the authorizer
# result per identity-source value, and rejects the handshake with 401 when it is missing.
TOKEN_IDENTITY_SOURCE = "route.request.querystring.token"  # noqa: S105 - a parameter name, not a secret
# One JSON line per request. Deliberately no $context.requestOverride, no $request.* and nothing
# that echoes the URL: the query string holds the bearer token and must never reach a log.
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTimeEpoch",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "connectionId": "$context.connectionId",
    "messageId": "$context.messageId",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "principalId": "$context.authorizer.principalId",
    "authorizerError": "$context.authorizer.error",
    "authorizerLatency": "$context.authorizer.latency",
    "integrationError": "$context.integration.error",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "errorMessage": "$context.error.message",
    "errorType": "$context.error.responseType",
}, separators=(",", ":"))
MANAGE_CONNECTION_METHODS = ("DELETE", "GET", "POST")


@dataclass(frozen=True)
class WebSocketApiProps:
    #: ``realtime-<env>-ws``; the access log group is ``/aws/apigateway/<name>``.
    name: str
    #: Stage name = environment name.
    stage_name: str
    region: str
    account_id: str
    partition: str
    key: CustomerManagedKey
    log_retention_days: int
    throttling_rate_limit: float
    throttling_burst_limit: int
    #: False on the emulator (no CreateDeployment there): the stage then has no deployment.
    explicit_deployment: bool


@dataclass(frozen=True)
class WebSocketHandlers:
    """The functions behind the API: the ``$connect`` authorizer and the three routes."""

    authorizer: HandlerFunction
    connect: HandlerFunction
    disconnect: HandlerFunction
    default: HandlerFunction


class WebSocketApi(Construct):
    """Built in two steps because handlers need the API's id (their @connections endpoint) before
    the routes can point at them: ``WebSocketApi(...)`` then :meth:`route_to`."""

    def __init__(self, scope: Construct, construct_id: str, props: WebSocketApiProps):
        super().__init__(scope, construct_id)
        self._props = props
        self.api = Apigatewayv2Api(self, "api", name=props.name, protocol_type="WEBSOCKET",
                                   route_selection_expression="$request.body.type")
        self.access_log_group = CloudwatchLogGroup(
            self, "access-logs", name=f"/aws/apigateway/{props.name}",
            retention_in_days=props.log_retention_days, kms_key_id=props.key.arn)
        self._account_logging = self._account_logging_role(props)
        self.stage: Apigatewayv2Stage | None = None
        self.api_id: str = self.api.id
        self.execution_arn: str = self.api.execution_arn

    def route_to(self, handlers: WebSocketHandlers) -> None:
        """Authorizer, integrations, routes, invoke permissions, deployment and the stage."""
        if self.stage is not None:
            raise ValueError(f"{self.node.path}: routes are already attached")
        props = self._props
        self.authorizer = Apigatewayv2Authorizer(
            self, "authorizer", api_id=self.api.id, name=f"{props.name}-token", authorizer_type="REQUEST",
            authorizer_uri=handlers.authorizer.invoke_arn, identity_sources=[TOKEN_IDENTITY_SOURCE])
        LambdaPermission(self, "authorizer-invoke", action="lambda:InvokeFunction",
                         function_name=handlers.authorizer.function_name, principal="apigateway.amazonaws.com",
                         source_arn=f"{self.api.execution_arn}/authorizers/{self.authorizer.id}")

        routes = []
        integrations = []
        for route_key, handler in (("$connect", handlers.connect), ("$disconnect", handlers.disconnect),
                                   ("$default", handlers.default)):
            slug = route_key.lstrip("$")
            integration = Apigatewayv2Integration(
                self, f"{slug}-integration", api_id=self.api.id, integration_type="AWS_PROXY",
                integration_method="POST", integration_uri=handler.invoke_arn)
            # Authorizers attach to $connect only: once connected, API Gateway trusts the connection.
            authorized = route_key == "$connect"
            routes.append(Apigatewayv2Route(
                self, f"{slug}-route", api_id=self.api.id, route_key=route_key,
                target=f"integrations/{integration.id}",
                authorization_type="CUSTOM" if authorized else "NONE",
                authorizer_id=self.authorizer.id if authorized else None))
            integrations.append(integration)
            LambdaPermission(self, f"{slug}-invoke", action="lambda:InvokeFunction",
                             function_name=handler.function_name, principal="apigateway.amazonaws.com",
                             source_arn=f"{self.api.execution_arn}/{props.stage_name}/{route_key}")

        deployment = None
        if props.explicit_deployment:
            # A new deployment whenever a route, an integration or the authorizer changes.
            deployment = Apigatewayv2Deployment(
                self, "deployment", api_id=self.api.id, description=f"{props.name} routes",
                triggers={"redeployment": Fn.sha1(Fn.jsonencode(
                    [r.id for r in routes] + [i.integration_uri for i in integrations]
                    + [self.authorizer.authorizer_uri, self.authorizer.id]))},
                lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
                depends_on=routes)
        self.stage = Apigatewayv2Stage(
            self, "stage", api_id=self.api.id, name=props.stage_name,
            deployment_id=deployment.id if deployment else None,
            access_log_settings=Apigatewayv2StageAccessLogSettings(
                destination_arn=self.access_log_group.arn, format=ACCESS_LOG_FORMAT),
            default_route_settings=Apigatewayv2StageDefaultRouteSettings(
                throttling_rate_limit=props.throttling_rate_limit,
                throttling_burst_limit=props.throttling_burst_limit,
                detailed_metrics_enabled=True, data_trace_enabled=False, logging_level="OFF"),
            depends_on=[self._account_logging, *routes])

    def _account_logging_role(self, props: WebSocketApiProps) -> ApiGatewayAccount:
        """API Gateway writes access logs with the account-level CloudWatch role; scoped to this API."""
        role = LeastPrivilegeRole(self, "cloudwatch-role", name=f"{props.name}-cloudwatch",
                                  trust_policy=service_trust("apigateway.amazonaws.com"))
        role.add_statement("AccessLogStreams",
                           ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                           [f"{self.access_log_group.arn}:*"])
        # DescribeLogGroups is a list action: the narrowest resource AWS accepts is the account's
        # log-group namespace in this region (ADR 0014).
        role.add_statement("DescribeLogGroups", ["logs:DescribeLogGroups"],
                           [f"arn:{props.partition}:logs:{props.region}:{props.account_id}:log-group:*"])
        return ApiGatewayAccount(self, "account-logging", cloudwatch_role_arn=role.arn,
                                 depends_on=[role.policy])

    @property
    def stage_name(self) -> str:
        return self._props.stage_name

    @property
    def websocket_url(self) -> str:
        """``wss://<api id>.execute-api.<region>.amazonaws.com/<stage>``."""
        return f"{self.api.api_endpoint}/{self._props.stage_name}"

    @property
    def connections_endpoint(self) -> str:
        """Base URL of the @connections management API (boto3 ``endpoint_url``)."""
        return f"https://{self.api.id}.execute-api.{self._props.region}.amazonaws.com/{self._props.stage_name}"

    def grant_manage_connections(self, role: LeastPrivilegeRole) -> None:
        """Post to, inspect and close connections of this stage only."""
        role.add_statement("ManageConnections", ["execute-api:ManageConnections"],
                           [f"{self.execution_arn}/{self._props.stage_name}/{method}/@connections/*"
                            for method in MANAGE_CONNECTION_METHODS])

    def grant_inspect_connections(self, role: LeastPrivilegeRole) -> None:
        """GetConnection on this stage only: neither post nor close (ADR 0021)."""
        role.add_statement("InspectConnections", ["execute-api:ManageConnections"],
                           [f"{self.execution_arn}/{self._props.stage_name}/GET/@connections/*"])
