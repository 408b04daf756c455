"""Fixtures of the rules tests: bench/rules.py as a module (its loader and rule generator)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import load_bench_script


@pytest.fixture(scope="session")
def bench_rules() -> ModuleType:
    """bench/rules.py, which is a script and not a package module."""
    return load_bench_script("rules")
