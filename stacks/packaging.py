"""Deterministic Lambda artifacts: ``build/lambda/code.zip`` and ``build/lambda/layer.zip``.

``python -m stacks.packaging`` (and every synthesis, through :func:`build_artifacts`) zips

* ``code.zip``: the ``handlers`` and ``realtime`` packages from ``lambda_src/``;
* ``layer.zip``: ``lambda_src/requirements.txt`` installed for the Lambda platform (CPython 3.12,
  manylinux2014_aarch64, wheels only) under ``python/``. boto3 is not bundled: the runtime has it.

Both zips are byte-identical for identical inputs: entries sorted, fixed timestamps, fixed
permissions, no ``__pycache__``. So ``source_code_hash`` (base64 SHA-256 of the zip) never drifts
between machines. The layer install is cached by the hash of the requirements file, so pip only
runs when the requirements change.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"
REQUIREMENTS = LAMBDA_SRC / "requirements.txt"
BUILD_DIR = REPO_ROOT / "build" / "lambda"
CODE_PACKAGES = ("handlers", "realtime")

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
# 1980-01-01, the earliest time a zip entry can carry: no build ever writes a clock into the zip.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Artifact:
    """A built zip and the hash Lambda compares to decide whether code changed."""

    path: Path
    #: base64(SHA-256(zip bytes)), the form ``source_code_hash`` expects.
    source_code_hash: str


@dataclass(frozen=True)
class LambdaArtifacts:
    code: Artifact
    layer: Artifact


def source_code_hash(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode("ascii")


def _included_files(root: Path) -> list[Path]:
    files = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        files.extend(Path(directory, f) for f in filenames if not f.endswith(EXCLUDED_SUFFIXES))
    return files


def write_deterministic_zip(destination: Path, entries: dict[str, Path]) -> Artifact:
    """Zip ``{archive name: file}`` sorted by name, with fixed dates and modes, atomically.

    Written to a temporary file first and renamed, so a concurrent synthesis never reads half a zip.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so external_attr is read as a mode everywhere
                # Regular file, rw-r--r--: the checkout's or pip's umask never reaches the zip.
                info.external_attr = (FILE_MODE | 0o100000) << 16
                archive.writestr(info, entries[name].read_bytes())
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return Artifact(destination, source_code_hash(destination))


def tree_entries(root: Path, prefix: str = "") -> dict[str, Path]:
    """Archive names (``prefix`` + POSIX path relative to ``root``) for every included file."""
    return {prefix + path.relative_to(root).as_posix(): path for path in _included_files(root)}


def build_code(source: Path = LAMBDA_SRC, destination: Path = BUILD_DIR / "code.zip") -> Artifact:
    entries: dict[str, Path] = {}
    for package in CODE_PACKAGES:
        if (source / package).is_dir():
            entries.update(tree_entries(source / package, f"{package}/"))
    return write_deterministic_zip(destination, entries)


def requirements_hash(requirements: Path = REQUIREMENTS) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]


def install_layer_tree(requirements: Path, target: Path) -> None:
    """pip-install the requirements for the Lambda platform into ``target`` (wheels only)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-compile", "--platform", LAMBDA_PLATFORM, "--only-binary=:all:",
               "--python-version", LAMBDA_PYTHON_VERSION, "--implementation", "cp",
               "--target", str(target), "--requirement", str(requirements)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"pip could not build the Lambda layer from {requirements}:\n{result.stderr}")
    # Console scripts carry the building interpreter's path in their shebang: machine-specific.
    shutil.rmtree(target / "bin", ignore_errors=True)


def build_layer(requirements: Path = REQUIREMENTS, build_dir: Path = BUILD_DIR) -> Artifact:
    """Build ``layer.zip``; pip runs only when no cached install exists for this requirements hash."""
    cache = build_dir / f"layer-{requirements_hash(requirements)}"
    if not (cache / ".complete").is_file():
        shutil.rmtree(cache, ignore_errors=True)  # left half-written by an interrupted build
        build_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=build_dir, prefix=".layer-"))
        try:
            install_layer_tree(requirements, staging / "python")
            (staging / ".complete").write_text(requirements.read_text(encoding="utf-8"), encoding="utf-8")
            try:
                os.replace(staging, cache)
            except OSError:
                # A concurrent build installed the same requirements first: use its tree.
                if not (cache / ".complete").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    destination = build_dir / "layer.zip"
    # The zip is re-made from the cached tree (cheap) so a hand-edited layer.zip never survives.
    return write_deterministic_zip(destination, tree_entries(cache / "python", "python/"))


def build_artifacts() -> LambdaArtifacts:
    return LambdaArtifacts(code=build_code(), layer=build_layer())


def main() -> int:
    artifacts = build_artifacts()
    for artifact in (artifacts.code, artifacts.layer):
        print(f"{artifact.path.relative_to(REPO_ROOT)}  {artifact.path.stat().st_size:>10} bytes  "
              f"sha256(base64)={artifact.source_code_hash}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
