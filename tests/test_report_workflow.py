"""The report workflow (issue 16): comparing runs side by side, labelled grids, one MSE scale,
discoverable plugin options, plot fixes and GAN latent walks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gentool.cli.main import cli

TINY = [
    "--steps",
    "2",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--log-every",
    "1",
    "--sample-every",
    "2",
    "--checkpoint-every",
    "2",
    "--device",
    "cpu",
]
GAN = ["--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8"]


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    plans = {
        "dcgan": ["dcgan", *GAN],
        "vae": ["vae", "--model-opt", "latent_dim=8", "--model-opt", "width=8"],
        "acgan": ["acgan", *GAN],
        "infogan": ["infogan", *GAN],
        "sr": ["sr-unet", "--image-size", "32"],
    }
    out = {}
    for name, plan in plans.items():
        folder = root / name
        result = CliRunner().invoke(cli, ["train", plan[0], "--out", str(folder), *TINY, *plan[1:]])
        assert result.exit_code == 0, result.output
        out[name] = folder
    return out


# --- sample RUN RUN ... ------------------------------------------------------------------------


def test_sample_several_runs_make_one_titled_figure(runs: dict[str, Path], tmp_path: Path) -> None:
    one = tmp_path / "one.png"
    both = tmp_path / "both.png"
    assert (
        invoke("sample", str(runs["vae"]), "-n", "4", "-o", str(one), "--no-title").exit_code == 0
    )
    result = invoke("sample", str(runs["vae"]), str(runs["dcgan"]), "-n", "4", "-o", str(both))
    assert result.exit_code == 0, result.output
    assert "vae, dcgan" in result.output
    with Image.open(one) as a, Image.open(both) as b:
        assert b.width > 2 * a.width and b.height > a.height  # two panels and their titles
    titled = tmp_path / "titled.png"
    result = invoke(
        "sample", str(runs["vae"]), str(runs["dcgan"]), "--titles", "VAE,GAN", "-o", str(titled)
    )
    assert result.exit_code == 0 and "VAE, GAN" in result.output


def test_sample_several_runs_refusals(runs: dict[str, Path], tmp_path: Path) -> None:
    pair = (str(runs["acgan"]), str(runs["dcgan"]))
    result = invoke("sample", *pair, "--label", "3", "-o", str(tmp_path / "x.png"))
    assert result.exit_code != 0 and "run 'dcgan' (dcgan)" in result.output
    assert "--label" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()
    result = invoke("sample", *pair, "--titles", "only-one", "-o", str(tmp_path / "y.png"))
    assert result.exit_code != 0 and "--titles gives 1 title(s) for 2 run(s)" in result.output
    result = invoke("sample", *pair, "--out-dir", str(tmp_path / "each"))
    assert result.exit_code != 0 and "--out-dir writes the images of one run" in result.output


def test_same_seed_same_noise_across_runs(runs: dict[str, Path]) -> None:
    """A VAE and a GAN with the same latent size start from the same z for one seed."""
    from gentool.cli.common import load_model, seeded_generator

    vae, _ = load_model(runs["vae"], "cpu")
    gan, _ = load_model(runs["dcgan"], "cpu")
    z_vae = vae.sample_prior(5, generator=seeded_generator(7))  # type: ignore[operator]
    z_gan = gan.sample_latent(5, generator=seeded_generator(7))["z"]  # type: ignore[operator]
    assert torch.equal(z_vae, z_gan)


def test_image2image_checkpoints_point_to_upscale_and_reconstruct(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    result = invoke("sample", str(runs["sr"]), "-o", str(tmp_path / "sample.png"))
    assert result.exit_code != 0, result.output
    assert "gentool upscale --ckpt" in result.output and "Traceback" not in result.output
    assert "gentool reconstruct" in result.output
    # reconstruct draws the upscaler's rows of input | output | ground truth
    result = invoke("reconstruct", str(runs["sr"]), "-o", str(tmp_path / "recon.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "recon.png").is_file()


# --- labelled grids ------------------------------------------------------------------------------


def test_grid_without_labels_is_the_plain_grid() -> None:
    from gentool.images import grid_image, labelled_grid

    images = torch.rand(10, 3, 8, 8) * 2 - 1
    plain, same = grid_image(images, 4), labelled_grid(images, 4)
    assert plain.tobytes() == same.tobytes() and plain.size == same.size
    big = labelled_grid(images, 4, upscale=3)
    assert big.size == (plain.width * 3, plain.height * 3)
    # nearest neighbour: every pixel becomes a 3x3 block of itself
    assert np.array_equal(np.asarray(big)[::3, ::3], np.asarray(plain))


def test_row_and_column_labels_widen_the_grid() -> None:
    from gentool.images import grid_image, labelled_grid

    images = torch.zeros(6, 1, 16, 16)
    plain = grid_image(images, 3)
    rows = labelled_grid(images, 3, row_labels=["cat", "dog"])
    cols = labelled_grid(images, 3, column_labels=["a", "b", "c"])
    assert rows.height == plain.height and rows.width > plain.width
    assert cols.width == plain.width and cols.height > plain.height
    # text is drawn: the label margin holds dark pixels
    margin = np.asarray(rows)[:, : rows.width - plain.width]
    assert margin.min() < 100


def test_per_label_rows_carry_class_names(runs: dict[str, Path], tmp_path: Path) -> None:
    from gentool.cli.common import load_model

    model, _ = load_model(runs["acgan"], "cpu")
    rows, columns = model.grid_labels(3, {"per_label": True, "label": []})  # type: ignore[operator]
    assert rows == [str(i) for i in range(10)] and columns is None
    rows, _ = model.grid_labels(3, {"label": ["7", "2"]})  # type: ignore[operator]
    assert rows == ["7", "2"]
    out = tmp_path / "labels.png"
    result = invoke("sample", str(runs["acgan"]), "--per-label", "-n", "4", "-o", str(out))
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:
        assert img.width > 4 * 18  # the cells plus a margin of names


def test_vary_code_columns_carry_code_values(runs: dict[str, Path]) -> None:
    from gentool.cli.common import load_model

    model, _ = load_model(runs["infogan"], "cpu")
    _, columns = model.grid_labels(20, {"vary_code": "c0"})  # type: ignore[operator]
    assert columns == [f"c0={v}" for v in range(10)]
    names = model.code_names  # type: ignore[attr-defined]
    _, columns = model.grid_labels(  # type: ignore[operator]
        20, {"vary_code": names[-1], "steps": "3"}
    )
    assert columns == [f"{names[-1]}=-1", f"{names[-1]}=+0", f"{names[-1]}=+1"]


def test_reconstruct_nrow_and_upscale(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.png"
    args = ("reconstruct", str(runs["vae"]), "--show", "10", "--nrow", "5", "-o", str(out),
            "--no-title")  # fmt: skip
    result = invoke(*args, "--upscale", "2")
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:  # 2 pairs of rows of 5 images of 16 px + padding, doubled
        assert img.size == (2 * (5 * 18 + 2), 2 * (4 * 18 + 2))


# --- GAN latent walks ----------------------------------------------------------------------------


def test_latent_walk_end_points_and_norms() -> None:
    from gentool.models.gan import latent_walk

    a, b = torch.randn(3, 16), torch.randn(3, 16)
    for path in ("slerp", "lerp"):
        walk = latent_walk(a, b, 5, path)
        assert walk.shape == (3, 5, 16)
        assert torch.allclose(walk[:, 0], a, atol=1e-5) and torch.allclose(
            walk[:, -1], b, atol=1e-5
        )
    walk = latent_walk(a, b, 5, "slerp")
    lengths = walk.norm(dim=-1)
    expected = a.norm(dim=-1, keepdim=True) + (
        b.norm(dim=-1, keepdim=True) - a.norm(dim=-1, keepdim=True)
    ) * torch.linspace(0, 1, 5)
    assert torch.allclose(lengths, expected, atol=1e-4)  # no dip towards the origin
    same = latent_walk(a, a.clone(), 4, "slerp")  # parallel: falls back to the straight line
    assert torch.isfinite(same).all() and torch.allclose(same[:, 2], a, atol=1e-5)


def test_gan_interpolate(runs: dict[str, Path], tmp_path: Path) -> None:
    from gentool.cli.common import load_model

    model, _ = load_model(runs["dcgan"], "cpu")
    images, columns = model.sample_grid(
        3, generator=torch.Generator().manual_seed(0), options={"interpolate": 6}
    )
    assert images.shape[0] == 18 and columns == 6
    with pytest.raises(Exception, match="slerp or lerp"):
        model.sample_grid(2, options={"interpolate": 3, "path": "spline"})
    out = tmp_path / "walk.png"
    result = invoke("sample", str(runs["dcgan"]), "--interpolate", "5", "-n", "2", "-o", str(out))
    assert result.exit_code == 0, result.output


def test_conditional_walks_keep_the_condition(runs: dict[str, Path]) -> None:
    from gentool.cli.common import load_model

    acgan, _ = load_model(runs["acgan"], "cpu")
    images, columns = acgan.sample_grid(
        1, generator=torch.Generator().manual_seed(0), options={"interpolate": 4, "label": ["3"]}
    )
    assert images.shape[0] == 4 and columns == 4
    # the same walk for every class: rows differ only by the class
    per_class, _ = acgan.sample_grid(
        1, generator=torch.Generator().manual_seed(0), options={"interpolate": 4, "per_label": True}
    )
    assert per_class.shape[0] == 4 * 10
    assert torch.allclose(per_class[12:16], images, atol=1e-5)
    infogan, _ = load_model(runs["infogan"], "cpu")
    walk, columns = infogan.sample_grid(2, options={"interpolate": 3})
    assert walk.shape[0] == 6 and columns == 3
    with pytest.raises(Exception, match="either --vary-code or --interpolate"):
        infogan.sample_grid(2, options={"interpolate": 3, "vary_code": "c0"})


# --- evaluate RUN RUN ..., one MSE scale ---------------------------------------------------------


def test_evaluate_several_runs_one_table_json_by_run(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = invoke(
        "evaluate",
        str(runs["vae"]),
        str(runs["dcgan"]),
        "--metrics",
        "diversity",
        "-n",
        "20",
        "--json",
        str(out),
        "--no-log",
    )
    assert result.exit_code == 0, result.output
    assert "real data (digits/test, 16px)" in result.output
    record = json.loads(out.read_text())
    assert set(record) == {"vae", "dcgan"}
    assert (
        record["vae"]["metrics"]["diversity_real"] == record["dcgan"]["metrics"]["diversity_real"]
    )


def test_reconstruct_and_evaluate_report_the_same_mse(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    rec, ev = tmp_path / "rec.json", tmp_path / "ev.json"
    result = invoke(
        "reconstruct", str(runs["vae"]), "--json", str(rec), "-o", str(tmp_path / "r.png")
    )
    assert result.exit_code == 0, result.output
    assert "mse_01, pixels in [0, 1]" in result.output
    result = invoke(
        "evaluate", str(runs["vae"]), "--metrics", "recon", "--json", str(ev), "--no-log"
    )
    assert result.exit_code == 0, result.output
    assert "pixels in [0, 1]" in result.output
    mse_reconstruct = json.loads(rec.read_text())["mse_01"]
    mse_evaluate = json.loads(ev.read_text())["metrics"]["recon_mse_01"]
    assert 0 < mse_reconstruct < 1
    assert mse_evaluate == pytest.approx(mse_reconstruct, rel=1e-9)


def test_evaluate_image2image_run_on_its_test_split(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sr.json"
    result = invoke("evaluate", str(runs["sr"]), "--json", str(out), "--no-log")
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    for key in ("psnr_y", "ssim_y", "mse_01", "bicubic_psnr_y", "bicubic_mse_01"):
        assert np.isfinite(metrics[key]), key
    result = invoke(
        "evaluate", str(runs["sr"]), "--no-log", "--lpips-weights", str(tmp_path / "none.pth")
    )
    assert result.exit_code != 0 and "--lpips-weights" in result.output
    assert "none.pth does not exist" in result.output and "Traceback" not in result.output


# --- gentool plugins NAME ------------------------------------------------------------------------


def test_plugins_name_lists_options() -> None:
    result = invoke("plugins", "dcgan")
    assert result.exit_code == 0, result.output
    assert "latent_dim" in result.output and "Length of the noise vector z." in result.output
    assert "--model-opt" in result.output
    assert invoke("plugins", "wgan-gp").output.count("gp_weight") == 1
    assert "--data-root" in invoke("plugins", "mnist").output
    missing = invoke("plugins", "dcgn")
    assert missing.exit_code != 0 and "did you mean 'dcgan'" in missing.output


def test_plugins_json_and_options_table() -> None:
    from gentool.cli.plugin_options import options_table

    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    everything = json.loads(result.output)
    dcgan = next(m for m in everything["model"] if m["name"] == "dcgan")
    latent = next(o for o in dcgan["options"] if o["name"] == "latent_dim")
    assert latent["default"] == 100 and latent["type"] == "int"
    one = json.loads(invoke("plugins", "vae", "--kind", "model", "--json").output)
    assert one["name"] == "vae" and any(o["name"] == "kl_warmup" for o in one["options"])
    text = options_table("model", "dcgan")
    assert (
        text.startswith("\b\nOptions of model 'dcgan'") and "latent_dim (int, default 100)" in text
    )


def test_field_help_sources() -> None:
    from gentool.cli.plugin_options import field_help

    @dataclass
    class Demo:
        #: From the comment,
        #: over two lines.
        a: int = 1
        b: str = "x"
        """From the docstring."""
        c: float = field(default=0.5, metadata={"help": "From metadata."})
        d: bool = False

    assert field_help(Demo) == {
        "a": "From the comment, over two lines.",
        "b": "From the docstring.",
        "c": "From metadata.",
    }


# --- plots ---------------------------------------------------------------------------------------


def _run(folder: Path, config: dict[str, object]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    records = [
        {"step": s, "loss": 1.0 / s, "beta": min(1.0, s / 4), "lr_g": 2e-4} for s in (1, 2, 3, 4)
    ]
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_legend_ignores_empty_and_inactive_settings(tmp_path: Path) -> None:
    from gentool.plotting import run_labels

    plain = _run(tmp_path / "plain", {"train": {"batch_size": 8, "extra": {}}})
    augmented = _run(
        tmp_path / "aug", {"train": {"batch_size": 8, "extra": {"augment": "flip,crop"}}}
    )
    assert run_labels([plain, augmented]) == ["augment=unset", "augment=flip,crop"]
    none = _run(tmp_path / "none", {"model_config": {"kl_anneal": "none", "kl_warmup": 1000}})
    linear = _run(tmp_path / "lin", {"model_config": {"kl_anneal": "linear", "kl_warmup": 500}})
    assert run_labels([none, linear]) == ["kl_anneal=none", "kl_anneal=linear, kl_warmup=500"]
    other = _run(tmp_path / "none2", {"model_config": {"kl_anneal": "none", "kl_warmup": 9}})
    assert run_labels([none, other]) == ["none", "none2"]  # only an inactive setting differs


def test_curves_x_axis_and_scheduled_values(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from gentool.plotting import plot_curves, x_scale

    run = _run(tmp_path / "r", {"train": {"batch_size": 8}, "data": {"num_images": 32}})
    assert x_scale(run, "images") == (8.0, "images seen (step x batch size)")
    assert x_scale(run, "epochs")[0] == 0.25
    figure = plot_curves([run], ["loss", "beta", "lr_g"], x="images", window=3)
    ax = next(a for a in figure.axes if any(x.get_label() == "beta" for x in a.get_lines()))
    lines = ax.get_lines()
    beta = [line for line in lines if line.get_label() == "beta"]
    assert len(beta) == 1 and list(beta[0].get_ydata()) == [0.25, 0.5, 0.75, 1.0]  # unsmoothed
    assert list(beta[0].get_xdata()) == [8, 16, 24, 32]
    assert sum(1 for line in lines if line.get_color() == beta[0].get_color()) == 1  # no raw twin
    plt.close(figure)
    bare = _run(tmp_path / "bare", {})
    result = invoke("plot", "curves", str(bare), "--x", "epochs", "-o", str(tmp_path / "c.png"))
    assert result.exit_code != 0 and "train.batch_size" in result.output


def test_tsne_colours_follow_colour_names() -> None:
    from matplotlib.colors import to_rgb

    from gentool.plotting import group_colours, plot_latent_tsne

    colours = group_colours(["blue", "black", "Blond_Hair", "gray"])
    assert to_rgb(colours[0]) == to_rgb("blue") and to_rgb(colours[1]) == (0.0, 0.0, 0.0)
    assert to_rgb(colours[3]) == to_rgb("gray")
    assert group_colours(["0", "1"])[0] != group_colours(["0", "1"])[1]  # not colour words
    embedding = np.random.default_rng(0).normal(size=(8, 2))
    groups = np.array([0, 0, 1, 1, -1, -1, 0, 1])
    figure = plot_latent_tsne(embedding, groups, ["blue", "black"], color_by="hair")
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels == ["unknown", "blue", "black"]


def test_plot_augment_shows_real_images_augmented(tmp_path: Path) -> None:
    out = tmp_path / "aug.png"
    result = invoke(
        "plot", "augment", "--train-opt", "augment=crop,rotate", "-n", "4", "--image-size", "16",
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:
        assert img.height == 4 * 18 + 2 and img.width > 4 * 18 + 2  # 1 + 3 rows, row labels
    bad = invoke("plot", "augment", "--train-opt", "augment=zoom", "-o", str(tmp_path / "b.png"))
    assert bad.exit_code != 0 and "unknown augmentation 'zoom'" in bad.output
    assert not (tmp_path / "b.png").exists()


def test_timeline_of_an_image2image_run_says_fixed_inputs(runs: dict[str, Path]) -> None:
    import matplotlib.pyplot as plt

    from gentool.plotting import plot_timeline

    figure = plot_timeline(runs["sr"])
    assert "fixed inputs" in figure._suptitle.get_text()  # type: ignore[union-attr]
    plt.close(figure)


def test_family_settings_a_run_does_not_use_are_left_out(tmp_path: Path) -> None:
    from gentool.plotting import run_labels

    vae = _run(tmp_path / "v", {"model": "vae", "family": "vae", "train": {"lr_d": 2e-4}})
    gan = _run(
        tmp_path / "g",
        {"model": "dcgan", "family": "gan", "loss": "bce", "train": {"lr_d": 1e-4}},
    )
    # the VAE has no loss and no D: only the model tells the runs apart
    assert run_labels([vae, gan]) == ["model=vae", "model=dcgan"]


def test_comparison_table_turns_sideways_when_too_wide() -> None:
    from rich.console import Console

    from gentool.cli.evaluate import comparison_table
    from gentool.metrics.evaluate import EvaluationResult

    info = {"dataset": "digits", "split": "test", "image_size": 16, "step": 3}
    metrics = {f"metric_{i}": float(i) for i in range(12)} | {
        "diversity": 0.2,
        "diversity_real": 0.3,
    }
    results = {"a": EvaluationResult(metrics, info), "b": EvaluationResult(metrics, info)}
    wide = comparison_table(results, width=1000)
    assert [c.header for c in wide.columns][:2] == ["run", "metric_0"] and wide.row_count == 3
    narrow = comparison_table(results, width=60)
    assert [c.header for c in narrow.columns][:3] == ["metric", "a", "b"]
    assert narrow.row_count == 13
    console = Console(width=60, record=True)
    console.print(narrow)
    assert "0.3" in console.export_text() and "…" not in console.export_text()


def test_evaluate_names_two_checkpoints_of_one_run_by_path(runs: dict[str, Path]) -> None:
    from gentool.cli.evaluate import run_keys

    first, second = str(runs["vae"]), str(runs["vae"] / "ckpt.safetensors")
    assert run_keys((first, str(runs["dcgan"]))) == ["vae", "dcgan"]
    assert run_keys((first, second)) == [first, second]
    with pytest.raises(Exception, match="given twice"):
        run_keys((first, first))


def test_upscale_refuses_a_giant_grid(runs: dict[str, Path], tmp_path: Path) -> None:
    from gentool.images import labelled_grid

    with pytest.raises(Exception, match="lower --upscale"):
        labelled_grid(torch.zeros(4, 1, 1000, 1000), 2, upscale=8)
    out = tmp_path / "huge.png"
    result = invoke("sample", str(runs["dcgan"]), "-n", "20000", "--upscale", "16", "-o", str(out))
    assert result.exit_code != 0 and "lower --upscale" in result.output
    assert "Traceback" not in result.output and not out.exists()
