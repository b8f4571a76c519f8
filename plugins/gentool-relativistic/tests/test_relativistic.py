from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gentool.testing import assert_loss_trains, plugin_registry

gentool_relativistic = pytest.importorskip("gentool_relativistic")


def test_hand_computed_values() -> None:
    real = torch.tensor([1.0, 3.0])
    fake = torch.tensor([0.0, 2.0])
    # RSGAN: pairwise differences are 1 and 1 -> -log sigmoid(1)
    rs = gentool_relativistic.relativistic_discriminator_loss(real, fake, average=False)
    assert rs.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1))))
    # RaSGAN: real - mean(fake) = [0, 2]; fake - mean(real) = [-2, 0]
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = (
        -(math.log(sig(0)) + math.log(sig(2))) / 2
        - (math.log(1 - sig(-2)) + math.log(1 - sig(0))) / 2
    )
    ra = gentool_relativistic.relativistic_discriminator_loss(real, fake, average=True)
    assert ra.item() == pytest.approx(expected)


def test_dcgan_trains_and_reloads(tmp_path: Path) -> None:
    with plugin_registry("gentool-relativistic"):
        assert_loss_trains("relativistic", tmp_path, loss_options={"average": "false"})
