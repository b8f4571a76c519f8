"""Every registered GAN model with every registered GAN loss, plus what each model promises."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from gentool.checkpoint import load_checkpoint
from gentool.data.base import DataSpec
from gentool.errors import GentoolError
from gentool.loading import model_from_checkpoint
from gentool.plugins import build_registry, get_model_class
from gentool.training.base import TrainSettings
from gentool.training.runner import build_trainer, train

REGISTRY = build_registry("none")
GAN_MODELS = [n for n in REGISTRY.names("model") if get_model_class(n).FAMILY == "gan"]
LOSSES = REGISTRY.names("loss")

#: Tiny sizes for whichever of these fields a model's config has.
TINY = {
    "latent_dim": 8,
    "g_width": 4,
    "d_width": 4,
    "g_hidden": "16",
    "d_hidden": "16",
    "q_hidden": 8,
    "categorical_codes": "3",
    "continuous_codes": 1,
}
DIGITS_16 = DataSpec(name="digits", image_size=16, limit=64)


def tiny_options(model: str, **extra: Any) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(get_model_class(model).Config)}
    return {k: v for k, v in TINY.items() if k in fields} | extra


def tiny_train(model: str, loss: str, out: Path, **kwargs: Any) -> Path:
    options = tiny_options(model, **kwargs.pop("model_options", {}))
    settings = {
        "steps": 2,
        "batch_size": 8,
        "log_every": 1,
        "samples": 8,
        "device": "cpu",
        "out": str(out),
    } | kwargs
    return train(model, loss=loss, model_options=options, data=DIGITS_16, **settings)


def test_the_gan_family_is_registered() -> None:
    assert {"dcgan", "mlp-gan", "acgan", "infogan"} <= set(GAN_MODELS)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("model", GAN_MODELS)
def test_every_gan_model_trains_with_every_loss(model: str, loss: str, tmp_path: Path) -> None:
    ckpt = tiny_train(model, loss, tmp_path / "run")
    records = [
        json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        assert {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"} <= set(record)
        assert all(math.isfinite(v) for v in record.values() if isinstance(v, float))
    if loss == "wgan-gp":
        assert "penalty" in records[-1]
    rebuilt = model_from_checkpoint(load_checkpoint(ckpt))
    images = rebuilt.sample(5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 16, 16)
    assert images.abs().max() <= 1
    grid, _ = rebuilt.sample_grid(6, generator=torch.Generator().manual_seed(0), options={})
    assert grid.shape == (6, 1, 16, 16)


def test_critic_steps_follow_the_loss_default_and_the_setting() -> None:
    def optimizer_steps(loss: str, d_steps: int | None) -> tuple[int, int]:
        settings = TrainSettings(steps=2, batch_size=8, d_steps=d_steps, device="cpu")
        trainer = build_trainer(
            "dcgan",
            loss=loss,
            model_options=tiny_options("dcgan"),
            data=DIGITS_16,
            settings=settings,
        )
        for _ in range(2):
            trainer.train_step(trainer.batch())
        counts = []
        for name in ("discriminator", "generator"):
            state = trainer.optimizers[name].state
            counts.append(int(next(iter(state.values()))["step"]))
        return counts[0], counts[1]

    assert optimizer_steps("wgan-gp", None) == (10, 2)  # n_critic = 5
    assert optimizer_steps("wgan-gp", 2) == (4, 2)
    assert optimizer_steps("bce", None) == (2, 2)


def test_batchnorm_critic_is_refused_with_gradient_penalty() -> None:
    with pytest.raises(GentoolError, match="d_norm=layer"):
        get_model_class("dcgan").configure(
            {"d_norm": "batch"}, None, loss=REGISTRY.get("loss", "wgan-gp")()
        )


@pytest.mark.parametrize("model", ["dcgan", "mlp-gan"])
def test_spectral_norm_bounds_the_discriminator_layers(model: str, tmp_path: Path) -> None:
    ckpt = tiny_train(model, "hinge", tmp_path / "sn", model_options={"spectral_norm": "true"})
    gan = model_from_checkpoint(load_checkpoint(ckpt))
    assert gan.config.spectral_norm is True
    layers = [m for m in gan.discriminator.modules() if hasattr(m, "parametrizations")]
    assert layers, "no spectrally normalised layer"
    gan.discriminator.train()
    with torch.no_grad():
        for _ in range(30):  # power iterations sharpen the estimate of sigma
            gan.discriminate(torch.rand(2, 1, 16, 16) * 2 - 1)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.05)
    if model == "dcgan":
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gan.discriminator.modules())


# --- ACGAN ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def acgan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("acgan") / "run"
    return model_from_checkpoint(load_checkpoint(tiny_train("acgan", "bce", out)))


def test_acgan_keeps_class_names_and_conditions_on_the_label(acgan: Any) -> None:
    assert acgan.config.num_classes == 10
    assert list(acgan.config.class_names) == [str(i) for i in range(10)]
    same_noise = [torch.Generator().manual_seed(3) for _ in range(2)]
    threes = acgan.sample(4, generator=same_noise[0], labels=[3] * 4)
    sevens = acgan.sample(4, generator=same_noise[1], labels=[7] * 4)
    # Untrained tiny nets output values near 0: compare with the images' own scale.
    assert (threes - sevens).abs().mean() > 0.05 * threes.abs().mean()
    again = acgan.sample(4, generator=torch.Generator().manual_seed(3), labels=[3] * 4)
    torch.testing.assert_close(threes, again)


def test_acgan_sample_grid_rows_per_label(acgan: Any) -> None:
    g = torch.Generator().manual_seed(0)
    grid, columns = acgan.sample_grid(5, generator=g, options={"per_label": True})
    assert grid.shape == (50, 1, 16, 16) and columns == 5
    grid, columns = acgan.sample_grid(3, generator=g, options={"label": ["2", "9"]})
    assert grid.shape == (6, 1, 16, 16) and columns == 3
    with pytest.raises(GentoolError, match="unknown label 'red'"):
        acgan.sample_grid(3, generator=g, options={"label": ["red"]})
    with pytest.raises(GentoolError, match="vary-code"):
        acgan.sample_grid(3, generator=g, options={"vary_code": "c0"})


def test_acgan_fixed_grid_has_one_row_per_class(acgan: Any) -> None:
    latent = acgan.sample_latent(20, generator=torch.Generator().manual_seed(0), fixed=True)
    assert acgan.fixed_grid_columns(20) == 2
    assert latent["labels"].tolist() == [i // 2 for i in range(20)]
    torch.testing.assert_close(latent["z"][0::2], latent["z"][0:1].expand(10, -1))


def test_acgan_class_loss_ignores_untagged_images(acgan: Any) -> None:
    logits = torch.randn(4, 10)
    labels = torch.tensor([-1, 2, -1, 5])
    latent = {"labels": torch.tensor([0, 1, 2, 3])}
    fake = {"class_logits": torch.zeros(4, 10)}
    terms = acgan.discriminator_aux_loss({"class_logits": logits}, {"labels": labels}, fake, latent)
    expected = torch.nn.functional.cross_entropy(logits[[1, 3]], labels[[1, 3]]) + math.log(10)
    torch.testing.assert_close(terms["class_d"], expected * acgan.config.aux_weight)
    none_tagged = acgan.discriminator_aux_loss(
        {"class_logits": logits}, {"labels": torch.full((4,), -1)}, fake, latent
    )
    assert float(none_tagged["class_d"]) == pytest.approx(math.log(10))


def test_acgan_needs_labelled_data() -> None:
    with pytest.raises(GentoolError, match="labelled data"):
        get_model_class("acgan").configure({"num_classes": 0})


# --- InfoGAN ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def infogan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("infogan") / "run"
    options = {"categorical_codes": "3,2", "continuous_codes": 2}
    return model_from_checkpoint(
        load_checkpoint(tiny_train("infogan", "ls", out, model_options=options))
    )


def test_infogan_varying_one_code_changes_the_image_with_fixed_noise(infogan: Any) -> None:
    assert infogan.code_names == ["c0", "c1", "c2", "c3"]
    for code, columns in (("c0", 3), ("c1", 2), ("c3", 4)):
        g = torch.Generator().manual_seed(0)
        options = {"vary_code": code, "steps": "4"}
        grid, n_columns = infogan.sample_grid(8, generator=g, options=options)
        assert n_columns == columns
        rows = grid.view(-1, columns, 1, 16, 16)
        assert rows.shape[0] >= 2
        # Along a row only the swept code changes, and the image changes with it.
        change = (rows[:, 1:] - rows[:, :1]).abs().flatten(2).mean(2)
        assert change.min() > 0.01 * rows.abs().mean()
    latent = infogan.vary_code_latent(3, 2, 5, generator=torch.Generator().manual_seed(0))
    z, cat, cont = latent["z"].view(2, 5, -1), latent["cat"].view(2, 5, -1), latent["cont"]
    assert torch.equal(z, z[:, :1].expand_as(z)) and torch.equal(cat, cat[:, :1].expand_as(cat))
    torch.testing.assert_close(cont.view(2, 5, 2)[0, :, 1], torch.linspace(-1, 1, 5))
    assert torch.equal(cont.view(2, 5, 2)[:, :, 0], cont.view(2, 5, 2)[:, :1, 0].expand(2, 5))


def test_infogan_information_loss_rewards_predicting_the_codes(infogan: Any) -> None:
    latent = infogan.sample_latent(6, generator=torch.Generator().manual_seed(0))
    cat, cont = latent["cat"], latent["cont"]
    confident = torch.cat(
        [
            torch.nn.functional.one_hot(cat[:, 0], 3) * 20.0,
            torch.nn.functional.one_hot(cat[:, 1], 2) * 20.0,
            cont,  # means equal to the codes
            torch.full_like(cont, -2.0),  # log sigma
        ],
        dim=1,
    )
    wrong = confident.clone()
    wrong[:, :5] = wrong[:, :5].roll(1, dims=1)
    wrong[:, 5:7] = -wrong[:, 5:7]
    good, bad = infogan.information_loss(confident, latent), infogan.information_loss(wrong, latent)
    assert float(good["info_cat"]) < 1e-3 < float(bad["info_cat"])
    assert float(good["info_cont"]) < float(bad["info_cont"])
    with pytest.raises(GentoolError, match="unknown code 'c9'"):
        infogan.sample_grid(4, options={"vary_code": "c9"})
