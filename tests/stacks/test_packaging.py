"""Lambda artifacts are byte-identical across builds, so source_code_hash never drifts."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from stacks import packaging


def _copy_with_mtime(source: Path, destination: Path, mtime: float) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in [destination, *destination.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return destination


def _lambda_src_copy(tmp_path: Path, name: str, mtime: float) -> Path:
    root = tmp_path / name
    for package in packaging.CODE_PACKAGES:
        if (packaging.LAMBDA_SRC / package).is_dir():
            _copy_with_mtime(packaging.LAMBDA_SRC / package, root / package, mtime)
    # A stray bytecode cache must never reach the zip.
    (root / "handlers" / "__pycache__").mkdir(parents=True, exist_ok=True)
    (root / "handlers" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0" * 8)
    return root


def test_code_zip_is_byte_identical_whatever_the_mtimes_and_location(tmp_path):
    # GIVEN two checkouts of the same sources, touched at different times
    first = _lambda_src_copy(tmp_path, "checkout-a", 1_000_000_000)
    second = _lambda_src_copy(tmp_path, "checkout-b", 1_700_000_000)
    # WHEN each is packaged
    a = packaging.build_code(first, tmp_path / "a" / "code.zip")
    b = packaging.build_code(second, tmp_path / "b" / "code.zip")
    # THEN the zips and their hashes are identical, sorted, dated 1980, without bytecode
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.source_code_hash == b.source_code_hash == packaging.source_code_hash(a.path)
    with zipfile.ZipFile(a.path) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert all(not n.endswith(".pyc") and "__pycache__" not in n for n in names)
        assert {i.date_time for i in archive.infolist()} <= {packaging.FIXED_DATE_TIME}
        assert {(i.external_attr >> 16) & 0o777 for i in archive.infolist()} <= {0o644}
        assert any(n.startswith("handlers/") for n in names)


def test_code_zip_changes_when_a_source_changes(tmp_path):
    first = _lambda_src_copy(tmp_path, "checkout-a", 1_000_000_000)
    before = packaging.build_code(first, tmp_path / "before.zip")
    (first / "handlers" / "added_module.py").write_text("VALUE = 1\n")
    after = packaging.build_code(first, tmp_path / "after.zip")
    assert before.source_code_hash != after.source_code_hash


@pytest.fixture(scope="module")
def layer_tree() -> Path:
    """The cached pip install (built once if missing: needs the package index)."""
    packaging.build_layer()
    tree = packaging.BUILD_DIR / f"layer-{packaging.requirements_hash()}" / "python"
    assert tree.is_dir()
    return tree


def test_layer_zip_is_byte_identical_from_trees_with_different_mtimes(tmp_path, layer_tree):
    # GIVEN the installed dependencies extracted twice, at different times
    first = _copy_with_mtime(layer_tree, tmp_path / "a" / "python", 1_000_000_000)
    second = _copy_with_mtime(layer_tree, tmp_path / "b" / "python", 1_600_000_000)
    # WHEN both are zipped the way build_layer zips
    a = packaging.write_deterministic_zip(tmp_path / "a.zip", packaging.tree_entries(first, "python/"))
    b = packaging.write_deterministic_zip(tmp_path / "b.zip", packaging.tree_entries(second, "python/"))
    # THEN the bytes are the same
    assert a.path.read_bytes() == b.path.read_bytes()


def test_layer_is_built_for_lambda_arm64_without_boto3(layer_tree):
    names = {p.name for p in layer_tree.iterdir()}
    assert {"jose", "pydantic", "pydantic_core"} <= names
    assert "boto3" not in names and "botocore" not in names and "bin" not in names
    native = list((layer_tree / "pydantic_core").glob("*.so"))
    assert native and all("cpython-312-aarch64-linux-gnu" in p.name for p in native)


def test_layer_is_cached_by_requirements_hash(monkeypatch, layer_tree):
    # GIVEN a cached install for the current requirements
    def pip_must_not_run(*_args, **_kwargs):
        raise AssertionError("pip ran although the requirements did not change")

    monkeypatch.setattr(packaging, "install_layer_tree", pip_must_not_run)
    # WHEN the layer is built again THEN pip is not run and the zip is the same
    first = packaging.build_layer()
    second = packaging.build_layer()
    assert first.path.read_bytes() == second.path.read_bytes()


def test_requirements_are_exact_pins():
    lines = [line.split("#")[0].strip() for line in packaging.REQUIREMENTS.read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all("==" in line for line in requirements)
    assert "python-jose[cryptography]==3.5.0" in requirements and "pydantic==2.14.4" in requirements
    assert not any(line.lower().startswith(("boto3", "botocore")) for line in requirements)
