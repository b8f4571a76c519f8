"""The face super-resolution workflow as commands: train, evaluate on the run's split,
rows of input | output | ground truth, and one fixed input over training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gentool.cli.main import cli
from gentool.plotting import grid_row, plot_timeline

TINY = ["--image-size", "32", "--batch-size", "4", "--device", "cpu", "--steps", "4"]


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gentool.testing import _tiny_options, kit_data

    root = tmp_path_factory.mktemp("srflow")
    data, _ = kit_data("sr-unet", root, 32)
    options = [a for k, v in _tiny_options("sr-unet").items() for a in ("--model-opt", f"{k}={v}")]
    out = root / "run"
    result = run("train", "sr-unet", "--data-root", str(data.root), *TINY, *options,
                 "--test-fraction", "0.5", "--sample-every", "1", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return out


def test_reconstruct_draws_labelled_rows_and_agrees_with_evaluate(
    sr_run: Path, tmp_path: Path
) -> None:
    grid, scores = tmp_path / "c.png", tmp_path / "c.json"
    result = run("reconstruct", str(sr_run), "--show", "3", "-o", str(grid), "--json", str(scores),
                 "--no-title")  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "PSNR-Y" in result.output and "bicubic" in result.output  # type: ignore[attr-defined]
    mine = json.loads(scores.read_text())
    assert mine["images"] == 5 and mine["split"] == "test"
    evaluated = tmp_path / "e.json"
    result = run("evaluate", str(sr_run), "--json", str(evaluated), "--no-log")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    notes = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "decoded as 32x32 squares" in notes and "own resolution" not in notes
    theirs = json.loads(evaluated.read_text())["metrics"]
    for key in ("psnr_y", "ssim_y", "mse_01", "bicubic_psnr_y", "bicubic_mse_01"):
        assert mine[key] == pytest.approx(theirs[key], abs=1e-9), key
    with Image.open(grid) as image:
        width, height = image.size
    # three rows of three 32 px cells, under a band of column headers
    assert width == 3 * 34 + 2
    assert height > 3 * 34 + 2 + 8
    pixels = np.asarray(Image.open(grid).convert("L"))
    assert pixels[: height - (3 * 34 + 2)].min() < 128  # the headers hold dark text


def test_reconstruct_lays_several_triplets_to_a_row(sr_run: Path, tmp_path: Path) -> None:
    grid = tmp_path / "c.png"
    result = run(
        "reconstruct", str(sr_run), "--show", "4", "--nrow", "2", "-o", str(grid), "--no-title"
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    with Image.open(grid) as image:
        assert image.size[0] == 6 * 34 + 2


def test_a_timeline_of_one_input_row(sr_run: Path) -> None:
    figure = plot_timeline(sr_run, count=3, row=1)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["input", "step 0", "step 2", "step 4", "ground truth"]
    # the panels are the cells of row 1 of the grids: input and truth do not change
    grid = np.asarray(Image.open(sr_run / "samples" / "step_000004.png").convert("RGB"))
    cells = grid_row(grid, 1, 32, sr_run)
    shown = figure.axes[-1].get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), cells[2])
    assert np.array_equal(np.asarray(figure.axes[3].get_images()[0].get_array()), cells[1])


def test_grid_row_refuses_foreign_pictures(tmp_path: Path) -> None:
    from gentool.errors import GentoolError

    with pytest.raises(GentoolError, match="not a grid of 16 px cells"):
        grid_row(np.zeros((50, 50, 3), np.uint8), 0, 16, tmp_path)
    with pytest.raises(GentoolError, match="rows 0 to 1"):
        grid_row(np.zeros((38, 38, 3), np.uint8), 2, 16, tmp_path)


def test_reconstruct_when_the_images_are_not_a_multiple_of_the_scale(tmp_path: Path) -> None:
    from gentool.testing import _tiny_options, kit_data

    data, _ = kit_data("sr-resnet", tmp_path, 32)
    options = [
        a for k, v in _tiny_options("sr-resnet").items() for a in ("--model-opt", f"{k}={v}")
    ]
    out = tmp_path / "run"
    result = run("train", "sr-resnet", "--data-root", str(data.root), *TINY, *options,
                 "--model-opt", "scale=3", "--train-opt", "patch=24", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    grid = tmp_path / "c.png"
    result = run("reconstruct", str(out), "--show", "2", "-o", str(grid), "--no-title")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    with Image.open(grid) as image:
        assert image.size[0] == 3 * 32 + 2  # 30 px cells: the truth cropped to 3 x 10
