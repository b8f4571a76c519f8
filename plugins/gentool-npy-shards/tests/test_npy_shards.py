from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gentool.data.base import DataSpec
from gentool.testing import assert_dataset_loads, assert_model_trains_on, plugin_registry

pytest.importorskip("gentool_npy_shards")


def _shards(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(2):
        np.save(root / f"images-{i:05d}.npy", rng.integers(0, 256, (10, 12, 12, 3), dtype=np.uint8))
        np.save(root / f"labels-{i:05d}.npy", np.arange(10) % 3)
    (root / "classes.txt").write_text("cat\ndog\nbird\n")
    return root


def test_shards_load_with_labels(tmp_path: Path) -> None:
    with plugin_registry("gentool-npy-shards"):
        data = assert_dataset_loads(
            "npy-shards",
            DataSpec(name="npy-shards", root=str(_shards(tmp_path)), image_size=8, split="all"),
        )
    assert data.images.shape == (20, 3, 8, 8)
    assert data.class_names == ["cat", "dog", "bird"]


def test_dcgan_trains_on_shards(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    _shards(root)
    with plugin_registry("gentool-npy-shards"):
        assert_model_trains_on(
            DataSpec(name="npy-shards", root=str(root), image_size=16), tmp_path / "run"
        )
