"""CKV_RT_014: browser-visible Vercel variables carry only the WebSocket endpoint."""


def variable(key):
    return {
        "provider": "vercel",
        "project_id": "prj_1",
        "key": key,
        "value": "${data.terraform_remote_state.aws.outputs.x}",
        "target": ["preview"],
    }


def test_only_the_endpoint_may_be_public(check):
    # GIVEN public and server-side variables
    variables = {
        "public_endpoint": variable("NEXT_PUBLIC_WEBSOCKET_API_ENDPOINT"),
        "vite_endpoint": variable("VITE_WEBSOCKET_API_ENDPOINT"),
        "public_role_arn": variable("NEXT_PUBLIC_AWS_ROLE_ARN"),
        "public_queue": variable("PUBLIC_WEBSOCKET_BROADCAST_QUEUE_URL"),
        "server_endpoint": variable("WEBSOCKET_API_ENDPOINT"),
        "server_role_arn": variable("AWS_ROLE_ARN"),
        "no_key": {k: v for k, v in variable("x").items() if k != "key"},
    }
    # WHEN only CKV_RT_014 runs
    results = check("CKV_RT_014", resources={"vercel_project_environment_variable": variables})
    # THEN server-side variables are not evaluated; a variable without a key fails
    prefix = "vercel_project_environment_variable."
    assert results.passed == {prefix + "public_endpoint", prefix + "vite_endpoint"}
    assert results.failed == {prefix + "public_role_arn", prefix + "public_queue", prefix + "no_key"}
