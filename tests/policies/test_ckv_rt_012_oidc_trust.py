"""CKV_RT_012: a role trusted by an OIDC provider pins aud and sub with StringEquals."""

import json

HOST = "oidc.vercel.com/brickhub"
SUBJECTS = [f"owner:brickhub:project:web:environment:{t}" for t in ("preview", "development")]


def trust(condition, principal="${aws_iam_openid_connect_provider.vercel.arn}"):
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": principal},
        "Condition": condition,
    }
    return {
        "name": "r",
        "assume_role_policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    }


PINNED = {"StringEquals": {f"{HOST}:aud": "https://vercel.com/brickhub", f"{HOST}:sub": SUBJECTS}}


def test_web_identity_trust_must_pin_audience_and_subject(check):
    # GIVEN OIDC trust policies pinned, half-pinned, wildcarded, and a service role
    roles = {
        "pinned": trust(PINNED),
        "pinned_literal_provider": trust(PINNED, principal=f"arn:aws:iam::111111111111:oidc-provider/{HOST}"),
        "audience_only": trust({"StringEquals": {f"{HOST}:aud": "https://vercel.com/brickhub"}}),
        "subject_only": trust({"StringEquals": {f"{HOST}:sub": SUBJECTS}}),
        "subject_wildcard": trust(
            {
                "StringEquals": {f"{HOST}:aud": "https://vercel.com/brickhub"},
                "StringLike": {f"{HOST}:sub": "owner:brickhub:project:*"},
            }
        ),
        "star_in_string_equals": trust(
            {
                "StringEquals": {
                    f"{HOST}:aud": "https://vercel.com/brickhub",
                    f"{HOST}:sub": "owner:brickhub:*",
                }
            }
        ),
        "other_provider_claims": trust(
            PINNED, principal="arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
        ),
        "lambda_service_role": {
            "name": "fn",
            "assume_role_policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ]
                }
            ),
        },
    }
    # WHEN only CKV_RT_012 runs
    results = check("CKV_RT_012", resources={"aws_iam_role": roles})
    # THEN roles without web-identity trust are not evaluated
    assert results.passed == {"aws_iam_role.pinned", "aws_iam_role.pinned_literal_provider"}
    assert results.failed == {
        "aws_iam_role.audience_only",
        "aws_iam_role.subject_only",
        "aws_iam_role.subject_wildcard",
        "aws_iam_role.star_in_string_equals",
        "aws_iam_role.other_provider_claims",
    }
