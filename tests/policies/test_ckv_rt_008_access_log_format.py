"""CKV_RT_008: the stage writes access logs whose format never contains the query string."""

import json

SAFE_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "connectionId": "$context.connectionId",
        "sourceIp": "$context.identity.sourceIp",
    }
)


def stage(log_format, destination="${aws_cloudwatch_log_group.access.arn}"):
    settings = {"destination_arn": destination, "format": log_format}
    return {"api_id": "${aws_apigatewayv2_api.ws.id}", "name": "dev", "access_log_settings": settings}


def test_formats_that_could_carry_the_token_fail(check):
    # GIVEN stages logging safe fields, query-string-bearing fields, or nothing
    stages = {
        "safe": stage(SAFE_FORMAT),
        "token_parameter": stage(SAFE_FORMAT[:-1] + ', "token": "$request.querystring.token"}'),
        "all_parameters": stage('{"q": "$input.params()"}'),
        "method_request": stage("$context.requestId $method.request.querystring.token"),
        "override": stage("$context.requestId $context.requestOverride.querystring.token"),
        "no_destination": stage(SAFE_FORMAT, destination=""),
        "no_access_logs": {"api_id": "${aws_apigatewayv2_api.ws.id}", "name": "dev"},
    }
    # WHEN only CKV_RT_008 runs
    results = check("CKV_RT_008", resources={"aws_apigatewayv2_stage": stages})
    # THEN
    assert results.passed == {"aws_apigatewayv2_stage.safe"}
    assert results.failed == {f"aws_apigatewayv2_stage.{name}" for name in stages} - results.passed
    assert results.details["aws_apigatewayv2_stage.token_parameter"] == [
        "access-log format uses request-parameter variables: ['$request.', 'querystring']"
    ]
