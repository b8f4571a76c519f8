"""``gentool train`` under hostile input: options, data, run folders, resume.

Each row is a :class:`~hostile.harness.Case`; the harness asserts the exit code, one
``Error:`` line and no traceback for refusals, and that no file outside ``may_change`` moved.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import Result

from gentool.checkpoint import load_checkpoint
from hostile.conftest import _image_folder, _png, gentool_png
from hostile.harness import Case

#: A tiny DCGAN on 16 px digits: about a second for 4 steps.
TINY = [
    "--steps",
    "4",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--device",
    "cpu",
    "--model-opt",
    "g_width=4",
    "--model-opt",
    "d_width=4",
    "--model-opt",
    "latent_dim=8",
    "--log-every",
    "1",
    "--sample-every",
    "2",
    "--checkpoint-every",
    "2",
]
TINY_VAE = [
    "--steps",
    "2",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--device",
    "cpu",
    "--model-opt",
    "width=4",
    "--model-opt",
    "latent_dim=4",
    "--sample-every",
    "100",
]
NEW = ("new/*", "new/samples/*")
RUN = ("run/*", "run/samples/*")


def dcgan(*extra: str, out: str = "{tmp}/new") -> list[str]:
    """The tiny run; a ``--model-opt KEY=...`` in ``extra`` replaces TINY's KEY (a key given
    twice is refused)."""
    keys = {extra[i + 1].split("=")[0] for i, a in enumerate(extra[:-1]) if a == "--model-opt"}
    tiny = [
        a
        for i in range(0, len(TINY), 2)
        if not (TINY[i] == "--model-opt" and TINY[i + 1].split("=")[0] in keys)
        for a in TINY[i : i + 2]
    ]
    return ["train", "dcgan", "--loss", "ls", *tiny, "--out", out, *extra]


def vae(*extra: str) -> list[str]:
    return ["train", "vae", *TINY_VAE, "--out", "{tmp}/new", *extra]


def resume(*extra: str, target: str = "{run}") -> list[str]:
    return ["train", "--resume", target, *extra]


# --- fixture files of this module ----------------------------------------------------------
def _one_image(path: Path) -> None:
    _image_folder(path, count=1)


def _animated(path: Path) -> None:
    from PIL import Image

    _image_folder(path, count=11)
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(path / "moving.webp", save_all=True, append_images=frames[1:], duration=50)


def _labels_csv(path: Path) -> None:
    path.write_text("file,kind\n" + "".join(f"img{i:02d}.png,{i % 2}\n" for i in range(12)))


def _folder_run(path: Path) -> None:
    """A tiny run trained on a folder of images (for changed-data cases)."""
    from gentool.data.base import DataSpec
    from gentool.training import runner

    data = path.parent / "data"  # the case folder's own copy, named in the checkpoint
    _image_folder(data)
    runner.train(
        "dcgan",
        loss="ls",
        model_options={"g_width": 4, "d_width": 4, "latent_dim": 8},
        data=DataSpec(name="folder", root=str(data), image_size=16),
        overwrite=True,
        steps=2,
        batch_size=8,
        log_every=1,
        sample_every=100,
        checkpoint_every=1,
        device="cpu",
        out=str(path),
    )


EXTRA_FIXTURES = {
    "one": _one_image,
    "animated": _animated,
    "labels_csv": _labels_csv,
    "frun": _folder_run,
}


# --- setups and checks ---------------------------------------------------------------------
def lock_held_by(pid: int, host: str | None = None) -> object:
    from gentool.training.runfolder import _process_start

    def setup(folder: Path) -> None:
        owner = {
            "pid": pid,
            "host": host or socket.gethostname(),
            "process_start": _process_start(pid),
            "started": "earlier",
        }
        (folder / "run" / ".lock").write_text(json.dumps(owner))

    return setup


def log_steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def check_steps(folder: str, expected: list[int]) -> object:
    def check(root: Path, result: Result) -> None:
        assert log_steps(root / folder / "log.jsonl") == expected, result.output

    return check


def check_saved(folder: str, **expected: object) -> object:
    def check(root: Path, result: Result) -> None:
        meta = load_checkpoint(root / folder).meta
        for key, value in expected.items():
            section, _, name = key.partition("__")
            got = meta[section][name] if name else meta[section]
            assert got == value, (key, got, result.output)

    return check


def backup_then_continue(folder: Path) -> None:
    """RUN/backup.safetensors holds step 4; RUN/ckpt.safetensors is then trained to step 6."""
    from gentool.training import runner

    shutil.copy2(folder / "run" / "ckpt.safetensors", folder / "run" / "backup.safetensors")
    runner.resume(folder / "run", steps=6)


def stale_log_and_tmp(folder: Path) -> None:
    """What a kill -9 leaves: log records after the checkpoint, a torn last line, temporaries."""
    run = folder / "run"
    with open(run / "log.jsonl", "a") as handle:
        handle.write(json.dumps({"step": 5, "loss_d": 1.0}) + "\n")
        handle.write(json.dumps({"step": 6, "loss_d": 1.0}) + "\n")
        handle.write('{"step": 7, "loss')
    (run / ".ckpt.safetensors.gentool-abc12345.tmp").write_bytes(b"partial")
    gentool_png(run / "samples" / "step_000006.png")  # a grid from the lost future


def check_cut_back(root: Path, result: Result) -> None:
    run = root / "run"
    assert log_steps(run / "log.jsonl") == [1, 2, 3, 4, 5, 6, 7, 8], result.output
    assert not list(run.glob(".*.tmp")), list(run.iterdir())
    assert "removed" in result.output


def log_becomes_fifo(folder: Path) -> None:
    (folder / "run" / "log.jsonl").unlink()
    os.mkfifo(folder / "run" / "log.jsonl")


def add_image(folder: Path) -> None:
    _png(folder / "data" / "extra.png", size=16, seed=99)


def move_data(folder: Path) -> None:
    shutil.copytree(folder / "data", folder / "moved")


def user_files_in_run(folder: Path) -> None:
    (folder / "run" / "notes.txt").write_text("mine")
    gentool_png(folder / "run" / "samples" / "step_009999.png")  # an old run's grid


def check_clean(root: Path, result: Result) -> None:
    run = root / "run"
    assert (run / "notes.txt").read_text() == "mine"
    assert not (run / "samples" / "step_009999.png").exists()
    assert log_steps(run / "log.jsonl") == [1, 2, 3, 4]


def check_noticed(pattern: str) -> object:
    def check(root: Path, result: Result) -> None:
        assert pattern.lower() in result.output.lower(), result.output

    return check


OPTIONS = [
    # devices
    Case("device-mps", dcgan("--device", "mps"), match="not available"),
    Case("device-tpu", dcgan("--device", "tpu"), match="unknown device 'tpu'"),
    Case("device-cuda7", dcgan("--device", "cuda:7"), match="no CUDA GPU"),
    Case("device-cuda-neg", dcgan("--device", "cuda:-1"), match="unknown device"),
    Case("device-cpu1", dcgan("--device", "cpu:1"), match="one 'cpu'"),
    Case("device-empty", dcgan("--device", ""), match="device"),
    Case("device-meta", dcgan("--device", "meta"), match="unsupported device 'meta'"),
    Case("device-xla", dcgan("--device", "xla"), match="unsupported device"),
    Case("device-cpu0-ok", dcgan("--device", "cpu:0"), "ok", may_change=NEW),
    Case("device-upper-ok", dcgan("--device", "CPU"), "ok", may_change=NEW),
    # numbers that must be finite and in range
    Case("epochs-nan", dcgan("--epochs", "nan"), match="finite"),
    Case("epochs-inf", dcgan("--epochs", "inf"), match="finite"),
    Case("epochs-negative", dcgan("--epochs", "-1"), match="> 0"),
    Case("epochs-zero", dcgan("--epochs", "0"), match="> 0"),
    Case("epochs-text", dcgan("--epochs", "many"), match="not a number"),
    Case("lr-g-nan", dcgan("--lr-g", "nan"), match="finite"),
    Case("lr-g-zero", dcgan("--lr-g", "0"), match="> 0"),
    Case("lr-d-negative", dcgan("--lr-d", "-1e-3"), match="> 0"),
    Case("lr-g-inf", dcgan("--lr-g", "inf"), match="finite"),
    Case("beta1-one", dcgan("--beta1", "1"), match="< 1"),
    Case("beta2-nan", dcgan("--beta2", "nan"), match="finite"),
    Case("ema-one", dcgan("--ema", "1"), match="< 1"),
    Case("ema-negative", dcgan("--ema", "-0.1"), match=">= 0"),
    Case("seed-negative", dcgan("--seed", "-1"), match="seed"),
    Case("seed-64-bit", dcgan("--seed", str(2**64)), match="seed"),
    Case("seed-huge", dcgan("--seed", str(2**200)), match="seed"),
    Case("seed-max-ok", dcgan("--seed", str(2**63 - 1)), "ok", may_change=NEW),
    Case("steps-zero", dcgan("--steps", "0"), match="steps"),
    Case("steps-negative", dcgan("--steps", "-5"), match="steps"),
    Case("batch-zero", dcgan("--batch-size", "0"), match="batch-size"),
    Case("batch-over-data", dcgan("--batch-size", "100000"), match="larger than the training data"),
    Case("log-every-zero", dcgan("--log-every", "0"), match="log-every"),
    Case("d-steps-zero", dcgan("--d-steps", "0"), match="d-steps"),
    Case("steps-and-epochs", dcgan("--epochs", "100"), match="pass one of them"),
    Case("image-size-huge-memory", dcgan("--image-size", "4096"), match="needs about"),
    Case("image-size-zero", dcgan("--image-size", "0"), match="image-size"),
    Case("image-size-over-limit", dcgan("--image-size", "5000"), match="image-size"),
    Case("sync-bn-one-process", dcgan("--sync-bn"), match="torchrun"),
    Case(
        "cuda-graphs-on-cpu-noticed",
        dcgan("--cuda-graphs"),
        "ok",
        may_change=NEW,
        match="running eagerly",
    ),
    # model options
    Case("model-opt-channels", dcgan("--model-opt", "channels=2"), match="does not match the data"),
    Case("model-opt-image-size", dcgan("--model-opt", "image_size=64"), match="does not match the"),
    Case("model-opt-unknown", dcgan("--model-opt", "nosuch=1"), match="unknown model option"),
    Case("model-opt-type", dcgan("--model-opt", "latent_dim=abc"), match="integer"),
    Case("model-opt-no-equals", dcgan("--model-opt", "latent_dim"), match="key=value"),
    Case("model-opt-huge-latent", dcgan("--model-opt", f"latent_dim={10**12}"), match="needs"),
    Case("model-opt-huge-width", dcgan("--model-opt", "g_width=1000000"), match="needs"),
    Case("loss-opt-bad", dcgan("--loss-opt", "a=x"), match="number"),
    Case("loss-unknown", ["train", "dcgan", "--loss", "nosuch", *TINY], match="unknown loss"),
    Case("train-opt-unknown", dcgan("--train-opt", "foo=1"), match="foo"),
    # options that do not apply to the model
    Case("vae-with-loss", vae("--loss", "ls"), match="drop --loss"),
    Case("vae-with-lr-d", vae("--lr-d", "1e-3"), match="--lr-d does not apply"),
    Case("vae-with-d-steps", vae("--d-steps", "2"), match="--d-steps does not apply"),
    Case("vae-with-ema", vae("--ema", "0.9"), match="--ema does not apply"),
    Case("vae-bf16-ok", vae("--precision", "bf16"), "ok", may_change=NEW),
    Case("domain-on-dcgan", dcgan("--domain-a", "{imgdir}"), match="translation models"),
    Case("cyclegan-one-domain", ["train", "cyclegan", "--domain-a", "{imgdir}"], match="both"),
    Case(
        "cyclegan-with-labels",
        [
            "train",
            "cyclegan",
            "--domain-a",
            "{imgdir}",
            "--domain-b",
            "{imgdir}",
            "--labels",
            "{labels_csv}",
        ],
        match="unlabelled",
    ),
    Case(
        "cyclegan-with-dataset",
        [
            "train",
            "cyclegan",
            "--domain-a",
            "{imgdir}",
            "--domain-b",
            "{imgdir}",
            "--dataset",
            "mnist",
        ],
        match="drop --dataset",
    ),
    Case("accept-data-change-alone", dcgan("--accept-data-change"), match="only with --resume"),
    # --init-from: start a new run from a checkpoint's weights
    Case("init-from-ok", dcgan("--init-from", "{run}"), "ok", may_change=NEW),
    Case("init-from-missing", dcgan("--init-from", "{tmp}/none.safetensors"), match="none"),
    Case("init-from-empty-folder", dcgan("--init-from", "{empty}"), match="empty"),
    Case("init-from-not-ckpt", dcgan("--init-from", "{text}"), match="text"),
    Case(
        "init-from-fifo",
        dcgan("--init-from", "{tmp}/fifo.safetensors"),
        setup=lambda f: os.mkfifo(f / "fifo.safetensors"),
        match="not a regular file|FIFO",
    ),
    Case("init-from-dev-zero", dcgan("--init-from", "/dev/zero"), match="regular file|device"),
    Case("init-from-other-model", dcgan("--init-from", "{vae}"), match="holds model 'vae'"),
    Case(
        "init-from-other-size",
        dcgan("--init-from", "{run}", "--model-opt", "g_width=8"),
        match="g_width=4",
    ),
    Case(
        "init-from-other-latent",
        dcgan("--init-from", "{run}", "--model-opt", "latent_dim=9"),
        match="latent_dim=8",
    ),
    Case("init-from-with-resume", resume("--init-from", "{run}"), match="drop --init-from"),
    Case(
        "init-from-the-run-overwrite-removes",
        dcgan("--init-from", "{run}", "--overwrite", out="{run}"),
        match="--overwrite would remove",
    ),
    Case(
        "init-from-a-copy-inside-the-overwritten-run",
        dcgan("--init-from", "{run}/keep.safetensors", "--overwrite", out="{run}"),
        "ok",
        setup=lambda f: shutil.copy2(
            f / "run" / "ckpt.safetensors", f / "run" / "keep.safetensors"
        ),
        may_change=RUN,
    ),
    Case("g-steps-zero", dcgan("--g-steps", "0"), match="g-steps"),
    Case("threads-zero", dcgan("--threads", "0"), match="threads"),
    Case("threads-huge", dcgan("--threads", str(10**9)), match="threads"),
    Case("test-fraction-nan", dcgan("--test-fraction", "nan"), match="finite"),
    Case("test-fraction-one", dcgan("--test-fraction", "1"), match="< 1"),
    Case("test-fraction-zero-ok", dcgan("--test-fraction", "0"), "ok", may_change=NEW),
    Case("config-missing", ["train", "--config", "{tmp}/none.toml"], match="none.toml"),
    Case(
        "config-fifo",
        ["train", "--config", "{tmp}/fifo.toml"],
        setup=lambda f: os.mkfifo(f / "fifo.toml"),
        match="not a regular file",
    ),
    Case("config-dev-zero", ["train", "--config", "/dev/zero"], match="not a regular file"),
    Case("config-not-toml", ["train", "--config", "{text}"], match="not valid TOML"),
    Case(
        "config-unknown-key",
        ["train", "--config", "{tmp}/c.toml"],
        setup=lambda f: (f / "c.toml").write_text("model = 'dcgan'\nstepz = 3\n"),
        match="unknown key 'stepz'",
    ),
    Case(
        "config-nan-lr",
        ["train", "--config", "{tmp}/c.toml"],
        setup=lambda f: (f / "c.toml").write_text("model = 'dcgan'\nlr-g = nan\n"),
        match="finite",
    ),
    Case(
        "config-huge-file",
        ["train", "--config", "{tmp}/c.toml"],
        setup=lambda f: (f / "c.toml").write_text("# x\n" * 400_000),
        match="a run file is a few kB",
    ),
    Case("no-model", ["train"], match="name a model"),
]

DATA = [
    Case("labels-on-digits", dcgan("--labels", "{labels_csv}"), match="--labels does not apply"),
    Case("label-column-on-digits", dcgan("--label-column", "hair"), match="does not apply"),
    Case(
        "data-root-on-digits",
        dcgan("--dataset", "digits", "--data-root", "{imgdir}"),
        match="--data-root does not apply",
    ),
    Case(
        "data-root-picks-folder",
        dcgan("--data-root", "{imgdir}"),
        "ok",
        may_change=NEW,
        match="using --dataset folder",
    ),
    Case("data-root-missing", dcgan("--data-root", "{tmp}/nowhere"), match="does not exist"),
    Case("data-root-one-image", dcgan("--data-root", "{one}"), match="too few"),
    Case("data-root-empty", dcgan("--data-root", "{empty}"), match="holds no images"),
    Case("data-root-is-file", dcgan("--data-root", "{text}"), match="not a directory"),
    Case(
        "labels-missing-file",
        dcgan("--data-root", "{imgdir}", "--labels", "{tmp}/none.csv"),
        match="does not exist",
    ),
    Case(
        "labels-column-unknown",
        dcgan("--data-root", "{imgdir}", "--labels", "{labels_csv}", "--label-column", "zzz"),
        match="zzz",
    ),
    Case(
        "label-column-without-labels-file",
        dcgan("--data-root", "{imgdir}", "--label-column", "kind"),
        match="--label-column kind names a column of a --labels CSV",
    ),
    Case(
        "labels-ok",
        dcgan("--data-root", "{imgdir}", "--labels", "{labels_csv}", "--label-column", "kind"),
        "ok",
        may_change=NEW,
    ),
    Case(
        "animated-first-frame-noticed",
        dcgan("--data-root", "{animated}"),
        "ok",
        may_change=NEW,
        match="animated",
    ),
    Case(
        "limit-below-batch",
        dcgan("--limit", "3"),
        match="larger than the training data",
    ),
    Case("channels-mismatch", dcgan("--channels", "3", "--model-opt", "channels=1"), match="match"),
]


def link_to_run_checkpoint(folder: Path) -> None:
    (folder / "link.safetensors").symlink_to(folder / "run" / "ckpt.safetensors")


FOLDERS = [
    # --overwrite removes the old run only once every option, the data and --init-from passed:
    # a refused command leaves it as it was (the harness checks every file of {run}).
    *[
        Case(
            f"overwrite-refused-{name}-keeps-run",
            dcgan(*extra, "--overwrite", out="{run}"),
            match=match,
        )
        for name, extra, match in [
            ("data-root", ("--dataset", "folder", "--data-root", "{tmp}/none"), "none"),
            ("model-opt", ("--model-opt", "g_width=abc"), "g_width"),
            ("batch", ("--batch-size", "100000"), "batch"),
            ("init-from", ("--init-from", "{text}"), "text"),
            ("init-from-other-model", ("--init-from", "{vae}"), "holds model 'vae'"),
        ]
    ],
    Case(
        "init-from-link-into-the-run-overwrite-removes",
        dcgan("--init-from", "{tmp}/link.safetensors", "--overwrite", out="{run}"),
        setup=link_to_run_checkpoint,
        match="--overwrite would remove",
    ),
    Case("init-from-empty-string", dcgan("--init-from", ""), match="--init-from.*empty"),
    Case("out-holds-run", dcgan(out="{run}"), match="already holds a dcgan run"),
    Case("out-is-file", dcgan(out="{text}"), match="text"),
    Case("out-under-proc", dcgan(out="/proc/gentool-run"), match="cannot write to run folder"),
    Case(
        "out-locked-by-live-process",
        dcgan("--overwrite", out="{run}"),
        setup=lock_held_by(1),
        match="in use by another training",
    ),
    Case(
        "out-locked-on-other-host",
        dcgan("--overwrite", out="{run}"),
        setup=lock_held_by(12345, host="elsewhere.example"),
        match="on host elsewhere.example",
    ),
    Case(
        "stale-lock-taken-over",
        dcgan("--overwrite", out="{run}"),
        "ok",
        setup=lock_held_by(2**22 + 12345),
        may_change=RUN,
        match="taking it over",
    ),
    Case(
        "overwrite-starts-clean",
        dcgan("--overwrite", out="{run}"),
        "ok",
        setup=user_files_in_run,
        may_change=RUN,
        check=check_clean,
    ),
    Case(
        "out-with-user-files-only-ok",
        dcgan(out="{imgdir}"),
        "ok",
        may_change=(
            "imgdir/ckpt.safetensors",
            "imgdir/log.jsonl",
            "imgdir/config.json",
            "imgdir/run.toml",
            "imgdir/samples/*",
        ),
    ),
]

RESUME = [
    Case("resume-missing", resume(target="{tmp}/none"), match="does not exist"),
    Case("resume-empty-dir", resume(target="{empty}"), match="without ckpt.safetensors"),
    Case("resume-finished", resume(), match="already finished"),
    Case("resume-steps-below-done", resume("--steps", "1"), match="already at step 4, past"),
    Case(
        "resume-refused-keeps-overwritten-out",
        resume("--steps", "1", "--out", "{tmp}/other", "--overwrite"),
        setup=lambda f: shutil.copytree(f / "run", f / "other"),
        match="already at step 4",
    ),
    Case("resume-other-model", ["train", "vae", "--resume", "{run}"], match="not 'vae'"),
    Case(
        "resume-same-model-ok",
        ["train", "dcgan", "--resume", "{run}", "--steps", "6"],
        "ok",
        may_change=RUN,
    ),
    Case("resume-other-loss", resume("--loss", "bce", "--steps", "6"), match="--loss cannot"),
    Case("resume-batch", resume("--batch-size", "16", "--steps", "6"), match="--batch-size cannot"),
    Case(
        "resume-same-batch-ok",
        resume("--batch-size", "8", "--steps", "6"),
        "ok",
        may_change=RUN,
    ),
    Case("resume-seed", resume("--seed", "5", "--steps", "6"), match="--seed cannot"),
    Case("resume-beta1", resume("--beta1", "0.9", "--steps", "6"), match="--beta1 cannot"),
    Case("resume-optimizer", resume("--optimizer", "rmsprop"), match="--optimizer cannot"),
    Case("resume-d-steps", resume("--d-steps", "3", "--steps", "6"), match="--d-steps cannot"),
    Case("resume-ema", resume("--ema", "0.9", "--steps", "6"), match="--ema cannot"),
    Case(
        "resume-model-opt",
        resume("--model-opt", "latent_dim=16", "--steps", "6"),
        match="--model-opt latent_dim=16 cannot",
    ),
    Case(
        "resume-same-model-opt-ok",
        resume("--model-opt", "latent_dim=8", "--steps", "6"),
        "ok",
        may_change=RUN,
    ),
    Case("resume-loss-opt", resume("--loss-opt", "a=-1", "--steps", "6"), match="--loss-opt"),
    Case("resume-image-size", resume("--image-size", "32", "--steps", "6"), match="--image-size"),
    Case("resume-dataset", resume("--dataset", "mnist", "--steps", "6"), match="--dataset cannot"),
    Case("resume-channels", resume("--channels", "3", "--steps", "6"), match="--channels cannot"),
    Case("resume-labels", resume("--labels", "{labels_csv}", "--steps", "6"), match="--labels"),
    Case(
        "resume-train-opt",
        resume("--train-opt", "augment=flip", "--steps", "6"),
        match="--train-opt augment=flip cannot",
    ),
    Case(
        "resume-backup-into-own-folder",
        resume("--steps", "8", target="{run}/backup.safetensors"),
        setup=backup_then_continue,
        match="--out NEW_FOLDER",
    ),
    Case(
        "resume-backup-into-new-folder-ok",
        resume("--steps", "8", "--out", "{tmp}/new", target="{run}/backup.safetensors"),
        "ok",
        setup=backup_then_continue,
        may_change=NEW,
        check=check_steps("new", [1, 2, 3, 4, 5, 6, 7, 8]),
    ),
    Case(
        "resume-into-other-run",
        resume("--steps", "8", "--out", "{vae}"),
        match="already holds a vae run",
    ),
    Case(
        "resume-keeps-intervals",
        resume("--steps", "6"),
        "ok",
        may_change=RUN,
        check=check_saved("run", train__checkpoint_every=2, train__sample_every=2, train__steps=6),
    ),
    Case(
        "resume-records-change",
        resume("--steps", "6", "--lr-d", "1e-3", "--log-every", "2"),
        "ok",
        may_change=RUN,
        check=check_saved("run", train__lr_d=1e-3, train__log_every=2, step=6),
        match="lr_d 0.0002 -> 0.001",
    ),
    Case(
        "resume-epochs-replace-steps",
        resume("--epochs", "0.2"),
        "ok",
        may_change=RUN,
        check=check_saved("run", train__steps=None, train__epochs=0.2),
    ),
    Case(
        "resume-cuts-log-and-temporaries",
        resume("--steps", "8"),
        "ok",
        setup=stale_log_and_tmp,
        may_change=RUN,
        check=check_cut_back,
    ),
    Case(
        "resume-data-changed",
        resume("--steps", "4", target="{frun}"),
        setup=add_image,
        match="training data changed",
    ),
    Case(
        "resume-data-changed-accepted",
        resume("--steps", "4", "--accept-data-change", target="{frun}"),
        "ok",
        setup=add_image,
        may_change=("frun/*", "frun/samples/*"),
        match="not exact",
    ),
    Case(
        "resume-data-moved-ok",
        resume("--steps", "3", "--data-root", "{tmp}/moved", target="{frun}"),
        "ok",
        setup=move_data,
        may_change=("frun/*", "frun/samples/*", "moved/*"),
        match="data_root",
    ),
    Case("resume-device-ok", resume("--steps", "5", "--device", "cpu"), "ok", may_change=RUN),
    Case(
        "resume-log-fifo",
        resume("--steps", "6"),
        setup=log_becomes_fifo,
        match="not a regular file",
    ),
    Case(
        "resume-lock-fifo",
        resume("--steps", "6"),
        setup=lambda f: os.mkfifo(f / "run" / ".lock"),
        match="not a lock file",
    ),
    Case(
        "resume-test-fraction",
        resume("--steps", "6", "--test-fraction", "0.3"),
        match="--test-fraction cannot",
    ),
    Case("resume-device-bad", resume("--steps", "5", "--device", "mps"), match="not available"),
    Case("resume-bad-steps", resume("--steps", "0"), match="steps"),
    Case(
        "resume-overwrite-own-folder",
        resume("--steps", "6", "--overwrite"),
        match="drop --overwrite",
    ),
    Case(
        "sr-image-size-blames-image-size",
        [
            "train",
            "sr-unet",
            "--image-size",
            "17",
            "--steps",
            "1",
            "--device",
            "cpu",
            "--out",
            "{tmp}/new",
        ],
        match="--image-size 17 does not suit",
    ),
    *(
        Case(
            f"{model}-{option.split('=')[0]}-without-patchgan",
            ["train", model, *extra, "--steps", "1", "--device", "cpu", "--out", "{tmp}/new"],
            match=f"--model-opt {option} shapes the PatchGAN",
        )
        for model, extra, option in [
            ("sr-resnet", ["--model-opt", "d_width=32"], "d_width=32"),
            ("sr-resnet", ["--model-opt", "d_norm=instance"], "d_norm=instance"),
            (
                "sr-unet",
                ["--model-opt", "with_discriminator=false", "--model-opt", "d_layers=3"],
                "d_layers=3",
            ),
        ]
    ),
    Case(
        "resume-locked",
        resume("--steps", "6"),
        setup=lock_held_by(1),
        match="in use by another training",
    ),
]


ALL = OPTIONS + DATA + FOLDERS + RESUME


@pytest.mark.parametrize("case", ALL, ids=str)
def test_train_case(case: Case, hostile: object) -> None:
    hostile(case)  # type: ignore[operator]


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in ALL]
    assert len(ids) == len(set(ids))


def test_lock_is_released_after_a_refusal(hostile: object, tmp_path: Path) -> None:
    """A training refused after taking the lock leaves no lock (and no empty folder)."""
    case = Case("refused-after-lock", dcgan("--batch-size", "100000"), match="larger")
    hostile(case)  # type: ignore[operator]
    assert not (tmp_path / "case" / "new").exists()
