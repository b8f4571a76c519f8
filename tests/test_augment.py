from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gentool.data.base import DataSpec
from gentool.errors import GentoolError
from gentool.training.augment import (
    classic_augmentation,
    diff_augmentation,
    diff_cutout,
    diff_translation,
    random_crop,
    random_flip,
)
from gentool.training.runner import train


def test_flip_mirrors_some_images_and_keeps_the_others() -> None:
    torch.manual_seed(0)
    x = torch.rand(32, 3, 8, 8) * 2 - 1
    y = random_flip(x)
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 0 < int(mirrored.sum()) < 32


def test_crop_shifts_content_without_new_values() -> None:
    torch.manual_seed(0)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(16, 1, 1, 1)
    y = random_crop(x)
    assert y.shape == x.shape
    assert set(y.unique().tolist()) <= set(x.unique().tolist())  # reflected, not zero-padded
    assert not torch.equal(y, x)


def test_diffaugment_is_differentiable_and_zero_fills() -> None:
    torch.manual_seed(0)
    x = (torch.rand(8, 3, 16, 16) + 0.5).requires_grad_(True)  # no zeros in the input
    policy = diff_augmentation("color,translation,cutout")
    assert policy is not None
    policy(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with torch.no_grad():
        cut = diff_cutout(x)
        zeros = (cut == 0).flatten(1).float().mean(1)  # 8x8 of 16x16, less where it sticks out
        assert float(zeros.max()) <= 0.25 and float(zeros.mean()) > 0.05
        moved = diff_translation(x)
        assert float((moved == 0).float().mean()) > 0  # uncovered pixels are 0


def test_unknown_augmentations_are_one_line_errors() -> None:
    with pytest.raises(GentoolError, match="unknown augmentation 'flop'"):
        classic_augmentation("flip,flop")
    with pytest.raises(GentoolError, match="choose from color, translation, cutout"):
        diff_augmentation("rotate")
    assert classic_augmentation("") is None


def test_gan_training_takes_both_augmentations(tmp_path: Path) -> None:
    extra = {"augment": "flip,crop,rotate,color", "diffaugment": "color,translation,cutout"}
    options = {"g_width": 4, "d_width": 4, "latent_dim": 8}
    data = DataSpec(name="digits", image_size=16, limit=32)
    settings = {"steps": 2, "batch_size": 8, "log_every": 1, "device": "cpu", "extra": extra}
    train("dcgan", loss="hinge", model_options=options, data=data, out=str(tmp_path), **settings)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["extra"] == extra
    with pytest.raises(GentoolError, match="does not take --train-opt blur"):
        train(
            "dcgan",
            model_options=options,
            data=data,
            out=str(tmp_path / "bad"),
            **(settings | {"extra": {"blur": "1"}}),
        )
