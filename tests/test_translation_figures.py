"""Labelled figures of a translation (CycleGAN) run: ``gentool sample RUN -o FIG.png`` (rows
of input | translated | translated back per direction) and ``gentool plot timeline RUN``
(the training grids with their columns and domains named)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gentool.cli.main import cli
from gentool.family import Family
from gentool.images import written_by_gentool
from gentool.models.cyclegan import CycleGan
from gentool.plotting import plot_timeline
from gentool.plugins import get_family

SIZE = 16
CELL = SIZE + 2  # a grid cell and its padding
TRAIN = [
    "--image-size", str(SIZE), "--batch-size", "4", "--log-every", "3", "--sample-every", "3",
    "--steps", "3", "--device", "cpu",
    *[arg for k, v in CycleGan.TEST_OPTIONS.items() for arg in ("--model-opt", f"{k}={v}")],
]  # fmt: skip


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_domain(folder: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-step CycleGAN between folders named horses and zebras; 20 images each, so the
    held-out test split holds 2 of each."""
    root = tmp_path_factory.mktemp("translation")
    horses = write_domain(root / "horses", 20, seed=1)
    zebras = write_domain(root / "zebras", 20, seed=2)
    out = root / "run"
    domains = ["--domain-a", str(horses), "--domain-b", str(zebras)]
    result = invoke("train", "cyclegan", *domains, "--out", str(out), *TRAIN)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return out


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(np.int16)


def contains(picture: np.ndarray, block: np.ndarray) -> list[tuple[int, int]]:
    """Where ``block`` lies, pixel for pixel, in ``picture``."""
    h, w = block.shape[:2]
    found = []
    for y in range(picture.shape[0] - h + 1):
        for x in range(picture.shape[1] - w + 1):
            if np.array_equal(picture[y : y + h, x : x + w], block):
                found.append((y, x))
    return found


# --- what the family says about its grids ---------------------------------------------------------


def test_the_family_describes_the_grid_the_loop_writes(run: Path) -> None:
    import json

    config = json.loads((run / "config.json").read_text())
    family = get_family(config["family"])
    layout = family.sample_grid_layout(config)
    assert layout is not None and layout.columns == ("input", "translated", "translated back")
    assert [s.direction for s in layout.sections] == ["a2b", "b2a"]
    assert [s.label for s in layout.sections] == ["A: horses", "B: zebras"]
    assert layout.sections[0].columns == ("A (input)", "A→B", "A→B→A")
    assert layout.sections[1].columns == ("B (input)", "B→A", "B→A→B")
    # the grid written in training: the layout's columns, rows split evenly into its blocks
    with Image.open(run / "samples" / "step_000003.png") as grid:
        width, height = grid.size
    assert width == len(layout.columns) * CELL + 2
    rows = (height - 2) // CELL
    assert rows % len(layout.sections) == 0
    assert layout.section_of(0, rows).direction == "a2b"
    assert layout.section_of(rows - 1, rows).direction == "b2a"


def test_domain_names_fall_back_to_letters() -> None:
    family = get_family("translation")
    assert family.domain_names({}) == ("A", "B")
    alike = {"train": {"extra": {"domain_a": "x/train", "domain_b": "y/train"}}}
    assert family.domain_names(alike) == ("A", "B")
    layout = family.sample_grid_layout({})
    assert [s.label for s in layout.sections] == ["A", "B"]
    # families of one image set name no domains and describe no grid by default
    assert Family.domain_names(alike) == ()
    assert Family.sample_grid_layout(alike) is None
    assert get_family("gan").sample_grid_layout({}) is None


# --- gentool sample RUN -o FIG.png -----------------------------------------------------------------


def test_held_out_figure_has_both_directions_labelled(run: Path, tmp_path: Path) -> None:
    fig, bare = tmp_path / "fig.png", tmp_path / "bare.png"
    result = invoke("sample", run, "-o", fig)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "2 rows a2b, 2 rows b2a" in result.output  # type: ignore[attr-defined]
    assert written_by_gentool(fig)  # through save_pil: atomic, marked
    assert not [p for p in tmp_path.iterdir() if p.name != "fig.png"]  # no temporary left
    result = invoke("sample", run, "-o", bare, "--no-title", "--upscale", "1")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    picture = pixels(bare)
    height, width = picture.shape[:2]
    grid_w, grid_h = 3 * CELL + 2, 2 * CELL + 2  # per direction: 3 columns, 2 held-out rows
    left = width - grid_w
    assert 10 < left < 150  # a margin of row labels ("A: horses")
    headers = height - 2 * grid_h
    assert 2 * 8 < headers < 2 * 60  # a header band above each block (and a band between)
    assert picture[:, :left].min() < 100  # the row labels hold dark text
    assert picture[: headers // 2 - 4, left:].min() < 100  # so does the first header band
    # with the default upscale the cells are enlarged to at least 64 px and a title is added
    titled = pixels(fig)
    assert titled.shape[1] > 4 * grid_w and titled.shape[0] > 4 * 2 * grid_h


def test_n_limits_the_rows_and_direction_picks_one_block(run: Path, tmp_path: Path) -> None:
    heights = {}
    for n in ("1", "2"):
        out = tmp_path / f"n{n}.png"
        result = invoke("sample", run, "-n", n, "--upscale", "1", "--no-title", "-o", out)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        heights[n] = pixels(out).shape[0]
    assert heights["2"] - heights["1"] == 2 * CELL  # one more row in each of the two blocks
    out = tmp_path / "b2a.png"
    result = invoke("sample", run, "--direction", "b2a", "--upscale", "1", "--no-title", "-o", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "b2a" in result.output and "a2b" not in result.output  # type: ignore[attr-defined]
    assert pixels(out).shape[0] < heights["2"] * 0.6


def test_figure_of_given_inputs_shows_them_in_the_input_column(run: Path, tmp_path: Path) -> None:
    from gentool.data.decode import decode_files

    ins_a = write_domain(tmp_path / "a", 3, seed=5)
    ins_b = write_domain(tmp_path / "b", 2, seed=6)
    out = tmp_path / "given.png"
    args = ["--upscale", "1", "--no-title", "-o", out]
    result = invoke("sample", run, "--input", ins_a, "--input-b", ins_b, *args)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "3 rows a2b, 2 rows b2a" in result.output  # type: ignore[attr-defined]
    picture = pixels(out)
    # each input, decoded as the training images are, is a cell of the first column: the
    # two blocks' columns line up although their row labels differ in width
    decoded = decode_files([ins_a / "00.png", ins_a / "02.png", ins_b / "01.png"], SIZE, 3)
    spots = [contains(picture, image.transpose(1, 2, 0)) for image in decoded.images]
    assert all(len(found) == 1 for found in spots), spots
    (y_a0, x_a0), (y_a2, x_a2), (y_b1, x_b1) = (found[0] for found in spots)
    assert x_a0 == x_a2 == x_b1 == picture.shape[1] - (3 * CELL + 2) + 2
    assert y_a2 - y_a0 == 2 * CELL and y_b1 > y_a2 + 2 * CELL  # B's block below A's
    # --direction b2a makes --input's rows start from domain B
    result = invoke("sample", run, "--input", ins_a, "--direction", "b2a", *args, "--overwrite")
    assert result.exit_code == 0 and "3 rows b2a" in result.output  # type: ignore[attr-defined]


def test_figure_refusals_name_the_option(run: Path, tmp_path: Path) -> None:
    ins = write_domain(tmp_path / "in", 2, seed=7)
    out = tmp_path / "f.png"
    cases = [
        (["--input", ins], "--input needs --out-dir OUT"),
        (["--input", ins, "--out-dir", tmp_path / "o", "-n", "3"], "--num only shape drawn"),
        (
            ["--input", ins, "--out-dir", tmp_path / "o", "--title", "x"],
            "--title apply to a figure",
        ),
        (["--input-b", ins, "--out-dir", tmp_path / "o"], "--input-b draws domain B's rows"),
        (["--input", ins, "--input-b", ins, "--direction", "b2a", "-o", out], "drop --direction"),
        (["--input", ins, "--full-res", "-o", out], "--full-res translates files"),
        (["-o", out, "--seed", "3"], "--seed only shape drawn samples"),
        (["-o", out, "--nrow", "2"], "--nrow only shape drawn samples"),
        (["-o", out, "--title", "x", "--no-title"], "--no-title and --title contradict"),
        (["--out-dir", tmp_path / "o"], "pass --input DIR_OR_FILE"),
        ([], "pass -o FILE for a figure"),
    ]
    for args, message in cases:
        result = invoke("sample", run, *args)
        assert result.exit_code == 2, (args, result.output)  # type: ignore[attr-defined]
        assert message in " ".join(result.output.split()), (args, result.output)  # type: ignore[attr-defined]
        assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not out.exists() and not (tmp_path / "o").exists()


def test_an_existing_figure_is_kept_without_overwrite(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(out)
    before = out.read_bytes()
    result = invoke("sample", run, "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output  # type: ignore[attr-defined]
    assert out.read_bytes() == before
    result = invoke("sample", run, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert out.read_bytes() != before and written_by_gentool(out)
    # the figure never replaces one of the images it is drawn from, --overwrite or not
    ins = write_domain(tmp_path / "in", 2, seed=8)
    target = ins / "00.png"
    kept = target.read_bytes()
    result = invoke("sample", run, "--input", ins, "-o", target, "--overwrite")
    assert result.exit_code == 2 and "one of the input images" in result.output  # type: ignore[attr-defined]
    assert target.read_bytes() == kept


def test_a_missing_domain_folder_is_one_line(run: Path, tmp_path: Path) -> None:
    zebras = run.parent / "zebras"
    moved = run.parent / "zebras-moved"
    zebras.rename(moved)
    try:
        result = invoke("sample", run, "-o", tmp_path / "f.png")
    finally:
        moved.rename(zebras)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "is not there any more; pass --input-b DIR" in " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


# --- gentool plot timeline RUN ---------------------------------------------------------------------


def test_timeline_names_columns_and_domains(run: Path, tmp_path: Path) -> None:
    figure = plot_timeline(run, count=2)
    panels = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["step 0", "step 3"]
    for ax in panels:
        names = [t.get_text() for t in ax.get_xticklabels()]
        assert names == ["input", "translated", "translated\nback"]
    rows = [t.get_text() for t in panels[0].get_yticklabels()]
    assert rows == ["A: horses", "B: zebras"]
    assert not any(t.get_text() for t in panels[1].get_yticklabels())  # once per figure row
    legend = " ".join(t.get_text() for t in figure.texts)
    assert "A: horses rows: A (input) | A→B | A→B→A" in legend
    assert "B: zebras rows: B (input) | B→A | B→A→B" in legend
    out = tmp_path / "timeline.png"
    result = invoke("plot", "timeline", run, "-o", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert out.stat().st_size > 5_000


def test_timeline_row_is_headed_by_its_block(run: Path) -> None:
    figure = plot_timeline(run, count=2, row=5)  # 4 rows of A, then B: row 5 is B's second
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["B (input)", "step 0", "step 3", "B→A→B\n(step 3)"]
    assert "B: zebras, B→A" in figure.get_suptitle()
    figure = plot_timeline(run, count=2, row=0)
    assert figure.axes[0].get_title() == "A (input)"


def test_a_grid_of_another_shape_is_drawn_unlabelled(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    for grid in (copy / "samples").iterdir():
        Image.new("RGB", (50, 50), (0, 0, 0)).save(grid)
    figure = plot_timeline(copy, count=2)
    panels = [ax for ax in figure.axes if ax.images]
    assert len(panels) == 2 and not any(ax.axison for ax in panels)  # no ticks, no labels
    assert not any("rows:" in t.get_text() for t in figure.texts)  # no legend line
