"""The removal rule under hostile layouts: symbolic links and look-alike names everywhere
gentool writes, replaces or cleans (``train`` new / ``--overwrite`` / ``--resume``, ``sample``,
``upscale``, ``reconstruct``, ``evaluate --json``, ``plot``).

gentool removes or replaces only files it provably wrote, inside what it owns, reached without
following a link (:func:`gentool.fileio.remove_owned`). Each case lays out the user's files
(pictures, notes, look-alikes) inside the case folder, so the harness's hashes before and after
prove that none of them moved; a link's target lives in ``mine/``, outside the run folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from hostile.conftest import gentool_png
from hostile.harness import Case
from hostile.test_train_hostile import TINY, dcgan, resume

RUN = ("run/*", "run/samples/*")
NEW = ("new/*", "new/samples/*")
USER_PICTURE = "mine/step_000002.png"


def _user_files(folder: Path) -> None:
    """The user's own folder, outside every run: a picture named like a grid, notes."""
    mine = folder / "mine"
    mine.mkdir(exist_ok=True)
    gentool_png(mine / "step_000002.png", seed=5)  # even a gentool picture: a link is never used
    (mine / "step_000004.png").write_bytes(b"my photo")
    (mine / "notes.txt").write_text("keep me")


def link(name: str, target: str = "mine") -> Callable[[Path], None]:
    """``name`` (relative to the case folder) becomes a link to ``target`` (replacing it)."""

    def setup(folder: Path) -> None:
        _user_files(folder)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        elif os.path.lexists(path):
            path.unlink()
        path.symlink_to(folder / target)

    return setup


def write(name: str, data: bytes = b"the user's own file") -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        _user_files(folder)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for step in setups:
            step(folder)

    return setup


def still_there(*names: str) -> Callable[[Path, Result], None]:
    def check(folder: Path, result: Result) -> None:
        for name in names:
            assert os.path.lexists(folder / name), f"{name} was removed\n{result.output}"

    return check


def is_plain_file(name: str) -> Callable[[Path, Result], None]:
    """``name`` was a link: it is now a regular file (the link replaced, its target kept)."""

    def check(folder: Path, result: Result) -> None:
        path = folder / name
        assert not path.is_symlink() and path.is_file(), result.output

    return check


def not_created(name: str) -> Callable[[Path, Result], None]:
    def check(folder: Path, result: Result) -> None:
        assert not os.path.lexists(folder / name), result.output

    return check


IN_RUN = ("ckpt.safetensors", "log.jsonl", "config.json", "run.toml")

# --- links inside a run folder: refused before anything is written or removed -------------------
LINKS = [
    *[
        Case(
            f"files-link-{name}-{mode}",
            args,
            setup=link(f"run/{name}", target),
            match="symbolic link",
        )
        for name, target in (
            ("samples", "mine"),
            ("tensorboard", "mine"),
            ("ckpt.safetensors", USER_PICTURE),
            ("log.jsonl", "mine/notes.txt"),
            ("config.json", "mine/notes.txt"),
            ("run.toml", "mine/notes.txt"),
            (".lock", "mine/notes.txt"),
        )
        for mode, args in (
            ("overwrite", dcgan("--overwrite", out="{run}")),
            ("resume", resume("--steps", "6")),
        )
        # a link in place of the checkpoint is no run to resume (refused as such elsewhere)
        if not (mode == "resume" and name == "ckpt.safetensors")
    ],
    *[
        Case(
            f"files-link-{name}-new-folder",
            dcgan(out="{tmp}/new"),
            setup=link(f"new/{name}", target),
            match="symbolic link",
        )
        for name, target in (
            ("samples", "mine"),
            ("tensorboard", "mine"),
            ("log.jsonl", "mine/notes.txt"),
            ("ckpt.safetensors", "mine/notes.txt"),
            (".lock", "mine/notes.txt"),
        )
    ],
    *[
        Case(
            f"files-dangling-link-{name}",
            dcgan(out="{tmp}/new"),
            setup=link(f"new/{name}", "mine/nothing-here"),
            match="symbolic link",
            check=not_created("mine/nothing-here"),
        )
        for name in ("samples", "log.jsonl", "config.json", ".lock")
    ],
    Case(
        "files-link-samples-resume-elsewhere",
        resume("--steps", "6", "--out", "{tmp}/new"),
        setup=link("new/samples"),
        match="symbolic link",
    ),
    Case(
        "files-link-samples-resume-elsewhere-overwrite",
        resume("--steps", "6", "--out", "{tmp}/new", "--overwrite"),
        setup=link("new/samples"),
        match="symbolic link",
    ),
    Case(
        "files-samples-is-a-file",
        dcgan("--overwrite", out="{run}"),
        setup=both(
            lambda f: [p.unlink() for p in (f / "run" / "samples").iterdir()],
            lambda f: (f / "run" / "samples").rmdir(),
            write("run/samples"),
        ),
        match="not a folder",
    ),
]

# --- look-alike names: a user's file named like gentool's is never taken as gentool's ------------
LOOKALIKES = [
    # Temporaries: only gentool's marked names (.NAME.gentool-XXXXXXXX.tmp) are its own.
    *[
        Case(
            f"files-lookalike-tmp-{label}-{mode}",
            args,
            "ok",
            setup=write(name, b"draft"),
            may_change=RUN,
            check=still_there(name),
        )
        for label, name in (
            ("notes", "run/.notes.tmp"),
            ("draft", "run/.draft.tmp"),
            ("old-style", "run/.ckpt.safetensors.abc12345.tmp"),
            ("in-samples", "run/samples/.step_000002.png.x1y2z3.tmp"),
            ("marked-upper", "run/.a.gentool-ABCDEFGH.tmp"),
        )
        for mode, args in (
            ("overwrite", dcgan("--overwrite", out="{run}")),
            ("resume", resume("--steps", "6")),
        )
    ],
    # A temporary gentool made (its mark) is removed on resume, even beside look-alikes.
    Case(
        "files-own-temporary-removed-lookalike-kept",
        resume("--steps", "6"),
        "ok",
        setup=both(
            write("run/.ckpt.safetensors.gentool-k3j4h5g6.tmp", b"partial"),
            write("run/.notes.tmp", b"mine"),
        ),
        may_change=(*RUN, "run/.ckpt.safetensors.gentool-k3j4h5g6.tmp"),
        check=lambda f, r: (
            still_there("run/.notes.tmp")(f, r),
            not_created("run/.ckpt.safetensors.gentool-k3j4h5g6.tmp")(f, r),
        ),
    ),
    # Files at names a run writes that gentool did not write: refused, never replaced.
    *[
        Case(
            f"files-foreign-{label}-overwrite",
            dcgan("--overwrite", out="{run}"),
            setup=write(f"run/{name}", data),
            match="in the way",
        )
        for label, name, data in (
            ("config", "config.json", b'{"my": "settings"}'),
            ("config-text", "config.json", b"not json"),
            ("run-file", "run.toml", b'title = "my notes"\n'),
            ("log", "log.jsonl", b'{"user": "log"}\n'),
            ("log-text", "log.jsonl", b"my diary\n"),
            ("ckpt-bytes", "ckpt.safetensors", b"not a checkpoint"),
            ("grid-photo", "samples/step_000002.png", b"my photo"),
            ("grid-future", "samples/step_009999.png", b"my photo"),
            ("grid-prefixed", "samples/fake_step_000004.png", b"my photo"),
        )
    ],
    Case(
        "files-foreign-plain-png-grid-overwrite",
        dcgan("--overwrite", out="{run}"),
        setup=lambda f: (
            _user_files(f),
            __import__("hostile.conftest", fromlist=["_png"])._png(
                f / "run" / "samples" / "step_000002.png"
            ),
        ),
        match="in the way",
    ),
    Case(
        "files-foreign-link-grid-overwrite",
        dcgan("--overwrite", out="{run}"),
        setup=link("run/samples/step_000002.png", USER_PICTURE),
        match="in the way",
    ),
    *[
        Case(
            f"files-foreign-{label}-new-folder",
            dcgan(out="{tmp}/new"),
            setup=write(f"new/{name}", b"mine"),
            match="in the way",
        )
        for label, name in (
            ("grid", "samples/step_000000.png"),
            ("grid-late", "samples/step_000004.png"),
        )
    ],
    Case(
        "files-foreign-grid-resume-later-step",
        resume("--steps", "8"),
        setup=write("run/samples/step_000006.png", b"my photo"),
        match="in the way",
    ),
    Case(
        "files-foreign-grid-resume-elsewhere",
        resume("--steps", "6", "--out", "{tmp}/new"),
        setup=write("new/samples/step_000006.png", b"my photo"),
        match="in the way",
    ),
    # Earlier grids a resumed run does not write again may be anything.
    Case(
        "files-resume-keeps-earlier-user-picture",
        resume("--steps", "6"),
        "ok",
        setup=write("run/samples/step_000000_mine.png", b"mine"),
        may_change=RUN,
        check=still_there("run/samples/step_000000_mine.png"),
    ),
    # The user's other files in a run folder survive --overwrite (as they always did).
    Case(
        "files-overwrite-keeps-user-notes-in-samples",
        dcgan("--overwrite", out="{run}"),
        "ok",
        setup=write("run/samples/notes.txt"),
        may_change=RUN,
        check=still_there("run/samples/notes.txt"),
    ),
    Case(
        "files-overwrite-removes-own-old-grid",
        dcgan("--overwrite", out="{run}"),
        "ok",
        setup=lambda f: gentool_png(f / "run" / "samples" / "step_009999.png"),
        may_change=(*RUN, "run/samples/step_009999.png"),
        check=not_created("run/samples/step_009999.png"),
    ),
    # Locks: a file at RUN/.lock with content that is not gentool's record is not taken over.
    Case(
        "files-lock-not-ours",
        dcgan("--overwrite", out="{run}"),
        setup=write("run/.lock", b"my lock notes"),
        match="not a lock gentool wrote",
    ),
    Case(
        "files-lock-empty-stale-taken",
        dcgan("--overwrite", out="{run}"),
        "ok",
        setup=lambda f: (
            (f / "run" / ".lock").write_bytes(b""),
            os.utime(f / "run" / ".lock", (1, 1)),
        ),
        may_change=(*RUN, "run/.lock"),
        match="empty stale lock",
    ),
]

# --- outputs the user names: a dangling link is an existing output; a link is replaced itself ----
SAMPLE = ["sample", "{run}", "-n", "4"]
OUTPUTS = [
    *[
        Case(
            f"files-output-dangling-{label}",
            [*args, out],
            setup=link(out, "mine/not-yet"),
            match="already exists",
            check=not_created("mine/not-yet"),
        )
        for label, args, out in (
            ("sample", [*SAMPLE, "-o"], "grid.png"),
            ("plot-curves", ["plot", "curves", "{run}", "-o"], "curves.png"),
            ("plot-timeline", ["plot", "timeline", "{run}", "-o"], "timeline.png"),
            (
                "evaluate-json",
                ["evaluate", "{run}", "--no-log", "--metrics", "swd", "--json"],
                "m.json",
            ),
            ("upscale", ["upscale", "{img}", "-o"], "big.png"),
        )
    ],
    *[
        Case(
            f"files-output-link-replaced-{label}",
            [*args, out, "--overwrite"],
            "ok",
            setup=link(out, USER_PICTURE),
            may_change=(out,),
            check=is_plain_file(out),
        )
        for label, args, out in (
            ("sample", [*SAMPLE, "-o"], "grid.png"),
            ("plot-curves", ["plot", "curves", "{run}", "-o"], "curves.png"),
            ("upscale", ["upscale", "{img}", "-o"], "big.png"),
        )
    ],
    Case(
        "files-output-dangling-link-replaced-overwrite",
        [*SAMPLE, "-o", "grid.png", "--overwrite"],
        "ok",
        setup=link("grid.png", "mine/not-yet"),
        may_change=("grid.png",),
        check=lambda f, r: (is_plain_file("grid.png")(f, r), not_created("mine/not-yet")(f, r)),
    ),
    # sample --out-dir --overwrite removes only the older samples gentool provably wrote.
    Case(
        "files-sample-dir-keeps-unmarked-lookalikes",
        [*SAMPLE, "--out-dir", "d", "--overwrite"],
        "ok",
        setup=both(
            write("d/sample_00007.png", b"my photo"),
            lambda f: gentool_png(f / "d" / "sample_00008.png"),
        ),
        may_change=("d/sample_0000[0-3].png", "d/sample_00008.png"),
        check=lambda f, r: (
            still_there("d/sample_00007.png")(f, r),
            not_created("d/sample_00008.png")(f, r),
        ),
        match="kept 1 file",
    ),
    Case(
        "files-sample-dir-keeps-linked-lookalikes",
        [*SAMPLE, "--out-dir", "d", "--overwrite"],
        "ok",
        setup=link("d/sample_00009.png", USER_PICTURE),
        may_change=("d/sample_0000[0-3].png",),
        check=still_there("d/sample_00009.png"),
        match="kept 1 file",
    ),
    Case(
        "files-output-in-proc",
        [*SAMPLE, "-o", "/proc/gentool-grid.png"],
        match="does not take new files",
    ),
]

# --- weights the user names: junk bytes and special files are refused by name --------------
SR_WEIGHTS = str(Path(__file__).resolve().parents[2] / "src" / "gentool" / "weights")
EVAL_SR = ["evaluate", f"{SR_WEIGHTS}/sr-resnet-x4.safetensors", "--hr-dir", "{imgdir}"]


def fifo(name: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        os.mkfifo(folder / name)

    return setup


WEIGHTS = [
    *[
        Case(
            f"files-lpips-weights-junk-{suffix}",
            [*EVAL_SR, "--lpips-weights", f"w.{suffix}"],
            setup=write(f"w.{suffix}", os.urandom(3000)),
            match=f"w.{suffix}.*not a torchvision state dict",
        )
        for suffix in ("pth", "safetensors", "bin")
    ],
    Case(
        "files-lpips-weights-fifo",
        [*EVAL_SR, "--lpips-weights", "w.pth"],
        setup=fifo("w.pth"),
        match="w.pth is a FIFO",
    ),
    Case(
        "files-lpips-weights-device",
        [*EVAL_SR, "--lpips-weights", "/dev/zero"],
        match="character device",
    ),
]

ALL = LINKS + LOOKALIKES + OUTPUTS + WEIGHTS


@pytest.mark.parametrize("case", ALL, ids=str)
def test_files_case(case: Case, hostile: object) -> None:
    hostile(case)  # type: ignore[operator]


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in ALL]
    assert len(ids) == len(set(ids))


def test_tiny_settings_are_shared() -> None:
    """The cases train with the train suite's tiny settings (a second or so each)."""
    assert "--steps" in TINY
