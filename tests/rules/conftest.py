"""Fixtures of the rules tests: bench/rules.py as a module (its loader and rule generator)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="session")
def bench_rules() -> ModuleType:
    """bench/rules.py, which is a script and not a package module."""
    spec = importlib.util.spec_from_file_location("bench_rules", ROOT / "bench" / "rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
