"""Hostile inputs to the commands other than ``train``: sample, upscale, reconstruct, evaluate,
plot (issue 15). Every output is checked before any work, never replaced unasked, never
half-written; two inputs never silently share an output; every option is applied or refused.

Each row is a :class:`Case` run by the ``hostile`` fixture (see ``harness.py``): a refusal is
one ``Error:`` line and changes no file; an acceptance changes only ``may_change``. The
disk-full tests at the end run twice: with the write in :mod:`gentool.fileio` failing with
ENOSPC part-way (everywhere), and on a real 64 KiB tmpfs (where ``mount`` is allowed).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from hostile.conftest import gentool_png
from hostile.harness import Case, assert_one_line_error

# --- extra fixtures ------------------------------------------------------------------------------


def _png(path: Path, size: int = 8, mode: str = "RGB", colour: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = colour if mode in ("L", "I;16") else (colour, 30, 200)
    fmt = None if path.suffix else "PNG"  # a fixture is named without a suffix
    Image.new(mode, (size, size), fill).save(path, format=fmt)


def _gif(path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), (i * 80, 20, 200 - i * 60)) for i in range(3)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=50)


def _twins(path: Path) -> None:
    """A folder holding a.png and a.jpg: both would be named a_x4.png."""
    _png(path / "a.png")
    path.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path / "a.jpg")


def _xy(path: Path) -> None:
    """x/a.png and y/a.png (same name in two folders) and y/b.png."""
    _png(path / "x" / "a.png")
    _png(path / "y" / "a.png", colour=10)
    _png(path / "y" / "b.png", colour=20)


def _tree(path: Path) -> None:
    _png(path / "a.png")
    _png(path / "sub" / "b.png", mode="L")


def _log(lines: list[bytes], config: bool = False) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.mkdir(parents=True)
        (path / "log.jsonl").write_bytes(b"".join(lines))

    return make


def _record(step: int, **values: Any) -> bytes:
    return (json.dumps({"step": step, "loss_d": 1.0 / (step + 1), **values}) + "\n").encode()


GOOD = [_record(s, loss_g=0.5 + s / 10) for s in range(6)]

_CACHE: dict[str, Path] = {}


def _cached(name: str, build: Callable[[Path], None]) -> Callable[[Path], None]:
    """A maker that builds once per session and copies."""

    def make(target: Path) -> None:
        if name not in _CACHE:
            source = Path(tempfile.mkdtemp(prefix=f"hostile-{name}-")) / name
            build(source)
            _CACHE[name] = source
        shutil.copytree(_CACHE[name], target)

    return make


def _cyclegan(out: Path) -> None:
    from gentool.cli.main import cli
    from gentool.models.cyclegan import CycleGan

    domains = out.parent / "domains"
    for name, colour in (("A", 40), ("B", 200)):
        for i in range(4):
            _png(domains / name / f"{i}.png", size=16, colour=colour + i)
    options = [a for k, v in CycleGan.TEST_OPTIONS.items() for a in ("--model-opt", f"{k}={v}")]
    args = ["train", "cyclegan", "--domain-a", str(domains / "A"), "--domain-b"]
    args += [str(domains / "B"), "--out", str(out), "--steps", "2", "--image-size", "16"]
    args += ["--batch-size", "2", "--device", "cpu", "--sample-every", "2", *options]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _srunet(out: Path) -> None:
    """A tiny sr-unet run on 32 px photos, with sample grids at steps 0, 1 and 2."""
    from gentool.testing import _tiny_options, kit_data
    from gentool.training.runner import train

    data, extra = kit_data("sr-unet", out.parent / "sr-data", 32)
    train("sr-unet", model_options=_tiny_options("sr-unet"), data=data, extra=extra, steps=2,
          batch_size=4, device="cpu", out=str(out), sample_every=1)  # fmt: skip


def _json_has(path: Path, *keys: str) -> None:
    import json

    data = json.loads(path.read_text())
    assert all(isinstance(data[k], float) for k in keys), data


def _noise(path: Path) -> None:
    """64x64 random pixels: its 4x upscale does not fit in a 64 KiB file system."""
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")


EXTRA_FIXTURES: dict[str, Callable[[Path], None]] = {
    "noise": _noise,
    "small": lambda p: _png(p),
    "rgba": lambda p: _png(p, mode="RGBA"),
    "anim": _gif,
    "twins": _twins,
    "xy": _xy,
    "tree": _tree,
    "cyc": _cached("cyc", _cyclegan),
    "srrun": _cached("srrun", _srunet),
    "badlog": _log(
        [
            GOOD[0],
            b"{not json\n",
            GOOD[1],
            b"\xff\xfe\x00 not utf-8\n",
            b"[1, 2]\n",
            GOOD[2],
            b'{"step": "three", "loss_d": 1}\n',
            *GOOD[3:],
            b'{"step": 9, "loss_d": 0.',
        ]
    ),
    "junklog": _log([b"\x00\x01garbage\n", b"{broken\n", b'{"step": "x"}\n']),
    "emptylog": _log([]),
    "eventlog": _log([b'{"event": "evaluate", "swd_avg": 1.0}\n']),
    "nanlog": _log([_record(s, loss_g=float("nan")) for s in range(4)]),
    "goodlog": _log(GOOD),
}


# --- setups and checks ---------------------------------------------------------------------------

OLD = b"old contents a user keeps\n"


def existing(*names: str) -> Callable[[Path], None]:
    """Files already there, with contents the command must keep (or replace with --overwrite)."""

    def setup(folder: Path) -> None:
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(OLD)

    return setup


def folder_at(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).mkdir(parents=True)


def image_at(name: str, size: tuple[int, int] | None = None, fmt: str | None = None) -> Any:
    def check(folder: Path, result: Result) -> None:
        with Image.open(folder / name) as img:
            img.load()
            if size is not None:
                assert img.size == size, img.size
            if fmt is not None:
                assert img.format == fmt, img.format

    return check


def files_are(pattern: str, expected: list[str]) -> Any:
    def check(folder: Path, result: Result) -> None:
        found = sorted(p.relative_to(folder).as_posix() for p in folder.glob(pattern))
        assert found == expected, found

    return check


def replaced(name: str) -> Any:
    """--overwrite did replace the old file, with a real image."""

    def check(folder: Path, result: Result) -> None:
        data = (folder / name).read_bytes()
        assert data != OLD
        with Image.open(folder / name) as img:
            img.load()

    return check


def nothing_written(folder: Path, result: Result) -> None:
    stale = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not stale, stale


def last_log_event(folder: Path, result: Result) -> None:
    lines = (folder / "run" / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "evaluate"


def json_has(name: str, *keys: str) -> Any:
    def check(folder: Path, result: Result) -> None:
        data = json.loads((folder / name).read_text())
        for key in keys:
            assert key in data, data

    return check


#: A VAE walk between two images (--sample-opt from=, to=).
WALK = ["--sample-opt", "from={small}", "--sample-opt", "to={small}"]
SAMPLE = ["sample", "{run}", "-n", "4"]
EVAL = ["evaluate", "{run}", "--no-log"]
UP = ["upscale"]

CASES = [
    # --- sample: the grid --------------------------------------------------------------------
    Case(
        "sample-new-grid",
        [*SAMPLE, "-o", "g.png", "--no-title"],
        "ok",
        may_change=("g.png",),
        check=image_at("g.png", (2 * 16 + 3 * 2, 2 * 16 + 3 * 2), "PNG"),
    ),
    Case(
        "sample-existing-grid-refused",
        [*SAMPLE, "-o", "g.png"],
        match=r"g\.png already exists.*--overwrite",
        setup=existing("g.png"),
    ),
    Case(
        "sample-default-grid-exists",
        SAMPLE,
        match=r"samples\.png already exists",
        setup=existing("samples.png"),
    ),
    Case(
        "sample-overwrite-replaces",
        [*SAMPLE, "-o", "g.png", "--overwrite"],
        "ok",
        may_change=("g.png",),
        setup=existing("g.png"),
        check=replaced("g.png"),
    ),
    Case(
        "sample-output-is-folder",
        [*SAMPLE, "-o", "g.png"],
        match="directory|folder",
        setup=folder_at("g.png"),
    ),
    Case(
        "sample-missing-parent-created",
        [*SAMPLE, "-o", "new/sub/g.png"],
        "ok",
        may_change=("new/sub/g.png",),
        check=image_at("new/sub/g.png"),
    ),
    Case("sample-parent-is-a-file", [*SAMPLE, "-o", "{text}/g.png"], match="not a folder"),
    Case("sample-unknown-extension", [*SAMPLE, "-o", "g.xyz"], match=r"g\.xyz.*\.png"),
    Case("sample-gif-extension", [*SAMPLE, "-o", "g.gif"], match=r"g\.gif"),
    Case(
        "sample-jpeg-by-extension",
        [*SAMPLE, "-o", "g.jpg"],
        "ok",
        may_change=("g.jpg",),
        check=image_at("g.jpg", fmt="JPEG"),
    ),
    Case("sample-under-proc", [*SAMPLE, "-o", "/proc/g.png"], match=r"cannot write /proc/g\.png"),
    Case(
        "sample-nrow-over-n-is-one-row",
        [*SAMPLE, "--nrow", "10", "-o", "g.png", "--no-title"],
        "ok",
        may_change=("g.png",),
        check=image_at("g.png", (4 * 16 + 5 * 2, 16 + 2 * 2)),
    ),
    Case(
        "sample-nrow-applied",
        [*SAMPLE, "--nrow", "1", "-o", "g.png", "--no-title"],
        "ok",
        may_change=("g.png",),
        check=image_at("g.png", (16 + 2 * 2, 4 * 16 + 5 * 2)),
    ),
    # --- sample: one file per image ----------------------------------------------------------
    Case(
        "sample-out-dir-holds-samples",
        [*SAMPLE, "--out-dir", "d"],
        match=r"already holds.*sample_00000\.png",
        setup=existing("d/sample_00000.png"),
    ),
    Case(
        "sample-out-dir-overwrite",
        [*SAMPLE, "--out-dir", "d", "--overwrite"],
        "ok",
        may_change=("d/sample_*.png",),
        setup=existing("d/sample_00000.png"),
        check=files_are("d/*.png", [f"d/sample_0000{i}.png" for i in range(4)]),
    ),
    Case(
        "sample-out-dir-overwrite-replaces-a-larger-set",
        [*SAMPLE, "--out-dir", "d", "--overwrite"],
        "ok",
        may_change=("d/sample_0*.png",),
        setup=lambda f: (
            existing("d/sample_mine.png", "d/a.txt")(f),
            [gentool_png(f / f"d/sample_{i:05d}.png", seed=i) for i in range(10)],
        ),
        check=files_are(
            "d/*",
            sorted(["d/a.txt", "d/sample_mine.png"] + [f"d/sample_0000{i}.png" for i in range(4)]),
        ),
    ),
    Case(
        "sample-out-dir-keeps-other-files",
        [*SAMPLE, "--out-dir", "d"],
        "ok",
        may_change=("d/sample_*.png",),
        setup=existing("d/notes.txt"),
        check=files_are("d/*", ["d/notes.txt"] + [f"d/sample_0000{i}.png" for i in range(4)]),
    ),
    Case("sample-out-dir-is-a-file", [*SAMPLE, "--out-dir", "{text}"], match="file"),
    Case(
        "sample-out-dir-under-proc",
        [*SAMPLE, "--out-dir", "/proc/gentool-out"],
        match="cannot write",
    ),
    Case(
        "sample-o-and-out-dir",
        [*SAMPLE, "-o", "g.png", "--out-dir", "d"],
        match=r"--output.*--out-dir",
    ),
    Case("sample-nrow-with-out-dir", [*SAMPLE, "--nrow", "2", "--out-dir", "d"], match="--nrow"),
    # --- sample: options the model must apply or refuse --------------------------------------
    Case("sample-label-on-unconditional-gan", [*SAMPLE, "--label", "3"], match="--label"),
    Case("sample-per-label-on-unconditional", [*SAMPLE, "--per-label"], match="--per-label"),
    Case("sample-vary-code-on-dcgan", [*SAMPLE, "--vary-code", "c0"], match="--vary-code"),
    Case(
        "sample-unknown-sample-opt", [*SAMPLE, "--sample-opt", "temperature=2"], match="temperature"
    ),
    Case("sample-sample-opt-without-equals", [*SAMPLE, "--sample-opt", "nokey"], match="key=value"),
    Case("sample-vae-label", ["sample", "{vae}", "-n", "4", "--label", "1"], match="--label"),
    Case(
        "sample-vae-temperature-applied",
        ["sample", "{vae}", "-n", "4", "--sample-opt", "temperature=0.5", "-o", "v.png"],
        "ok",
        may_change=("v.png",),
        check=image_at("v.png"),
    ),
    Case(
        "sample-vae-bad-temperature",
        ["sample", "{vae}", "-n", "4", "--sample-opt", "temperature=-1"],
        match="temperature",
    ),
    Case(
        "sample-vae-temperature-with-a-walk-between-images",
        ["sample", "{vae}", *WALK, "--sample-opt", "temperature=0.5", "-o", "w.png"],
        match="temperature scales prior draws",
    ),
    Case("sample-seed-negative", [*SAMPLE, "--seed", "-1"], match="--seed"),
    Case("sample-seed-over-64-bits", [*SAMPLE, "--seed", str(2**63)], match="--seed"),
    Case(
        "sample-seed-largest",
        [*SAMPLE, "--seed", str(2**63 - 1), "-o", "g.png"],
        "ok",
        may_change=("g.png",),
    ),
    Case("sample-seed-not-a-number", [*SAMPLE, "--seed", "abc"], match="--seed"),
    Case("sample-direction-without-input", [*SAMPLE, "--direction", "b2a"], match="--input"),
    Case("sample-full-res-without-input", [*SAMPLE, "--full-res"], match="--input"),
    Case("sample-checkpoint-is-text", ["sample", "{text}"], match="checkpoint|safetensors"),
    # --- sample --input: translation -----------------------------------------------------------
    Case(
        "translate-with-a-gan",
        ["sample", "{run}", "--input", "{small}", "--out-dir", "o"],
        match="translation checkpoint",
    ),
    Case("translate-without-out-dir", ["sample", "{cyc}", "--input", "{small}"], match="--out-dir"),
    Case(
        "translate-folder",
        ["sample", "{cyc}", "--input", "{tree}", "--out-dir", "o"],
        "ok",
        may_change=("o/*",),
        check=files_are("o/**/*.png", ["o/a.png", "o/sub/b.png"]),
    ),
    Case(
        "translate-collision-png-jpg",
        ["sample", "{cyc}", "--input", "{twins}", "--out-dir", "o"],
        match=r"a\.(png|jpg) and .*a\.(png|jpg) would both be written to .*a\.png",
    ),
    Case(
        "translate-existing-output",
        ["sample", "{cyc}", "--input", "{tree}", "--out-dir", "o"],
        match=r"o/sub/b\.png already exists",
        setup=existing("o/sub/b.png"),
    ),
    Case(
        "translate-overwrite",
        ["sample", "{cyc}", "--input", "{tree}", "--out-dir", "o", "--overwrite"],
        "ok",
        may_change=("o/*",),
        setup=existing("o/sub/b.png"),
        check=replaced("o/sub/b.png"),
    ),
    Case(
        "translate-into-its-input",
        ["sample", "{cyc}", "--input", "{tree}", "--out-dir", "{tree}", "--overwrite"],
        match="is an input",
    ),
    Case(
        "translate-seed-refused",
        ["sample", "{cyc}", "--input", "{small}", "--out-dir", "o", "--seed", "3"],
        match="--seed",
    ),
    Case(
        "translate-nrow-refused",
        ["sample", "{cyc}", "--input", "{small}", "--out-dir", "o", "--nrow", "3"],
        match="--nrow",
    ),
    Case("translate-cyclegan-without-input", ["sample", "{cyc}", "-n", "3"], match="--input"),
    # --- upscale -----------------------------------------------------------------------------
    Case(
        "upscale-file",
        [*UP, "{small}"],
        "ok",
        may_change=("small_x4.png",),
        check=image_at("small_x4.png", (32, 32), "PNG"),
    ),
    Case(
        "upscale-existing-output",
        [*UP, "{small}"],
        match=r"small_x4\.png already exists",
        setup=existing("small_x4.png"),
    ),
    Case(
        "upscale-overwrite",
        [*UP, "{small}", "--overwrite"],
        "ok",
        may_change=("small_x4.png",),
        setup=existing("small_x4.png"),
        check=replaced("small_x4.png"),
    ),
    Case(
        "upscale-png-and-jpg-collide",
        [*UP, "{twins}"],
        match=r"a\.(png|jpg) and .*a\.(png|jpg) would both be written to .*a_x4\.png",
    ),
    Case(
        "upscale-same-name-two-folders",
        [*UP, "{xy}/x/a.png", "{xy}/y/a.png", "-o", "out"],
        match=r"x/a\.png and .*y/a\.png would both be written to out/a_x4\.png",
    ),
    Case(
        "upscale-same-file-twice",
        [*UP, "{small}", "{small}", "-o", "out"],
        match="given twice.*name each input once",
    ),
    Case(
        "upscale-distinct-names-kept",
        [*UP, "{xy}/x/a.png", "{xy}/y/b.png", "-o", "out"],
        "ok",
        may_change=("out/*",),
        check=files_are("out/*", ["out/a_x4.png", "out/b_x4.png"]),
    ),
    Case(
        "upscale-output-replaces-input",
        [*UP, "{small}", "-o", "{small}", "--overwrite"],
        match="is an input",
    ),
    Case(
        "upscale-output-is-an-input-name",
        [*UP, "{xy}/y", "-o", "{xy}/y", "--overwrite"],
        "ok",
        may_change=("xy/y/*_x4.png",),
        check=files_are("xy/y/*", ["xy/y/a.png", "xy/y/a_x4.png", "xy/y/b.png", "xy/y/b_x4.png"]),
    ),
    Case(
        "upscale-many-into-a-file",
        [*UP, "{xy}/x/a.png", "{xy}/y/b.png", "-o", "{text}"],
        match="is a file",
    ),
    Case("upscale-unknown-extension", [*UP, "{small}", "-o", "big.xyz"], match=r"big\.xyz"),
    Case(
        "upscale-jpeg-output",
        [*UP, "{rgba}", "-o", "big.jpg"],
        "ok",
        may_change=("big.jpg",),
        check=image_at("big.jpg", (32, 32), "JPEG"),
    ),
    Case(
        "upscale-trailing-slash-is-a-folder",
        [*UP, "{small}", "-o", "outdir/"],
        "ok",
        may_change=("outdir/*",),
        check=image_at("outdir/small_x4.png", (32, 32)),
    ),
    Case("upscale-not-an-image", [*UP, "{text}"], match="not an image"),
    Case(
        "upscale-bad-input-among-good",
        [*UP, "{small}", "{text}", "-o", "out"],
        match="not an image",
        check=nothing_written,
    ),
    Case(
        "upscale-animated-gif-first-frame",
        [*UP, "{anim}"],
        "ok",
        may_change=("anim_x4.png",),
        match=r"Warning:.*animated \(3 frames\); only the first frame",
        check=image_at("anim_x4.png", (32, 32)),
    ),
    Case(
        "upscale-overlap-not-below-tile",
        [*UP, "{small}", "--tile", "16", "--overlap", "16"],
        match="--overlap",
    ),
    Case("upscale-tile-too-small", [*UP, "{small}", "--tile", "4"], match="--tile"),
    Case("upscale-scale-mismatch", [*UP, "{small}", "--scale", "2"], match="upscales by 4"),
    Case("upscale-under-proc", [*UP, "{small}", "-o", "/proc/big.png"], match="cannot write"),
    Case("upscale-empty-folder", [*UP, "{empty}"], match="no images"),
    Case(
        "upscale-folder-keeps-subfolders",
        [*UP, "{tree}"],
        "ok",
        may_change=("tree_x4/*",),
        check=files_are("tree_x4/**/*.png", ["tree_x4/a_x4.png", "tree_x4/sub/b_x4.png"]),
    ),
    Case(
        "upscale-folder-one-target-exists",
        [*UP, "{tree}"],
        match=r"b_x4\.png already exists",
        setup=existing("tree_x4/sub/b_x4.png"),
    ),
    Case("upscale-gan-checkpoint", [*UP, "{small}", "--ckpt", "{ckpt}"], match="not an upscaler"),
    Case("upscale-missing-input", [*UP, "nothere.png"], match="does not exist"),
    Case(
        "upscale-ensemble-one-pixel",
        [*UP, "dot.png", "--ensemble"],
        "ok",
        setup=lambda f: Image.new("RGB", (1, 1), (9, 99, 199)).save(f / "dot.png"),
        may_change=("dot_x4.png",),
    ),
    # --- reconstruct -------------------------------------------------------------------------
    Case(
        "recon-files",
        ["reconstruct", "{vae}", "{small}", "-o", "r.png"],
        "ok",
        may_change=("r.png",),
        check=image_at("r.png"),
    ),
    Case(
        "recon-default-output-exists",
        ["reconstruct", "{vae}", "{small}"],
        match=r"recon\.png already exists",
        setup=existing("recon.png"),
    ),
    Case(
        "recon-overwrite",
        ["reconstruct", "{vae}", "{small}", "--overwrite"],
        "ok",
        may_change=("recon.png",),
        setup=existing("recon.png"),
        check=replaced("recon.png"),
    ),
    Case(
        "recon-image-size-mismatch",
        ["reconstruct", "{vae}", "{small}", "--image-size", "32"],
        match="--image-size",
    ),
    Case(
        "recon-image-size-of-the-model",
        ["reconstruct", "{vae}", "{small}", "--image-size", "16", "-o", "r.png"],
        "ok",
        may_change=("r.png",),
    ),
    Case(
        "recon-channels-mismatch",
        ["reconstruct", "{vae}", "{small}", "--channels", "3"],
        match="--channels",
    ),
    Case(
        "recon-images-and-limit",
        ["reconstruct", "{vae}", "{small}", "--limit", "3"],
        match="--limit",
    ),
    Case(
        "recon-images-and-data-root",
        ["reconstruct", "{vae}", "{small}", "--data-root", "{imgdir}"],
        match="--data-root",
    ),
    Case(
        "recon-json-written",
        ["reconstruct", "{vae}", "{small}", "-o", "r.png", "--json", "m.json"],
        "ok",
        may_change=("r.png", "m.json"),
        check=json_has("m.json", "mse_per_pixel"),
    ),
    Case(
        "recon-json-exists",
        ["reconstruct", "{vae}", "{small}", "--json", "m.json"],
        match=r"m\.json already exists",
        setup=existing("m.json"),
    ),
    Case(
        "recon-json-under-proc",
        ["reconstruct", "{vae}", "{small}", "--json", "/proc/x.json"],
        match=r"cannot write /proc/x\.json",
        check=nothing_written,
    ),
    Case(
        "recon-json-is-the-grid",
        ["reconstruct", "{vae}", "{small}", "-o", "r.png", "--json", "r.png"],
        match="both name",
    ),
    Case(
        "recon-gan-checkpoint",
        ["reconstruct", "{run}", "{small}"],
        match="for models that reconstruct or upscale images.* does not apply to 'dcgan'",
    ),
    # an upscaler: rows of input | output | ground truth from its test split, or from files
    Case("recon-sr-split", ["reconstruct", "{srrun}", "-o", "c.png"], "ok", may_change=("c.png",)),
    Case(
        "recon-sr-files",
        [
            "reconstruct",
            "{srrun}",
            "{small}",
            "{imgdir}",
            "--show",
            "40",
            "--nrow",
            "2",
            "-o",
            "c.png",
            "--json",
            "c.json",
        ],
        "ok",
        may_change=("c.png", "c.json"),
        check=lambda f, r: _json_has(f / "c.json", "psnr_y", "bicubic_psnr_y"),
    ),
    Case(
        "recon-sr-exists",
        ["reconstruct", "{srrun}", "-o", "c.png"],
        setup=existing("c.png"),
        match="already exists",
    ),
    Case(
        "recon-sr-split-and-files",
        ["reconstruct", "{srrun}", "{small}", "--split", "all"],
        match="drop them",
    ),
    Case("sample-sr", ["sample", "{srrun}"], match="gentool reconstruct"),
    Case(
        "recon-output-is-an-input",
        ["reconstruct", "{srrun}", "{imgdir}", "-o", "{imgdir}/img03.png", "--overwrite"],
        match="one of the input images",
    ),
    Case(
        "recon-json-is-an-input-in-a-folder",
        ["reconstruct", "{vae}", "{imgdir}", "--json", "{imgdir}/img00.png", "--overwrite"],
        match="one of the input images",
    ),
    Case(
        "timeline-row-sr",
        ["plot", "timeline", "{srrun}", "--row", "0", "-o", "t.png"],
        "ok",
        may_change=("t.png",),
    ),
    Case(
        "timeline-row-gan",
        ["plot", "timeline", "{run}", "--row", "1", "-o", "t.pdf"],
        "ok",
        may_change=("t.pdf",),
    ),
    Case("timeline-row-too-big", ["plot", "timeline", "{srrun}", "--row", "99"], match="rows 0 to"),
    Case("timeline-row-negative", ["plot", "timeline", "{srrun}", "--row", "-1"], code=2),
    Case(
        "timeline-row-columns",
        ["plot", "timeline", "{srrun}", "--row", "0", "--columns", "2"],
        match="one line",
    ),
    Case(
        "timeline-row-foreign-grid",
        ["plot", "timeline", "{srrun}", "--row", "0", "-o", "t.png"],
        setup=lambda f: _png(f / "srrun" / "samples" / "step_000001.png", size=50),
        match="not a grid",
    ),
    Case(
        "timeline-onto-its-own-grid",
        ["plot", "timeline", "{run}", "-o", "{run}/samples/step_000002.png", "--overwrite"],
        match="grids this timeline is drawn from",
    ),
    Case(
        "upscale-same-file-by-two-paths",
        [*UP, "{xy}/x/a.png", "{xy}/y/../x/a.png", "-o", "{tmp}/d"],
        match="given twice.*name each input once",
    ),
    Case(
        "upscale-output-is-input-names-o",
        [*UP, "{small}", "-o", "{small}", "--overwrite"],
        match=r"which is an input .*\(-o\)\.$",
    ),
    Case(
        "upscale-o-image-name-for-several",
        [*UP, "{small}", "{imgdir}", "-o", "{tmp}/many.png"],
        match="reads as an image file name",
    ),
    Case("recon-text-file", ["reconstruct", "{vae}", "{text}"], match="could not be decoded"),
    # --- evaluate ----------------------------------------------------------------------------
    Case(
        "eval-diversity-needs-two",
        [*EVAL, "--metrics", "diversity", "-n", "1"],
        match="'diversity'.*at least 2 generated",
    ),
    Case(
        "eval-prdc-needs-six", [*EVAL, "--metrics", "prdc", "-n", "5"], match="'prdc'.*at least 6"
    ),
    Case(
        "eval-default-n1-leaves-out",
        [*EVAL, "-n", "1", "--limit", "20"],
        "ok",
        match="diversity left out",
    ),
    Case("eval-unknown-metric", [*EVAL, "--metrics", "swdd"], match="unknown metric 'swdd'.*'swd'"),
    Case("eval-empty-metrics", [*EVAL, "--metrics", ","], match="names no metric"),
    Case("eval-metric-for-vaes-on-gan", [*EVAL, "--metrics", "recon"], match="does not apply"),
    Case("eval-labels-unconditional", [*EVAL, "--metrics", "labels"], match="not conditional"),
    Case(
        "eval-json-exists",
        [*EVAL, "--metrics", "swd", "-n", "4", "--json", "m.json"],
        match=r"m\.json already exists",
        setup=existing("m.json"),
    ),
    Case(
        "eval-json-overwrite",
        [
            "evaluate",
            "{run}",
            "--metrics",
            "swd",
            "-n",
            "4",
            "--limit",
            "20",
            "--json",
            "m.json",
            "--overwrite",
        ],
        "ok",
        may_change=("m.json", "run/log.jsonl"),
        setup=existing("m.json"),
        check=json_has("m.json", "metrics", "seed"),
    ),
    Case(
        "eval-json-under-proc",
        [*EVAL, "--metrics", "swd", "--json", "/proc/x.json"],
        match=r"cannot write /proc/x\.json",
    ),
    Case("eval-json-is-folder", [*EVAL, "--json", "{empty}"], match="folder"),
    Case(
        "eval-json-is-the-log",
        ["evaluate", "{run}", "--json", "{run}/log.jsonl", "--overwrite"],
        match="run's log",
    ),
    *(
        Case(
            f"{command}-json-is-run-{name.split('.')[0]}",
            [command, "{" + run + "}", *extra, "--json", "{" + run + "}/" + name, "--overwrite"],
            match="--json .* is the run's",
        )
        for command, run, extra in [
            ("evaluate", "run", ["--metrics", "swd", "--no-log"]),
            ("reconstruct", "vae", ["-o", "{tmp}/r.png"]),
        ]
        for name in ("ckpt.safetensors", "config.json", "run.toml", "log.jsonl")
    ),
    Case(
        "eval-appends-to-log",
        ["evaluate", "{run}", "--metrics", "swd", "-n", "4", "--limit", "20"],
        "ok",
        may_change=("run/log.jsonl",),
        check=last_log_event,
    ),
    Case("eval-seed-negative", [*EVAL, "--seed", "-5"], match="--seed"),
    Case(
        "eval-lpips-without-recon",
        [*EVAL, "--metrics", "swd", "-n", "4", "--limit", "20", "--lpips-weights", "{text}"],
        match="--lpips-weights",
    ),
    Case(
        "eval-inception-without-fid",
        [*EVAL, "--metrics", "swd", "-n", "4", "--limit", "20", "--inception-weights", "{text}"],
        match="--inception-weights",
    ),
    Case(
        "eval-classifier-steps-unconditional",
        [*EVAL, "--metrics", "swd", "-n", "4", "--limit", "20", "--classifier-steps", "5"],
        match="--classifier-steps",
    ),
    Case(
        "eval-num-samples-without-sampling",
        ["evaluate", "{vae}", "--no-log", "--metrics", "recon", "-n", "10", "--limit", "20"],
        match="--num-samples",
    ),
    Case("eval-image-size-mismatch", [*EVAL, "--image-size", "32"], match="--image-size"),
    Case("eval-domain-on-gan", [*EVAL, "--domain-a", "{imgdir}"], match="translation models"),
    Case(
        "eval-hr-dir-with-seed",
        ["evaluate", "default", "--hr-dir", "{imgdir}", "--seed", "3"],
        match="--seed.*--hr-dir",
    ),
    Case(
        "eval-hr-dir-with-metrics",
        ["evaluate", "default", "--hr-dir", "{imgdir}", "--metrics", "swd"],
        match="--metrics",
    ),
    Case(
        "eval-translation-num-samples",
        ["evaluate", "{cyc}", "--no-log", "-n", "5"],
        match="--num-samples",
    ),
    # --- plot --------------------------------------------------------------------------------
    Case(
        "plot-curves",
        ["plot", "curves", "{run}", "-o", "c.png"],
        "ok",
        may_change=("c.png",),
        check=image_at("c.png", fmt="PNG"),
    ),
    Case(
        "plot-curves-existing",
        ["plot", "curves", "{run}", "-o", "c.png"],
        match=r"c\.png already exists",
        setup=existing("c.png"),
    ),
    Case(
        "plot-curves-overwrite",
        ["plot", "curves", "{run}", "-o", "c.png", "--overwrite"],
        "ok",
        may_change=("c.png",),
        setup=existing("c.png"),
        check=replaced("c.png"),
    ),
    Case(
        "plot-curves-svg",
        ["plot", "curves", "{goodlog}", "-o", "c.svg"],
        "ok",
        may_change=("c.svg",),
    ),
    Case(
        "plot-curves-gif-refused", ["plot", "curves", "{run}", "-o", "c.gif"], match=r"\.png, \.svg"
    ),
    Case("plot-curves-no-extension", ["plot", "curves", "{run}", "-o", "curves"], match=r"\.png"),
    Case(
        "plot-curves-output-is-folder", ["plot", "curves", "{run}", "-o", "{empty}"], match="folder"
    ),
    Case(
        "plot-curves-under-proc",
        ["plot", "curves", "{run}", "-o", "/proc/c.png"],
        match="cannot write",
    ),
    Case(
        "plot-curves-bad-lines-skipped",
        ["plot", "curves", "{badlog}", "-o", "c.png"],
        "ok",
        may_change=("c.png",),
        match=r"Warning: .*badlog/log\.jsonl: skipped 5 unusable line\(s\): line 2 \(not JSON\)",
    ),
    Case(
        "plot-curves-nothing-usable",
        ["plot", "curves", "{junklog}"],
        match=r"no usable training record.*line 1",
    ),
    Case("plot-curves-empty-log", ["plot", "curves", "{emptylog}"], match="no training records"),
    Case("plot-curves-only-events", ["plot", "curves", "{eventlog}"], match="no training records"),
    Case("plot-curves-no-log", ["plot", "curves", "{empty}"], match="no log.jsonl"),
    Case("plot-curves-a-file", ["plot", "curves", "{text}"], match="is a file"),
    Case("plot-curves-empty-keys", ["plot", "curves", "{goodlog}", "--keys", ","], match="--keys"),
    Case(
        "plot-curves-unknown-key",
        ["plot", "curves", "{goodlog}", "--keys", "loss_x"],
        match="loss_x",
    ),
    Case(
        "plot-curves-all-nan", ["plot", "curves", "{nanlog}", "--keys", "loss_g"], match="no finite"
    ),
    Case(
        "plot-curves-nan-and-finite",
        ["plot", "curves", "{nanlog}", "-o", "c.png"],
        "ok",
        may_change=("c.png",),
    ),
    Case(
        "plot-timeline",
        ["plot", "timeline", "{run}", "-o", "t.png"],
        "ok",
        may_change=("t.png",),
        check=image_at("t.png"),
    ),
    Case("plot-timeline-no-samples", ["plot", "timeline", "{goodlog}"], match="no samples"),
    Case(
        "plot-timeline-steps-and-count",
        ["plot", "timeline", "{run}", "--steps", "0", "--count", "2"],
        match="--steps or --count",
    ),
    Case(
        "plot-timeline-missing-step", ["plot", "timeline", "{run}", "--steps", "3"], match="step 3"
    ),
    Case(
        "plot-timeline-empty-steps", ["plot", "timeline", "{run}", "--steps", ","], match="--steps"
    ),
    Case(
        "plot-timeline-corrupt-grid",
        ["plot", "timeline", "{run}", "--steps", "2"],
        match=r"step_000002\.png could not be read",
        setup=lambda f: (f / "run" / "samples" / "step_000002.png").write_bytes(b"garbage"),
    ),
    Case(
        "plot-timeline-existing",
        ["plot", "timeline", "{run}"],
        match="already exists",
        setup=existing("timeline.png"),
    ),
    Case("plot-tsne-on-gan", ["plot", "tsne", "{run}"], match="encoder"),
    Case("plot-tsne-seed-negative", ["plot", "tsne", "{vae}", "--seed", "-1"], match="--seed"),
    *(
        Case(
            f"{args[0]}{'-' + args[1] if args[0] == 'plot' else ''}-test-fraction-with-split-all",
            [*args, "--split", "all", "--test-fraction", "0.3"],
            match="--split all uses every image",
        )
        for args in (
            ["evaluate", "{run}", "--metrics", "swd", "--no-log"],
            ["reconstruct", "{vae}", "-o", "{tmp}/r.png"],
            ["plot", "tsne", "{vae}"],
        )
    ),
    *(
        Case(
            f"plot-tsne-perplexity-{v}",
            ["plot", "tsne", "{vae}", "--perplexity", v],
            match="--perplexity",
        )
        for v in ("nan", "inf", "0.5")
    ),
    Case(
        "plot-tsne-image-size",
        ["plot", "tsne", "{vae}", "--image-size", "32"],
        match="--image-size",
    ),
    Case(
        "plot-tsne-existing",
        ["plot", "tsne", "{vae}"],
        match="already exists",
        setup=existing("tsne.png"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case, hostile: Callable[[Case], object]) -> None:
    hostile(case)


def test_the_table_is_large_and_mixed() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    ok = sum(c.expect == "ok" for c in CASES)
    assert len(CASES) >= 70 and ok >= 20, (len(CASES), ok)


# --- a full disk ---------------------------------------------------------------------------------


class _FillsTheDisk:
    """A binary file handle that writes part of the data, then fails with ENOSPC."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: Any) -> int:
        self._handle.write(data[: max(1, len(data) // 2)])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FillsTheDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """A setup that makes every write through gentool.fileio fail part-way with ENOSPC."""
    import builtins

    import gentool.fileio as fileio

    def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (wrapped)
        return handle if mode in ("r", "rb", "rb+") else _FillsTheDisk(handle)

    def half_line(fd: int, data: bytes) -> int:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def setup(folder: Path) -> None:
        monkeypatch.setattr(fileio, "open", full_open, raising=False)
        monkeypatch.setattr(fileio, "_append_bytes", half_line)

    return setup


def _full_disk_case(
    id: str, args: list[str], keep: str, setup: Callable[[Path], None], **extra: Any
) -> Case:
    def check(folder: Path, result: Result) -> None:
        assert (folder / keep).read_bytes() == OLD  # the good file is byte-identical
        nothing_written(folder, result)

    def prepare(folder: Path) -> None:
        existing(keep)(folder)
        setup(folder)

    return Case(id, args, match="No space left on device", setup=prepare, check=check, **extra)


FULL_DISK = [
    ("grid", [*SAMPLE, "-o", "g.png", "--overwrite"], "g.png"),
    ("out-dir", [*SAMPLE, "--out-dir", "d", "--overwrite"], "d/sample_00000.png"),
    ("upscale", [*UP, "{small}", "--overwrite"], "small_x4.png"),
    (
        "translate",
        ["sample", "{cyc}", "--input", "{small}", "--out-dir", "o", "--overwrite"],
        "o/small.png",
    ),
    (
        "reconstruct-json",
        ["reconstruct", "{vae}", "{small}", "-o", "r.png", "--json", "m.json", "--overwrite"],
        "m.json",
    ),
    (
        "evaluate-json",
        [
            "evaluate",
            "{run}",
            "--metrics",
            "swd",
            "-n",
            "4",
            "--limit",
            "20",
            "--no-log",
            "--json",
            "m.json",
            "--overwrite",
        ],
        "m.json",
    ),
    ("plot", ["plot", "curves", "{goodlog}", "-o", "c.png", "--overwrite"], "c.png"),
]


@pytest.mark.parametrize(("what", "args", "keep"), FULL_DISK, ids=[f[0] for f in FULL_DISK])
def test_disk_full_keeps_the_existing_file(
    what: str,
    args: list[str],
    keep: str,
    hostile: Callable[[Case], object],
    disk_full: Callable[[Path], None],
) -> None:
    may = ("r.png",) if what == "reconstruct-json" else ()
    hostile(_full_disk_case(f"disk-full-{what}", args, keep, disk_full, may_change=may))


def test_disk_full_while_appending_to_the_log_is_one_line(
    hostile: Callable[[Case], object], disk_full: Callable[[Path], None]
) -> None:
    case = Case(
        "disk-full-log",
        ["evaluate", "{run}", "--metrics", "swd", "-n", "4", "--limit", "20"],
        match=r"could not append to .*log\.jsonl \(No space left on device\)",
        setup=disk_full,  # half a line is written, then cut back: the log is unchanged
    )
    hostile(case)


@pytest.fixture
def tiny_tmpfs(hostile: object, tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB file system, mounted in the case folder (skipped where not allowed)."""
    mount = tmp_path / "case" / "full"  # the folder ``hostile`` runs cases in
    mount.mkdir(parents=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
            capture_output=True,
            check=False,
        )
    except OSError:
        pytest.skip("mount is not available here")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    """A good output, then a filler that leaves a few bytes free."""
    (folder / "full" / "big_x4.png").write_bytes(OLD)
    (folder / "full" / "g.png").write_bytes(OLD)
    filler = folder / "full" / "filler"
    try:
        with open(filler, "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass


@pytest.mark.parametrize(
    ("what", "args", "keep"),
    [
        ("upscale", [*UP, "{noise}", "-o", "full/big_x4.png", "--overwrite"], "full/big_x4.png"),
        ("grid", ["sample", "{run}", "-n", "64", "-o", "full/g.png", "--overwrite"], "full/g.png"),
    ],
    ids=["upscale", "grid"],
)
def test_real_full_disk_keeps_the_existing_file(
    what: str,
    args: list[str],
    keep: str,
    tiny_tmpfs: Path,
    hostile: Callable[[Case], object],
) -> None:
    def check(folder: Path, result: Result) -> None:
        assert (folder / keep).read_bytes() == OLD
        assert not [p for p in (folder / "full").iterdir() if p.name.endswith(".tmp")]

    hostile(
        Case(
            f"tmpfs-{what}",
            args,
            match="No space left on device",
            setup=_fill,
            check=check,
            may_change=("full/filler",),
        )
    )


def test_one_line_helper_rejects_two_errors() -> None:
    """The refusal check these cases rely on can fail."""
    with pytest.raises(AssertionError):
        assert_one_line_error("Error: a\nError: b")
