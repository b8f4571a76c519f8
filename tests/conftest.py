"""Test-suite wide settings: built-in plugins only, caches in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite must not depend on whatever plugins happen to be installed.
os.environ["GENTOOL_PLUGINS"] = "none"
os.environ.setdefault("OMP_NUM_THREADS", "2")

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path_factory.getbasetemp() / "gentool-cache"
    monkeypatch.setenv("GENTOOL_CACHE_DIR", str(cache))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA.resolve()
