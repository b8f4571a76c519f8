"""Every model with a discriminator x every registered GAN loss, and every model end to end.

Built-in losses and the example plugin ``gentool-relativistic`` (when installed, as CI does)
train each model with a discriminator for two steps through the one adversarial core;
every registered model of every family trains, reloads from its checkpoint and is used as
its commands use it (sample, upscale or translate).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gentool import plugins
from gentool.testing import assert_loss_trains, assert_model_trains, plugin_registry

ADVERSARIAL_FAMILIES = ("gan", "image2image", "translation")


def _models() -> list[str]:
    return plugins.get_registry().names("model")


def _adversarial_models() -> list[str]:
    return [m for m in _models() if plugins.get_model_class(m).FAMILY in ADVERSARIAL_FAMILIES]


HAVE_RELATIVISTIC = importlib.util.find_spec("gentool_relativistic") is not None
LOSSES = [*plugins.get_registry().names("loss"), "relativistic"]


def _discriminator_options(model: str) -> dict[str, object]:
    """Models whose discriminator is optional get one for this test."""
    fields = getattr(plugins.get_model_class(model).Config, "__dataclass_fields__", {})
    return {"with_discriminator": True} if "with_discriminator" in fields else {}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("model", _adversarial_models())
def test_model_trains_with_loss(model: str, loss: str, tmp_path: Path) -> None:
    if loss == "relativistic" and not HAVE_RELATIVISTIC:
        pytest.skip("the example plugin gentool-relativistic is not installed")
    selection = "gentool-relativistic" if loss == "relativistic" else "none"
    with plugin_registry(selection):
        ckpt = assert_loss_trains(
            loss, tmp_path, model=model, steps=2, model_options=_discriminator_options(model)
        )
    assert ckpt.exists()


@pytest.mark.parametrize("model", _models())
def test_every_model_trains_reloads_and_is_used(model: str, tmp_path: Path) -> None:
    assert_model_trains(model, tmp_path)


def test_the_matrix_is_not_empty() -> None:
    assert len(_adversarial_models()) >= 6 and len(LOSSES) >= 5
