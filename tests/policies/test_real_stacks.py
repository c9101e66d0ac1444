"""The real synthesized stacks (every environment, AWS and Vercel) pass every check we run."""

import pytest

from policies import scan
from tests.policies.test_catalog import all_ids_and_names

pytestmark = pytest.mark.slow

#: Custom checks with nothing to look at in today's stacks, and why that is expected.
NOTHING_TO_CHECK = {
    "CKV_RT_003": "the stacks write policies as JSON (stacks/constructs/iam.py), no aws_iam_policy_document",
}


@pytest.fixture(scope="module")
def real_scan(synth_dir, tmp_path_factory):
    return scan.scan(synth_dir, output_dir=tmp_path_factory.mktemp("checkov"))


def test_every_stack_passes_with_zero_failed_checks(real_scan):
    # GIVEN every stack the environments define, scanned with .checkov.yaml and policies/checks
    assert {r.stack for r in real_scan} >= set(scan.expected_stacks())
    # THEN nothing failed and nothing failed to parse
    failures = {
        r.stack: [f"{f.check_id} {f.resource}: {'; '.join(f.details) or f.check_name}" for f in r.failed]
        + [f"parsing error: {e}" for e in r.parsing_errors]
        for r in real_scan
        if not r.ok
    }
    assert failures == {}


def test_every_custom_check_really_evaluated_the_stacks(real_scan):
    # A check that never matches the shape of the real resources protects nothing: each must have
    # passed on at least one resource of the real stacks, unless listed above with the reason.
    custom = {check_id for check_id, _ in all_ids_and_names()}
    evaluated = set().union(*(r.passing_checks for r in real_scan))
    assert custom - evaluated == set(NOTHING_TO_CHECK)


def test_the_vercel_stacks_are_held_to_the_vercel_checks(real_scan):
    for result in real_scan:
        if result.stack.startswith("realtime-vercel-"):
            assert {"CKV_RT_014", "CKV_RT_015"} <= result.passing_checks, result.stack
