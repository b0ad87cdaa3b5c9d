"""Shared fixtures: where the shared benchmark and real-data files live, skipping cleanly without them.

Hypothesis runs under the "ci" profile (always when CI=true, otherwise unless HYPOTHESIS_PROFILE names
another): derandomized, so a property that catches a bug catches it on every run, not on a lucky draw.
"dev" draws fresh random examples, five times as many, for a developer hunting what the fixed ones miss.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=200, derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=1_000, derandomize=False, deadline=None)


def pytest_configure(config: pytest.Config) -> None:
    """Load the Hypothesis profile before any test module builds its settings."""
    name = "ci" if os.environ.get("CI") == "true" else os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if name not in ("ci", "dev"):
        raise pytest.UsageError(f"HYPOTHESIS_PROFILE={name!r} is not a profile; use ci (the default) or dev")
    settings.load_profile(name)


SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the repository (CI has it; a user's clone may not)."""
    if not SHARED.is_dir():
        pytest.skip("../shared (benchmark and real market data) is not beside this clone")
    return SHARED


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every data, cache and config location at a fresh folder, so no test touches the user's."""
    home = tmp_path_factory.mktemp("home")
    for variable, sub in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config")):
        monkeypatch.setenv(variable, str(home / sub))
    for variable in ("GPT_TRADER_DATA_DIR", "GPT_TRADER_CACHE_DIR", "GPT_TRADER_DATABASE_URL", "GPT_TRADER_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(home)
    return home
