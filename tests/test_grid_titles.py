"""Titles on the grid of one run (``gentool sample --title``) and labelled rows on
``gentool reconstruct --title``; the bare grids stay the default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gentool.cli.main import cli
from gentool.images import (
    drawable,
    label_font,
    labelled_grid,
    labelled_sections,
    titled_panels,
    written_by_gentool,
)

SIZE = 16
CELL = SIZE + 2
TINY = ["--image-size", str(SIZE), "--steps", "2", "--batch-size", "8", "--device", "cpu"]


def invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("titles") / "vae-digits"
    result = invoke("train", "vae", "--out", out, *TINY, "--model-opt", "width=4",
                    "--model-opt", "latent_dim=3")  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return out


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L")).astype(np.int16)


def position_of(picture: np.ndarray, block: np.ndarray) -> tuple[int, int] | None:
    """Where ``block`` lies, pixel for pixel, in ``picture`` (the first place), or None."""
    h, w = block.shape[:2]
    for y in range(picture.shape[0] - h + 1):
        for x in range(picture.shape[1] - w + 1):
            if np.array_equal(picture[y : y + h, x : x + w], block):
                return y, x
    return None


# --- gentool sample: one run ----------------------------------------------------------------------


def test_one_run_grid_is_titled_by_its_run_unless_asked(vae: Path, tmp_path: Path) -> None:
    bare, plain, titled = tmp_path / "bare.png", tmp_path / "plain.png", tmp_path / "t.png"
    result = invoke("sample", vae, "-n", "16", "-o", plain)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert Path(vae).name in result.output  # type: ignore[attr-defined]  # the default title
    assert invoke("sample", vae, "-n", "16", "--no-title", "-o", bare).exit_code == 0  # type: ignore[attr-defined]
    grid = pixels(bare)
    assert grid.shape == (4 * CELL + 2, 4 * CELL + 2)  # --no-title: the bare grid
    for path in (plain, titled):
        if path == titled:
            result = invoke("sample", vae, "-n", "16", "--title", "A tiny VAE", "-o", titled)
            assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
            assert "A tiny VAE" in result.output  # type: ignore[attr-defined]
        assert written_by_gentool(path)
        picture = pixels(path)
        where = position_of(picture, grid)
        assert where is not None  # the same grid, below a band that holds the title
        top = where[0]
        assert top > 10 and picture[:top].min() < 100
        assert picture.shape[0] == top + grid.shape[0] + 6  # the title band, the grid, a margin
    assert not np.array_equal(pixels(plain)[: where[0]], pixels(titled)[: where[0]])


def test_title_refusals(vae: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    cases = [
        (["--title", "a", "--no-title", "-o", out], "--no-title and --title contradict"),
        (["--title", "a", "--titles", "b", "-o", out], "pass --title (one run) or --titles"),
        (["--title", "   ", "-o", out], "--title is empty"),
        (["--title", "a", "--out-dir", tmp_path / "each"], "--title only apply to a grid"),
        (["--no-title", "--out-dir", tmp_path / "each"], "--no-title only apply to a grid"),
    ]
    for args, message in cases:
        result = invoke("sample", vae, *args)
        assert result.exit_code == 2, (args, result.output)  # type: ignore[attr-defined]
        assert message in " ".join(result.output.split()), (args, result.output)  # type: ignore[attr-defined]
    # several runs are told apart by their titles: --title and --no-title are refused
    result = invoke("sample", vae, vae, "--title", "a", "-o", out)
    assert result.exit_code == 2 and "pass --titles a,b" in result.output  # type: ignore[attr-defined]
    result = invoke("sample", vae, vae, "--no-title", "-o", out)
    assert result.exit_code == 2 and "told apart by their titles" in result.output  # type: ignore[attr-defined]
    assert not out.exists() and not (tmp_path / "each").exists()


def test_titled_grid_is_not_replaced_without_overwrite(vae: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    out.write_bytes(b"mine")
    result = invoke("sample", vae, "--title", "x", "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output  # type: ignore[attr-defined]
    assert out.read_bytes() == b"mine"
    assert invoke("sample", vae, "--title", "x", "-o", out, "--overwrite").exit_code == 0  # type: ignore[attr-defined]
    assert written_by_gentool(out)


# --- gentool reconstruct --------------------------------------------------------------------------


def test_reconstruct_title_labels_the_rows(vae: Path, tmp_path: Path) -> None:
    bare, titled = tmp_path / "bare.png", tmp_path / "titled.png"
    args = ["reconstruct", vae, "--show", "8", "--nrow", "4", "--device", "cpu"]
    assert invoke(*args, "--no-title", "-o", bare).exit_code == 0  # type: ignore[attr-defined]
    grid = pixels(bare)
    assert grid.shape == (4 * CELL + 2, 4 * CELL + 2)  # as before: two pairs of rows
    result = invoke(*args, "--title", "VAE recon", "-o", titled)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    picture = pixels(titled)
    where = position_of(picture, grid)
    assert where is not None  # the same cells, moved right by the labels, down by the title
    top, left = where
    assert left > 30  # "reconstruction" in the margin
    assert picture[top:, :left].min() < 100  # row labels
    assert picture[:top].min() < 100  # the title
    # one label per row of cells: ink in the margin beside each of the four rows
    for row in range(4):
        band = picture[top + 2 + row * CELL : top + (row + 1) * CELL, : left - 2]
        assert band.min() < 100, row
    default = tmp_path / "default.png"  # titled by the run, rows labelled
    assert invoke(*args, "-o", default).exit_code == 0  # type: ignore[attr-defined]
    found = position_of(pixels(default), grid)
    assert found is not None and found[0] > 10 and found[1] == left
    result = invoke(*args, "--title", "x", "--no-title", "-o", tmp_path / "y.png")
    assert result.exit_code == 2 and "contradict" in result.output  # type: ignore[attr-defined]
    result = invoke(*args, "--title", "x", "-o", titled)
    assert result.exit_code == 1 and "--overwrite" in result.output  # type: ignore[attr-defined]


# --- the picture helpers --------------------------------------------------------------------------


def test_sections_line_up_and_carry_their_headers() -> None:
    torch.manual_seed(0)
    a, b = torch.rand(6, 3, 8, 8) * 2 - 1, torch.rand(3, 3, 8, 8) * 2 - 1
    picture = labelled_sections(
        [(a, ["short"] * 2, ["x", "y", "z"]), (b, ["a much longer label"], ["p", "q", "r"])],
        nrow=3,
    )
    alone = labelled_grid(a, 3, row_labels=["short"] * 2)
    grid_w = 3 * 10 + 2
    array = np.asarray(picture.convert("L")).astype(np.int16)
    # both blocks' grids end at the right edge and start at the same column
    left = picture.width - grid_w
    assert left > alone.width - grid_w  # widened to the longer label
    cells = [np.asarray(labelled_grid(x, 3).convert("L")).astype(np.int16) for x in (a, b)]
    spots = [position_of(array, c) for c in cells]
    assert spots[0] is not None and spots[1] is not None
    assert spots[0][1] == spots[1][1] == left
    assert spots[0][0] > 0 and spots[1][0] > spots[0][0] + cells[0].shape[0]  # headers above


def test_arrows_are_drawn_or_spelt_out() -> None:
    font = label_font(40)
    text = drawable("A→B", font)
    assert text in ("A→B", "A->B")

    def ink(s: str) -> bytes:
        img = Image.new("L", (60, 30))
        from PIL import ImageDraw

        ImageDraw.Draw(img).text((0, 0), s, fill=255, font=font)
        return img.tobytes()

    # what is drawn is never the font's box for a missing glyph
    assert ink(drawable("→", font)) != ink("\ufffe")


def test_a_long_title_widens_its_panel() -> None:
    small = Image.new("L", (20, 20), 128)
    canvas = titled_panels([("a title much wider than its picture", small)])
    assert canvas.width > 100
    array = np.asarray(canvas)
    assert (array == 128).sum() == 20 * 20  # the picture is whole, centred below the title


def test_upscaler_comparison_takes_a_title(tmp_path: Path) -> None:
    from gentool.testing import _tiny_options, kit_data

    data, _ = kit_data("sr-unet", tmp_path, 32)
    options = [a for k, v in _tiny_options("sr-unet").items() for a in ("--model-opt", f"{k}={v}")]
    out = tmp_path / "sr"
    result = invoke("train", "sr-unet", "--data-root", data.root, "--image-size", "32",
                    "--batch-size", "4", "--device", "cpu", "--steps", "1", *options,
                    "--test-fraction", "0.5", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    bare, titled = tmp_path / "bare.png", tmp_path / "titled.png"
    args = ["reconstruct", out, "--show", "2", "--device", "cpu"]
    assert invoke(*args, "--no-title", "-o", bare).exit_code == 0  # type: ignore[attr-defined]
    result = invoke(*args, "--title", "SR", "-o", titled)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    grid, picture = pixels(bare), pixels(titled)
    where = position_of(picture, grid)
    assert where is not None and where[0] > 10  # the same comparison, under a title
    assert picture[: where[0]].min() < 100
