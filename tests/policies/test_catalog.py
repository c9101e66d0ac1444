"""The custom checks as a whole: one check per file, ids CKV_RT_<nnn>, names "Ensure ...".

Python checks (one class per ``.py`` file) look at one resource; YAML graph checks (one per ``.yaml``
file) are for questions about two connected resources.
"""

import inspect
import re
from collections import Counter
from pathlib import Path

import yaml
from checkov.common.checks.base_check_registry import BaseCheckRegistry
from checkov.terraform.checks.resource.registry import resource_registry

from policies.scan import CHECKS_DIR

#: Modules in policies/checks that hold shared code, not checks.
HELPERS = {"__init__", "rt_values", "rt_iam"}


def custom_checks():
    resource_registry.load_external_checks(str(CHECKS_DIR))
    by_id = {c.id: c for c in BaseCheckRegistry.get_all_registered_checks() if c.id.startswith("CKV_RT_")}
    return list(by_id.values())


def graph_checks():
    """(file stem, metadata) of the YAML graph checks."""
    return [(p.stem, yaml.safe_load(p.read_text())["metadata"]) for p in sorted(CHECKS_DIR.glob("*.yaml"))]


def all_ids_and_names():
    return [(c.id, c.name) for c in custom_checks()] + [(m["id"], m["name"]) for _, m in graph_checks()]


def test_every_check_file_holds_exactly_one_check():
    # GIVEN the check files and the checks checkov registered from them
    files = {p.stem for p in CHECKS_DIR.glob("*.py")} - HELPERS
    # WHEN we map each registered check to the file that defines it
    defined_in = Counter(Path(inspect.getfile(type(c))).stem for c in custom_checks())
    # THEN each file defines one check, and no check comes from elsewhere
    assert set(defined_in) == files
    assert set(defined_in.values()) == {1}


def test_ids_and_names_follow_the_house_style():
    checks = all_ids_and_names()
    ids = [check_id for check_id, _ in checks]
    assert len(ids) >= 10
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"CKV_RT_\d{3}", i) for i in ids), ids
    assert all(name.startswith("Ensure ") for _, name in checks)
    # numbered without gaps, so a removed check is a visible decision
    assert sorted(ids) == [f"CKV_RT_{n:03d}" for n in range(1, len(ids) + 1)]


def test_every_check_has_a_test():
    tested = " ".join(p.read_text() for p in Path(__file__).parent.glob("test_ckv_rt_*.py"))
    untested = [check_id for check_id, _ in all_ids_and_names() if f'"{check_id}"' not in tested]
    assert untested == []
