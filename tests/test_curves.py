"""``plot curves``: panels by what a value measures, smoothing without start lag, titles that
do not overlap, legends that name loss options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from gentool.cli.main import cli
from gentool.plotting import (
    curve_group,
    plot_curves,
    run_labels,
    scale_panels,
    smoothed,
    smoothing_span,
    value_range,
)


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The smoothing ``plot curves`` used before: a trailing mean over up to ``window`` points."""
    cumulative = np.cumsum(np.insert(values.astype(float), 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def _write_run(folder: Path, records: list[dict[str, Any]], config: dict[str, Any]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _vae_run(folder: Path, *, steps: int = 60, **extra: float) -> Path:
    """A VAE's keys as the VAE loop logs them, plus one value of an unknown plugin."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(steps):
        step = 10 * (i + 1)
        recon = 100 + 80 * np.exp(-i / 10) + rng.normal(0, 1)
        kl = 6 - 5 * np.exp(-i / 10) + rng.normal(0, 0.2)
        records.append(
            {"step": step, "epoch": 0, "time": 1.0 * step, "loss": recon + kl, "recon": recon,
             "kl": kl, "elbo": -(recon + kl), "beta": 1.0, "bits_per_dim": (recon + kl) / 700,
             "mse": 0.02 + 0.1 * np.exp(-i / 10), "test_elbo": -(recon + kl) - 1,
             "test_recon": recon + 1, "test_kl": kl, "lr_model": 1e-3,
             "my_plugin_value": float(i % 7), "images_per_s": 100.0, **extra}
        )  # fmt: skip
    config = {"model": "vae", "train": {"batch_size": 32}, "data": {"num_images": 320}}
    return _write_run(folder, records, config)


def _gan_run(folder: Path, *, loss_config: dict[str, Any], loss: str = "ls", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = [
        {"step": 10 * (i + 1), "loss_d": 0.2 + 0.5 * np.exp(-i / 8) + 0.05 * rng.normal(),
         "loss_g": 0.7 + 2 * (1 - np.exp(-i / 8)) + 0.05 * rng.normal(),
         "d_real": 0.9 - 0.2 * np.exp(-i / 8), "d_fake": 0.1 + 0.3 * np.exp(-i / 8),
         "d_gen": 0.1 + 0.3 * np.exp(-i / 8), "grad_norm_d": 5.0 + rng.normal(),
         "grad_norm_g": 1.0 + 0.1 * rng.normal(), "lr_generator": 2e-4,
         "lr_discriminator": 2e-4, "images_per_s": 100.0}
        for i in range(40)
    ]  # fmt: skip
    records.append({"event": "evaluate", "step": 400, "dataset": "digits", "split": "test",
                    "num_generated": 200, "swd_avg": 102.0, "precision": 0.55})  # fmt: skip
    config = {
        "model": "dcgan",
        "model_config": {"image_size": 16, "latent_dim": 16},
        "loss": loss,
        "loss_config": loss_config,
        "train": {"batch_size": 32, "out": str(folder)},
    }
    return _write_run(folder, records, config)


def _panel_keys(figure: Figure) -> dict[str, list[str]]:
    """Panel title -> the names in its legend."""
    return {
        ax.get_title(loc="left"): [t.get_text() for t in ax.get_legend().texts]
        for ax in figure.axes
    }


# --- smoothing ----------------------------------------------------------------------------------


def test_exponential_moving_average_by_hand() -> None:
    # window 3: alpha = 2 / (3 + 1) = 1/2, and the bias correction divides by 1 - (1/2)^(t+1)
    values = np.zeros(40)
    values[0] = 4.0
    expected = [4 / (2 ** (t + 1) - 1) for t in range(5)]  # 4, 4/3, 4/7, ...
    assert smoothed(values, 3)[:5] == pytest.approx(expected)
    assert smoothed(values, 1).tolist() == values.tolist()  # --window 1: as logged
    # the span is at most a tenth of the points
    assert [smoothing_span(20, n) for n in (5, 20, 100, 1000)] == [1, 2, 10, 20]


def test_smoothing_starts_at_the_first_value() -> None:
    # 1000 for the first 11 points, then 0: no pull towards a zero it started from
    jump = np.r_[np.full(11, 1000.0), np.zeros(189)]
    assert smoothed(jump, 20)[:11] == pytest.approx(np.full(11, 1000.0))
    ramp = np.linspace(5.0, 500.0, 300)
    assert smoothed(ramp, 20)[0] == pytest.approx(5.0)


def test_smoothing_reduces_noise_around_a_constant() -> None:
    noisy = np.random.default_rng(0).normal(5.0, 1.0, 1000)
    smooth = smoothed(noisy, 20)
    assert smooth[50:].var() < 0.15 * noisy.var()
    assert smooth[50:].mean() == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize(
    "trend",
    [1000 * np.exp(-np.arange(20) / 4), 50.0 * np.arange(20)],
    ids=["fast-decay", "ramp"],
)
def test_a_short_run_keeps_its_trend(trend: np.ndarray) -> None:
    raw = trend + 0.01 * np.ptp(trend) * np.random.default_rng(0).standard_normal(len(trend))
    height = np.ptp(trend)
    assert np.abs(smoothed(raw, 20) - trend).max() < 0.1 * height
    # the trailing mean of 20 points on a 20-point run lagged a third of the plot or more
    assert np.abs(_trailing_mean(raw, 20) - trend).max() > 0.3 * height


# --- panels -------------------------------------------------------------------------------------


def test_keys_of_every_family_and_of_plugins_fall_into_groups() -> None:
    expected = {
        "losses": ["loss", "loss_d", "loss_g", "loss_gan_ab", "loss_cycle", "loss_identity",
                   "loss_d_a", "loss_pixel", "penalty", "penalty_g", "class_d", "info_cat_g",
                   "my_kl_loss"],
        "d_outputs": ["d_real", "d_fake", "d_gen", "d_real_b", "D(x)", "D(G(z))"],
        "elbo": ["elbo", "test_elbo"],
        "recon_kl": ["recon", "kl", "test_recon", "test_kl", "val_nll"],
        "metrics": ["psnr", "fid", "swd_avg", "precision", "mse", "test_mse", "bits_per_dim",
                    "diversity_ratio_ab", "recon_mse_01"],
        "gradients": ["grad_norm_d", "grad_norm_g"],
        "schedules": ["beta", "kl_weight", "lr", "lr_generator", "lr_model"],
        "other": ["sigma", "my_plugin_value", "temperature"],
    }  # fmt: skip
    for group, keys in expected.items():
        assert {k: curve_group(k) for k in keys} == dict.fromkeys(keys, group)


def test_values_of_very_different_sizes_get_their_own_panel() -> None:
    ranges = {"recon": (100.0, 180.0), "test_recon": (101.0, 178.0), "kl": (0.5, 6.5)}
    assert scale_panels(["recon", "kl", "test_recon"], ranges) == [["recon", "test_recon"], ["kl"]]
    # D's loss and G's loss of a GAN read well on one axis
    gan = {"loss_d": (0.17, 1.15), "loss_g": (0.68, 2.95)}
    assert scale_panels(["loss_d", "loss_g"], gan) == [["loss_d", "loss_g"]]
    # a constant needs no height: it goes to the panel nearest to its value
    lr = {"beta": (0.0, 1.0), "lr_g": (1e-4, 2e-4), "lr_d": None}
    split = scale_panels(["beta", "lr_g", "lr_d"], lr, {"lr_d": 2e-4})
    assert split == [["beta"], ["lr_g", "lr_d"]]
    assert value_range(np.full(5, 2e-4)) is None and value_range(np.array([3.0])) == (3.0, 3.0)


def test_default_figure_draws_every_value_in_panels_by_group(tmp_path: Path) -> None:
    figure = plot_curves([_vae_run(tmp_path / "vae")])
    panels = _panel_keys(figure)
    assert panels == {
        "losses": ["loss"],
        "ELBO (higher is better)": ["elbo", "test_elbo"],
        "reconstruction and KL": ["recon", "test_recon"],
        "reconstruction and KL (another scale)": ["kl", "test_kl"],
        "metrics": ["bits_per_dim", "mse"],  # 0.15 to 0.26 and 0.02 to 0.12 share a panel
        "schedules (as set, not smoothed)": ["beta (constant 1)", "lr_model (constant 0.001)"],
        "other logged values": ["my_plugin_value"],
    }
    axes = figure.axes
    assert all(ax.get_shared_x_axes().joined(axes[0], ax) for ax in axes)  # one x axis
    assert [ax.get_xlabel() for ax in axes][-1] == "training step"
    # the constant schedules' panel is lower than the others
    assert axes[-2].get_position().height < 0.7 * axes[0].get_position().height
    plt.close(figure)


def test_keys_pick_values_and_keep_the_grouping(tmp_path: Path) -> None:
    run = _vae_run(tmp_path / "vae")
    figure = plot_curves([run], ["kl", "recon", "beta"], window=5)
    assert _panel_keys(figure) == {  # in the order asked for
        "reconstruction and KL": ["kl"],
        "reconstruction and KL (another scale)": ["recon"],
        "schedules (as set, not smoothed)": ["beta (constant 1)"],
    }
    plt.close(figure)
    stacked = plot_curves([run], ["kl", "recon", "beta"], stacked=True)
    assert [ax.get_ylabel() for ax in stacked.axes] == ["kl", "recon", "beta"]  # as asked
    plt.close(stacked)


def test_window_one_draws_the_values_as_logged(tmp_path: Path) -> None:
    run = _vae_run(tmp_path / "vae")
    figure = plot_curves([run], ["recon"], window=1)
    (line,) = figure.axes[0].get_lines()  # no faint twin
    assert (
        line.get_ydata()[0] == json.loads((run / "log.jsonl").read_text().splitlines()[0])["recon"]
    )
    assert "unsmoothed" in figure.get_suptitle()
    plt.close(figure)
    smooth = plot_curves([run], ["recon"], window=20)
    assert len(smooth.axes[0].get_lines()) == 2
    assert "moving average over 6 logged points" in smooth.get_suptitle()  # 60 points
    plt.close(smooth)


def test_evaluations_are_dots_in_the_metrics_panels(tmp_path: Path) -> None:
    figure = plot_curves([_gan_run(tmp_path / "g", loss_config={"a": 0.0})])
    panels = _panel_keys(figure)
    assert panels["losses"] == ["loss_d", "loss_g"]
    assert panels["discriminator outputs: D(x) on real, D(G(z)) on generated"] == [
        "d_real",
        "d_fake",
        "d_gen",
    ]
    assert panels["metrics"] == ["swd_avg"] and panels["metrics (another scale)"] == ["precision"]
    dots = next(ax for ax in figure.axes if ax.get_title(loc="left") == "metrics").get_lines()
    assert dots[0].get_marker() == "o" and list(dots[0].get_xdata()) == [400]
    assert "dots: gentool evaluate" in figure.get_suptitle()
    plt.close(figure)


def _overlaps(a: Any, b: Any) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("panels", [1, 3, 6])
@pytest.mark.parametrize("runs", [1, 2])
def test_the_title_overlaps_no_panel(tmp_path: Path, panels: int, runs: int) -> None:
    folders = [
        _gan_run(tmp_path / f"r{i}", loss_config={"a": float(-i)}, seed=i) for i in range(runs)
    ]
    keys = ["loss_d", "loss_g", "d_real", "grad_norm_d", "swd_avg", "lr_generator"][:panels]
    for stacked in (True, False):
        figure = plot_curves(folders, keys, stacked=stacked)
        if stacked:
            assert len(figure.axes) == panels
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        title = figure._suptitle.get_window_extent(renderer)  # type: ignore[union-attr]
        legends = [legend.get_window_extent(renderer) for legend in figure.legends]
        assert len(legends) == (runs > 1)
        for ax in figure.axes:
            box = ax.get_tightbbox(renderer)  # ticks, labels, panel title and legend
            assert not _overlaps(title, box), (panels, ax.get_title(loc="left"))
            assert not any(_overlaps(legend, box) for legend in legends)
        bounds = figure.bbox
        assert title.y1 <= bounds.y1 and title.x0 >= bounds.x0 and title.x1 <= bounds.x1
        plt.close(figure)


# --- labels of several runs ---------------------------------------------------------------------


def test_labels_name_the_loss_options_that_differ(tmp_path: Path) -> None:
    ls_a = _gan_run(tmp_path / "ls-a-1", loss_config={"a": -1.0, "b": 1.0, "c": 1.0})
    ls_0 = _gan_run(tmp_path / "ls-a0", loss_config={"a": 0.0, "b": 1.0, "c": 1.0})
    bce = _gan_run(tmp_path / "bce", loss="bce", loss_config={"non_saturating": True})
    assert run_labels([ls_a, ls_0]) == ["loss.a=-1", "loss.a=0"]
    # beside another loss, the option still tells the two ls runs apart
    assert run_labels([ls_a, ls_0, bce]) == ["loss=ls, loss.a=-1", "loss=ls, loss.a=0", "loss=bce"]
    # options that follow from the loss chosen are no difference of their own
    assert run_labels([ls_a, bce]) == ["loss=ls", "loss=bce"]


def test_labels_name_model_and_training_options_that_differ(tmp_path: Path) -> None:
    def run(name: str, config: dict[str, Any]) -> Path:
        return _write_run(tmp_path / name, [{"step": 1, "loss": 1.0}], config)

    small = run("small", {"model": "dcgan", "model_config": {"g_width": 8}, "train": {}})
    wide = run("wide", {"model": "dcgan", "model_config": {"g_width": 16}, "train": {}})
    mlp = run("mlp", {"model": "mlp-gan", "model_config": {"hidden": 64}, "train": {}})
    assert run_labels([small, wide, mlp]) == [
        "model=dcgan, g_width=8",
        "model=dcgan, g_width=16",
        "model=mlp-gan",
    ]
    # a setting an older run did not record reads as the null a newer one records
    old = run("old", {"train": {"batch_size": 8}})
    new = run("new", {"train": {"batch_size": 8, "keep_every": None}})
    assert run_labels([old, new]) == ["old", "new"]
    flipped = run("flip", {"train": {"batch_size": 8, "extra": {"augment": "flip"}}})
    assert run_labels([old, flipped]) == ["augment=unset", "augment=flip"]
    # two runs with the same settings: each is told apart by its folder
    twin = run("twin", {"train": {"batch_size": 8, "extra": {"augment": "flip"}}})
    assert run_labels([old, flipped, twin]) == [
        "augment=unset",
        "augment=flip (flip)",
        "augment=flip (twin)",
    ]


def test_curves_command_default_and_comparison(tmp_path: Path) -> None:
    a = _gan_run(tmp_path / "a", loss_config={"a": -1.0})
    b = _gan_run(tmp_path / "b", loss_config={"a": 0.0}, seed=1)
    out = tmp_path / "c.png"
    result = CliRunner().invoke(cli, ["plot", "curves", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "loss.a=-1" in result.output and out.stat().st_size > 20_000
    result = CliRunner().invoke(
        cli, ["plot", "curves", str(a), "--window", "1", "-o", str(tmp_path / "d.svg")]
    )
    assert result.exit_code == 0, result.output


def test_a_window_the_user_gives_is_used_as_it_is() -> None:
    from gentool.plotting import ExactWindow, smoothing_span

    assert smoothing_span(20, 30) == 3  # the default shortened for a short run
    assert smoothing_span(ExactWindow(5), 30) == 5  # --window 5: as given
    assert smoothing_span(ExactWindow(1), 30) == 1
