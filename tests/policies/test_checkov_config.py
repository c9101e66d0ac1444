"""`.checkov.yaml` skips only check ids that ADR 0011 names and justifies."""

import re
from pathlib import Path

import yaml

from policies.scan import configured_skips

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".checkov.yaml"
ADR = ROOT / "runbooks" / "decisions" / "0011-checkov-skips.md"


def test_every_skip_is_an_exact_check_id_listed_once():
    skips = configured_skips()
    assert all(re.fullmatch(r"CKV2?_[A-Z]+_\d+", s) for s in skips), skips
    assert len(skips) == len(set(skips))


def test_every_skip_is_justified_in_adr_0011():
    # GIVEN the decision table of ADR 0011 (rows starting with a check id)
    justified = set(re.findall(r"^\| `(CKV2?_[A-Z]+_\d+)` \|", ADR.read_text(), re.MULTILINE))
    # THEN the config skips exactly the ids the ADR justifies, each commented with the ADR
    assert set(configured_skips()) == justified
    config = CONFIG.read_text()
    for check_id in configured_skips():
        comment = config[: config.index(f"- {check_id}")].rsplit("- ", 1)[-1]
        assert "ADR 0011" in comment, f"{check_id} has no ADR comment above it"


def test_the_scan_uses_the_custom_checks_and_only_terraform_json():
    config = yaml.safe_load(CONFIG.read_text())
    assert config["framework"] == ["terraform_json"]
    assert config["external-checks-dir"] == ["policies/checks"]
    assert not {"soft-fail", "soft-fail-on", "check", "skip-framework"} & set(config)
