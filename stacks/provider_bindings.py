"""Import the AWS provider bindings without loading all 2,135 of their submodules.

``cdktf_cdktf_provider_aws/__init__.py`` (cdktf-cdktf-provider-aws 20.1.0) ends with one
``from . import <resource>`` per resource type of the provider, "to ensure their types are
registered with the jsii runtime library": 9–10 s of every synthesizing process, against < 1 s of
synthesis proper (../shared/TOOLCHAIN.md). A type only needs registering when Python code uses it,
and the stacks import every submodule they use by name, which registers exactly those.

:func:`import_lazily` runs the package's ``__init__`` up to that block (the jsii assembly, the
shared helpers, ``publication.publish()``) and makes every other submodule importable on first use:
``from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue`` as before, and attribute access
(``cdktf_cdktf_provider_aws.sqs_queue``) through the package's ``__getattr__`` (PEP 562), as CDK
Terrain's packages do. What node synthesizes does not depend on which Python classes exist, so
the output is byte-identical (tests/stacks/test_provider_bindings.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

PACKAGE = "cdktf_cdktf_provider_aws"
#: The comment that opens the block of eager submodule imports in the package's __init__.py.
EAGER_IMPORTS = "# Loading modules to ensure their types are registered with the jsii runtime library"


def import_lazily() -> None:
    """Import :data:`PACKAGE` without its eager submodule block. A no-op once it is imported (then
    whatever imported it first decided); fails loudly if the package no longer has that block."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"{PACKAGE} is not installed")
    source = Path(spec.origin).read_text()
    head, found, _eager = source.partition(EAGER_IMPORTS)
    if not found:
        raise ImportError(f"{spec.origin} has no eager-import block to skip: check stacks/provider_bindings.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    try:
        exec(compile(head, spec.origin, "exec"), module.__dict__)  # noqa: S102 - the installed package's own code
    except BaseException:
        sys.modules.pop(PACKAGE, None)
        raise
    # publication.publish() replaced the module in sys.modules by its public view.
    public = sys.modules[PACKAGE]
    submodules = frozenset(public.__all__)

    def __getattr__(name: str):  # noqa: N807 - PEP 562 module attribute hook
        if name in submodules:
            return importlib.import_module(f"{PACKAGE}.{name}")
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")

    public.__getattr__ = __getattr__
