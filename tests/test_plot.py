"""Plots from synthetic run folders: curves, timelines, latent t-SNE."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from gentool import plugins
from gentool.checkpoint import save_checkpoint
from gentool.cli.main import cli
from gentool.errors import GentoolError
from gentool.models.base import ModelConfig, ModelPlugin
from gentool.plotting import (
    choose_steps,
    plot_curves,
    plot_timeline,
    read_log,
    run_labels,
    save_figure,
)


def _make_run(
    folder: Path, *, loss: str, latent_dim: int, batch_size: int = 64, slope: float = 1.0
) -> Path:
    folder.mkdir(parents=True)
    config = {
        "model": "dcgan",
        "model_config": {"image_size": 32, "channels": 1, "latent_dim": latent_dim},
        "loss": loss,
        "loss_config": {"a": 0.0, "b": 1.0} if loss == "ls" else {"non_saturating": True},
        "data": {"name": "digits", "image_size": 32},
        "train": {"batch_size": batch_size, "lr_g": 0.0002, "out": str(folder), "seed": 0},
    }
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    with open(folder / "log.jsonl", "w") as handle:
        for step in range(10, 410, 10):
            record = {
                "step": step,
                "epoch": 0,
                "time": 1.0 * step,
                "loss_d": float(slope / step**0.5 + 0.05 * rng.standard_normal()),
                "loss_g": float(1.0 + 0.1 * rng.standard_normal()),
                "d_real": 0.5,
                "lr_generator": 0.0002,
                "images_per_s": 100.0,
            }
            handle.write(json.dumps(record) + "\n")
        handle.write(json.dumps({"event": "evaluate", "step": 400, "swd_avg": 12.0}) + "\n")
    return folder


@pytest.fixture
def two_runs(tmp_path: Path) -> list[Path]:
    return [
        _make_run(tmp_path / "a", loss="ls", latent_dim=16),
        _make_run(tmp_path / "b", loss="bce", latent_dim=64, slope=2.0),
    ]


def _legend_texts(figure: Any) -> list[str]:
    return [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().texts]


def test_log_reading_skips_events_and_bookkeeping(two_runs: list[Path]) -> None:
    records = read_log(two_runs[0])
    assert len(records) == 40 and all("event" not in r for r in records)


def test_run_labels_name_the_differing_settings(two_runs: list[Path], tmp_path: Path) -> None:
    assert run_labels(two_runs) == ["loss=ls, latent_dim=16", "loss=bce, latent_dim=64"]
    twin = _make_run(tmp_path / "c", loss="ls", latent_dim=16, batch_size=128)
    assert run_labels([two_runs[0], twin]) == ["batch_size=64", "batch_size=128"]
    same = _make_run(tmp_path / "d", loss="ls", latent_dim=16)
    assert run_labels([two_runs[0], same]) == ["a", "d"]  # only the folder differs


def test_curves_overlay_runs_with_their_settings_in_the_legend(
    two_runs: list[Path], tmp_path: Path
) -> None:
    figure = plot_curves(two_runs, ["loss_d", "loss_g"], window=5)
    assert len(figure.axes) == 1
    # a colour per run, named by its settings; a line style per key
    runs_legend = [t.get_text() for t in figure.legends[0].texts]
    assert runs_legend == ["loss=ls, latent_dim=16", "loss=bce, latent_dim=64"]
    assert _legend_texts(figure) == ["loss_d", "loss_g"]
    # Raw and smoothed line per run and key.
    assert len(figure.axes[0].lines) == 2 * 2 * 2
    assert figure.axes[0].get_xlabel() == "training step"
    png = save_figure(figure, tmp_path / "curves.png")
    assert png.stat().st_size > 5_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stacked_curves_get_one_panel_per_key(two_runs: list[Path], tmp_path: Path) -> None:
    figure = plot_curves(two_runs, None, stacked=True)
    # By default every logged value, by group (the evaluation's swd_avg among the metrics);
    # bookkeeping such as images_per_s is left out.
    assert [ax.get_ylabel() for ax in figure.axes] == [
        "loss_d",
        "loss_g",
        "d_real",
        "swd_avg",
        "lr_generator",
    ]
    legend = [t.get_text() for t in figure.legends[0].texts]
    assert legend == ["loss=ls, latent_dim=16", "loss=bce, latent_dim=64"]
    svg = save_figure(figure, tmp_path / "curves.svg")
    assert svg.read_text().lstrip().startswith("<?xml")
    with pytest.raises(GentoolError, match=r"\.png, \.svg or \.pdf"):
        save_figure(plot_curves(two_runs[:1]), tmp_path / "curves.jpg")


def test_unknown_curve_key_lists_the_logged_ones(two_runs: list[Path]) -> None:
    with pytest.raises(GentoolError, match=r"no run logs 'kl'.*loss_d, loss_g, d_real"):
        plot_curves(two_runs, ["kl"])


def test_plot_curves_command(two_runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "c.pdf"
    result = CliRunner().invoke(
        cli,
        ["plot", "curves", *map(str, two_runs), "--keys", "loss_d", "--stacked", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"%PDF"
    assert "loss=bce, latent_dim=64" in " ".join(result.output.split())


# --- timeline -------------------------------------------------------------------------------------


def _sample_grids(run: Path, steps: list[int]) -> None:
    (run / "samples").mkdir(parents=True)
    for step in steps:
        shade = step * 255 // max(steps)
        Image.new("RGB", (34, 34), (shade, 0, 255 - shade)).save(
            run / "samples" / f"step_{step:06d}.png"
        )


def test_choose_steps_spreads_and_keeps_the_ends() -> None:
    assert choose_steps(list(range(0, 1100, 100)), 6) == [0, 200, 400, 600, 800, 1000]
    assert choose_steps([0, 5], 6) == [0, 5]


def test_timeline_lays_out_labelled_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _sample_grids(run, list(range(0, 1100, 100)))
    figure = plot_timeline(run, count=6)
    titles = [ax.get_title() for ax in figure.axes if ax.images]
    assert titles == ["step 0", "step 200", "step 400", "step 600", "step 800", "step 1,000"]
    chosen = plot_timeline(run, [0, 100, 300, 700, 900, 1000])
    assert len([ax for ax in chosen.axes if ax.images]) == 6
    with pytest.raises(GentoolError, match="no sample grid at step 150"):
        plot_timeline(run, [0, 150])
    # more columns than panels: one row of six, not six panels and 994 empty axes
    wide = plot_timeline(run, count=6, columns=1000)
    assert len(wide.axes) == 6 and wide.get_size_inches()[0] <= 3.0 * 6 + 0.01
    out = tmp_path / "timeline.png"
    result = CliRunner().invoke(cli, ["plot", "timeline", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 5_000


# --- t-SNE of a VAE's latent means -----------------------------------------------------------


@dataclass
class TinyVaeConfig(ModelConfig):
    image_size: int = 8
    channels: int = 1
    latent_dim: int = 3


class TinyVae(ModelPlugin):
    """A VAE-shaped test model: a linear encoder giving (mu, logvar)."""

    PLUGIN_NAME: ClassVar[str] = "tinyvae"
    FAMILY: ClassVar[str] = "vae"
    Config: ClassVar[type] = TinyVaeConfig

    def __init__(self, config: TinyVaeConfig) -> None:
        super().__init__(config)
        pixels = config.channels * config.image_size**2
        self.encoder = nn.Linear(pixels, 2 * config.latent_dim)
        self.decoder = nn.Linear(config.latent_dim, pixels)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(images.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(self.encode(images)[0])).view_as(images)


@pytest.fixture
def tinyvae_ckpt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry = plugins.build_registry("none")
    registry.add(plugins.PluginInfo("model", "tinyvae", TinyVae, "", "tests", "tests"))
    monkeypatch.setattr(plugins, "_REGISTRY", registry)
    torch.manual_seed(0)
    model = TinyVae(TinyVaeConfig())
    meta = {
        "model": "tinyvae",
        "family": "vae",
        "model_config": model.config_dict(),
        "data": {"name": "digits", "image_size": 8, "channels": 1},
        "step": 3,
    }
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    return save_checkpoint(tmp_path / "vae" / "ckpt.safetensors", tensors, meta)


def test_tsne_of_latent_means_coloured_by_label(tinyvae_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "tsne.png"
    result = CliRunner().invoke(
        cli, ["plot", "tsne", str(tinyvae_ckpt), "--max-points", "60", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "capped to 60 of 180" in " ".join(result.output.split())
    assert out.stat().st_size > 5_000
    bad = CliRunner().invoke(cli, ["plot", "tsne", str(tinyvae_ckpt), "--color-by", "hair"])
    assert bad.exit_code == 2 and "cannot colour by 'hair'" in bad.output


def test_tsne_figure_legend_names_the_classes() -> None:
    from gentool.plotting import plot_latent_tsne, tsne_embedding

    rng = np.random.default_rng(0)
    latents = np.concatenate([rng.normal(0, 1, (15, 4)), rng.normal(8, 1, (15, 4))])
    groups = np.array([0] * 15 + [1] * 14 + [-1])
    embedding = tsne_embedding(latents)
    figure = plot_latent_tsne(embedding, groups, ["black", "blonde"], color_by="hair")
    assert _legend_texts(figure) == ["unknown", "black", "blonde"]
    assert figure.axes[0].get_legend().get_title().get_text() == "hair"
    # The two clusters stay apart in the map.
    a, b = embedding[:15].mean(0), embedding[15:29].mean(0)
    spread = embedding[:15].std(0).max()
    assert np.linalg.norm(a - b) > 3 * spread


def test_recon_metric_for_a_vae(tinyvae_ckpt: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["evaluate", str(tinyvae_ckpt), "--metrics", "recon", "--json", str(tmp_path / "r.json")],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "r.json").read_text())
    assert 0.0 < record["metrics"]["recon_mse_01"] < 1.0


def test_sample_steps_reads_only_the_training_grids(tmp_path: Path) -> None:
    """A VAE writes recon_step_N.png beside step_N.png: the timeline shows only the latter."""
    from PIL import Image

    from gentool.plotting import sample_steps

    samples = tmp_path / "samples"
    samples.mkdir()
    for name in ("step_000010.png", "recon_step_000010.png", "recon_step_000020.png"):
        Image.new("L", (8, 8)).save(samples / name)
    assert sample_steps(tmp_path) == {10: samples / "step_000010.png"}
