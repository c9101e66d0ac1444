"""CKV_RT_009: $connect uses the CUSTOM (Lambda REQUEST) authorizer; other routes are not evaluated."""


def route(key, **auth):
    return {"api_id": "${aws_apigatewayv2_api.ws.id}", "route_key": key, "target": "integrations/x", **auth}


CUSTOM = {"authorization_type": "CUSTOM", "authorizer_id": "${aws_apigatewayv2_authorizer.token.id}"}


def test_connect_without_the_authorizer_fails(check):
    # GIVEN $connect routes with and without the authorizer, and the other routes
    routes = {
        "connect": route("$connect", **CUSTOM),
        "connect_open": route("$connect", authorization_type="NONE"),
        "connect_default_auth": route("$connect"),
        "connect_iam": route("$connect", authorization_type="AWS_IAM"),
        "connect_custom_without_authorizer": route("$connect", authorization_type="CUSTOM"),
        "disconnect": route("$disconnect"),
        "default": route("$default"),
    }
    # WHEN only CKV_RT_009 runs
    results = check("CKV_RT_009", resources={"aws_apigatewayv2_route": routes})
    # THEN $disconnect/$default are neither passed nor failed
    assert results.passed == {"aws_apigatewayv2_route.connect"}
    assert results.failed == {
        "aws_apigatewayv2_route.connect_open",
        "aws_apigatewayv2_route.connect_default_auth",
        "aws_apigatewayv2_route.connect_iam",
        "aws_apigatewayv2_route.connect_custom_without_authorizer",
    }
