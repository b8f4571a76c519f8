"""Snapshots (``--keep-every``), the size of the training grids (``--samples``), the disk-use
line at the end of a training and the time estimate of the plain progress lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from gentool.checkpoint import load_checkpoint
from gentool.cli.main import cli
from gentool.errors import GentoolError
from gentool.run_folder import RunFolder
from gentool.training.runfolder import clean_run_folder, cut_back, refuse_foreign

TINY = ["--batch-size", "8", "--image-size", "16", "--device", "cpu", "--seed", "1"]
GAN = ["--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("snap") / "r"
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "4", "--keep-every", "2",
                 "--log-every", "2", "--samples", "9", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


def test_keep_every_keeps_weights_of_step_zero_and_every_n_steps(
    kept_run: tuple[Path, str],
) -> None:
    out, _ = kept_run
    assert sorted(RunFolder(out).snapshot_steps()) == [0, 2, 4]
    snapshot = load_checkpoint(out / "snapshots" / "step_000002.safetensors")
    assert snapshot.info.step == 2
    assert snapshot.info.model == "dcgan"
    assert not [k for k in snapshot.tensors if k.startswith(("optim.", "rng.", "trainer."))]


def test_a_snapshot_draws_what_the_checkpoint_of_the_same_step_draws(
    kept_run: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = kept_run

    def draw(source: Path, name: str) -> bytes:
        result = run("sample", str(source), "-n", "4", "--seed", "3", "--device", "cpu",
                     "--out-dir", str(tmp_path / name))  # fmt: skip
        assert result.exit_code == 0, result.output
        return b"".join(Image.open(p).tobytes() for p in sorted((tmp_path / name).iterdir()))

    kept = draw(out / "snapshots" / "step_000004.safetensors", "a")
    assert kept == draw(out, "b")
    assert kept != draw(out / "snapshots" / "step_000000.safetensors", "c")


def test_samples_sets_the_images_in_each_training_grid(kept_run: tuple[Path, str]) -> None:
    out, _ = kept_run
    width, height = Image.open(out / "samples" / "step_000004.png").size
    assert (width, height) == (3 * 18 + 2, 3 * 18 + 2)  # 9 images of 16 px, 3 per row, 2 px pad


def test_the_end_of_a_training_says_what_the_run_folder_holds(kept_run: tuple[Path, str]) -> None:
    _, output = kept_run
    line = next(line for line in output.splitlines() if " holds " in line)
    assert "3 snapshots" in line and "checkpoint" in line and "2 sample grids" in line
    # the plain progress lines (not a terminal) say how long it ran and how long is left
    progress = [line for line in output.splitlines() if line.startswith("step ")]
    assert progress and all("elapsed " in line and " left " in line for line in progress)
    assert progress[-1].split(" left ")[1].startswith("0s")


def test_a_snapshot_cannot_be_resumed_and_says_what_to_use(
    kept_run: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = kept_run
    result = run("train", "--resume", str(out / "snapshots" / "step_000002.safetensors"),
                 "--out", str(tmp_path / "new"))  # fmt: skip
    assert result.exit_code != 0
    assert "weights only" in result.output and "--init-from" in result.output
    assert not (tmp_path / "new").exists()


def test_too_many_snapshots_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "1000", "--keep-every", "2",
                 "--out", str(out))  # fmt: skip
    assert result.exit_code != 0
    assert "--keep-every 2 would keep 501 snapshots" in result.output
    assert "--keep-every 6 or more" in result.output
    assert not out.exists()


def test_a_loop_with_its_own_grid_layout_refuses_samples(tmp_path: Path) -> None:
    from gentool.testing import _tiny_options, kit_data
    from gentool.training.runner import train

    data, extra = kit_data("cyclegan", tmp_path, 16)
    with pytest.raises(GentoolError, match="--samples does not apply to 'cyclegan'"):
        train("cyclegan", model_options=_tiny_options("cyclegan"), data=data, extra=extra,
              steps=1, samples=4, batch_size=2, device="cpu", out=str(tmp_path / "r"))  # fmt: skip
    train("cyclegan", model_options=_tiny_options("cyclegan"), data=data, extra=extra,
          steps=1, batch_size=2, device="cpu", out=str(tmp_path / "r"))  # fmt: skip
    result = run("train", "--resume", str(tmp_path / "r"), "--steps", "2", "--samples", "64")
    assert result.exit_code != 0 and "--samples does not apply to 'cyclegan'" in result.output


def _copy_run(source: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(source, dest)
    return dest


def test_resume_drops_snapshots_after_the_checkpoint_and_keeps_a_users_file(
    kept_run: tuple[Path, str], tmp_path: Path
) -> None:
    out = _copy_run(kept_run[0], tmp_path / "r")
    users = out / "snapshots" / "step_000009.safetensors"
    users.write_bytes(b"not gentool's")
    dropped = cut_back(out, 2)
    assert dropped["snapshots"] == 1  # step 4; the user's file is not provably gentool's
    assert sorted(RunFolder(out).snapshot_steps()) == [0, 2, 9]
    assert users.read_bytes() == b"not gentool's"
    with pytest.raises(GentoolError, match=r"step_000009\.safetensors is in the way"):
        refuse_foreign(out)


def test_overwrite_removes_the_snapshots_a_run_wrote(
    kept_run: tuple[Path, str], tmp_path: Path
) -> None:
    out = _copy_run(kept_run[0], tmp_path / "r")
    removed = clean_run_folder(out)
    assert len([p for p in removed if p.parent.name == "snapshots"]) == 3
    assert not (out / "snapshots").exists()


def test_snapshots_through_a_link_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "snapshots").symlink_to(elsewhere)
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "2", "--keep-every", "1",
                 "--out", str(out))  # fmt: skip
    assert result.exit_code != 0
    assert "symbolic link" in result.output
    assert list(elsewhere.iterdir()) == []


def test_keep_every_may_change_on_resume(kept_run: tuple[Path, str], tmp_path: Path) -> None:
    out = _copy_run(kept_run[0], tmp_path / "r")
    result = run("train", "--resume", str(out), "--steps", "6", "--keep-every", "1")
    assert result.exit_code == 0, result.output
    assert "keep_every 2 -> 1" in result.output
    assert sorted(RunFolder(out).snapshot_steps()) == [0, 2, 4, 5, 6]


def test_weights_at_names_the_steps_there_are(kept_run: tuple[Path, str]) -> None:
    out, _ = kept_run
    folder = RunFolder(out)
    assert folder.weights_at(2, 4).name == "step_000002.safetensors"
    with pytest.raises(GentoolError, match="no weights of step 3; it has step\\(s\\) 0, 2, 4"):
        folder.weights_at(3, 4)
    bare = RunFolder(out.parent / "nothing")
    with pytest.raises(GentoolError, match="--keep-every"):
        bare.weights_at(3, 10)


def test_sample_step_draws_a_kept_step(kept_run: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = kept_run

    def grid(*args: str) -> bytes:
        dest = tmp_path / f"g{len(list(tmp_path.iterdir()))}.png"
        result = run("sample", *args, "-n", "4", "--seed", "2", "--device", "cpu", "-o", str(dest))
        assert result.exit_code == 0, result.output
        return Image.open(dest).tobytes()

    at_two = grid(str(out), "--step", "2", "--no-title")
    assert at_two == grid(str(out / "snapshots" / "step_000002.safetensors"), "--no-title")
    assert at_two != grid(str(out), "--no-title")
    result = run("sample", str(out), "--step", "2", "-n", "4", "-o", str(tmp_path / "t.png"))
    assert "r, step 2" in result.output  # the default title names the step
    result = run("sample", str(out), "--step", "3", "-o", str(tmp_path / "x.png"))
    assert result.exit_code != 0 and "no weights of step 3; it has step(s) 0, 2, 4" in result.output
    result = run(
        "sample", str(out / "ckpt.safetensors"), "--step", "2", "-o", str(tmp_path / "x.png")
    )
    assert result.exit_code != 0 and "--step picks a step of a RUN folder" in result.output
    assert not (tmp_path / "x.png").exists()


def test_timeline_redraws_kept_steps_with_any_n(kept_run: tuple[Path, str], tmp_path: Path) -> None:
    from gentool.plotting import redrawn_grids

    out, _ = kept_run
    grids = redrawn_grids(out, None, 6, 9, 0)
    assert sorted(grids) == [0, 2, 4]
    assert grids[2].shape[:2] == (3 * 18 + 2, 3 * 18 + 2)  # 9 images of 16 px, 3 to a row
    again = redrawn_grids(out, [2], 6, 9, 0)
    assert (again[2] == grids[2]).all()  # the same noise every time
    figure = tmp_path / "t.png"
    result = run("plot", "timeline", str(out), "-n", "9", "-o", str(figure))
    assert result.exit_code == 0, result.output
    assert figure.is_file()
    result = run(
        "plot", "timeline", str(out), "-n", "9", "--steps", "1", "-o", str(tmp_path / "y.png")
    )
    assert result.exit_code != 0 and "kept no weights of step 1" in result.output
    result = run("plot", "timeline", str(out), "--seed", "1", "-o", str(tmp_path / "y.png"))
    assert result.exit_code != 0 and "pass -n N with it" in result.output
    result = run(
        "plot", "timeline", str(out), "-n", "4", "--row", "0", "-o", str(tmp_path / "y.png")
    )
    assert result.exit_code != 0 and "--row" in result.output
    assert not (tmp_path / "y.png").exists()


def test_another_runs_checkpoint_at_a_snapshot_name_is_not_the_runs(
    kept_run: tuple[Path, str], tmp_path: Path
) -> None:
    """A gentool checkpoint copied to snapshots/step_N.safetensors is not this run's: it is
    never replaced, removed or sampled as the run's step N."""
    import shutil

    out = _copy_run(kept_run[0], tmp_path / "r")
    foreign = out / "snapshots" / "step_000100.safetensors"
    shutil.copy(out / "ckpt.safetensors", foreign)  # a training checkpoint of step 4
    before = foreign.read_bytes()
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "2", "--out", str(out), "--overwrite")
    assert result.exit_code != 0 and "step_000100.safetensors" in result.output
    assert foreign.read_bytes() == before and (out / "ckpt.safetensors").is_file()
    # a snapshot of the same step from another run: not this run's either
    other = tmp_path / "other"
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "2", "--keep-every", "2",
                 "--out", str(other))  # fmt: skip
    assert result.exit_code == 0, result.output
    shutil.copy(other / "snapshots" / "step_000002.safetensors", out / "snapshots")
    result = run("sample", str(out), "--step", "2", "-o", str(tmp_path / "x.png"))
    assert result.exit_code != 0 and "not a snapshot this run kept" in result.output
    # a fresh run into a folder holding another run's snapshot refuses to replace it
    fresh = tmp_path / "fresh"
    (fresh / "snapshots").mkdir(parents=True)
    shutil.copy(other / "snapshots" / "step_000002.safetensors", fresh / "snapshots")
    kept = (fresh / "snapshots" / "step_000002.safetensors").read_bytes()
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "2", "--keep-every", "2",
                 "--out", str(fresh))  # fmt: skip
    assert result.exit_code != 0 and "in the way" in result.output
    assert (fresh / "snapshots" / "step_000002.safetensors").read_bytes() == kept


def test_the_snapshot_bound_counts_what_a_resumed_run_kept(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run("train", "dcgan", *TINY, *GAN, "--steps", "3", "--keep-every", "1",
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    from gentool.training.callbacks import check_keep_every

    class Settings:
        keep_every = 3

    check_keep_every(Settings(), 300, 150, 100)  # 100 kept + 50 to come
    with pytest.raises(GentoolError, match="it has kept 151"):
        check_keep_every(Settings(), 300, 150, 151)
    with pytest.raises(GentoolError, match="drop --keep-every"):
        check_keep_every(Settings(), 400, 300, 200)
