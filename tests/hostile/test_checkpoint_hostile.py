"""Hostile checkpoints: every malformed file, header, field and tensor is one line, nothing changes.

Each case copies a tiny trained run (``{run}`` dcgan, ``{vae}``, ``{sr}`` the shipped upscaler)
into its folder, rewrites one thing in the checkpoint (``setup``), and runs a command that
reads it: ``sample``, ``evaluate``, ``reconstruct``, ``upscale --ckpt`` or ``train --resume``.
A refusal must be exactly one ``Error:`` line naming the problem, with no file changed; the
``ok`` cases show the checks do not refuse what is valid.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import stat
import struct
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from hostile.harness import Case, file_hashes

Meta = dict[str, Any]
Tensors = dict[str, torch.Tensor]
Edit = Callable[[Meta, Tensors], None]


# --- rewriting checkpoints ------------------------------------------------------------------


def checkpoint_in(folder: Path, name: str) -> Path:
    """The checkpoint file of fixture ``name`` in a case folder (a run folder or a file)."""
    path = folder / name
    return path / "ckpt.safetensors" if path.is_dir() else path


def read_checkpoint(path: Path) -> tuple[Meta, Tensors]:
    tensors = load_file(path)
    with safe_open(path, "pt") as handle:
        meta = json.loads(handle.metadata()["gentool"])
    return meta, tensors


def write_checkpoint(path: Path, meta: Meta, tensors: Tensors) -> None:
    save_file(tensors, path, metadata={"gentool": json.dumps(meta)})


def rewrite(*edits: Edit, target: str = "run") -> Callable[[Path], None]:
    """A ``setup`` that applies ``edits`` to the metadata and tensors of fixture ``target``."""

    def setup(folder: Path) -> None:
        path = checkpoint_in(folder, target)
        meta, tensors = read_checkpoint(path)
        for edit in edits:
            edit(meta, tensors)
        write_checkpoint(path, meta, tensors)

    return setup


def _walk(meta: Meta, dotted: str) -> tuple[Any, Any]:
    node: Any = meta
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last: Any = parts[-1]
    return node, int(last) if isinstance(node, list) else last


def set_field(dotted: str, value: Any) -> Edit:
    def edit(meta: Meta, tensors: Tensors) -> None:
        node, key = _walk(meta, dotted)
        node[key] = value

    return edit


def del_field(dotted: str) -> Edit:
    def edit(meta: Meta, tensors: Tensors) -> None:
        node, key = _walk(meta, dotted)
        del node[key]

    return edit


def set_tensor(name: str, value: Callable[[Any], torch.Tensor]) -> Edit:
    def edit(meta: Meta, tensors: Tensors) -> None:
        tensors[name] = value(tensors.get(name)).contiguous()

    return edit


def del_tensor(name: str) -> Edit:
    def edit(meta: Meta, tensors: Tensors) -> None:
        del tensors[name]

    return edit


def all_tensors(prefix: str, change: Callable[[torch.Tensor], torch.Tensor]) -> Edit:
    def edit(meta: Meta, tensors: Tensors) -> None:
        for name in list(tensors):
            if name.startswith(prefix) and tensors[name].is_floating_point():
                tensors[name] = change(tensors[name]).contiguous()

    return edit


def poison(value: float) -> Callable[[torch.Tensor | None], torch.Tensor]:
    def change(tensor: torch.Tensor | None) -> torch.Tensor:
        assert tensor is not None
        out = tensor.clone()
        out.view(-1)[0] = value
        return out

    return change


def add_ema(meta: Meta, tensors: Tensors) -> None:
    """An ``ema`` section that is an exact copy of the generator (what --ema writes)."""
    for name in list(tensors):
        if name.startswith("model.generator."):
            tensors["ema." + name[len("model.generator.") :]] = tensors[name].clone()


G0 = "model.generator.net.0.weight"
D0 = "model.discriminator.features.0.weight"
OPT = "optim.generator.0.exp_avg"


# --- rewriting the raw file -----------------------------------------------------------------


def raw_parts(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def raw(
    header_edit: Callable[[dict[str, Any]], Any] | None = None,
    *,
    body: Callable[[bytes], bytes] | None = None,
    prefix: Callable[[int, int], int] | None = None,
    target: str = "run",
) -> Callable[[Path], None]:
    """A ``setup`` that rewrites the safetensors header / data / length prefix itself."""

    def setup(folder: Path) -> None:
        path = checkpoint_in(folder, target)
        header, data = raw_parts(path)
        if header_edit is not None:
            header = header_edit(header) or header
        text = header if isinstance(header, bytes) else json.dumps(header).encode()
        if body is not None:
            data = body(data)
        length = len(text) if prefix is None else prefix(len(text), len(text) + len(data) + 8)
        path.write_bytes(struct.pack("<Q", length) + text + data)

    return setup


def entry(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        header[name][key] = value

    return edit


def overlap(header: dict[str, Any]) -> None:
    # running_var gets the bytes of running_mean (same size, so only the overlap is wrong)
    a, b = "model.generator.net.1.running_mean", "model.generator.net.1.running_var"
    header[b]["data_offsets"] = list(header[a]["data_offsets"])


def swap_metadata(value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        header["__metadata__"] = value

    return edit


# --- special files --------------------------------------------------------------------------


def fifo(name: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        path = folder / name
        if path.exists():
            path.unlink()
        os.mkfifo(path)

    return setup


def unix_socket(name: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(folder / name))

    return setup


def symlink(name: str, to: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / name).symlink_to(to)

    return setup


def link_checkpoint(folder: Path) -> None:
    """RUN/ckpt.safetensors becomes a symbolic link to the real file elsewhere."""
    (folder / "run" / "ckpt.safetensors").rename(folder / "real.safetensors")
    (folder / "run" / "ckpt.safetensors").symlink_to("../real.safetensors")


def block_device() -> str:
    for name in sorted(os.listdir("/dev")):
        with contextlib.suppress(OSError):
            if stat.S_ISBLK(os.stat(f"/dev/{name}").st_mode):
                return f"/dev/{name}"
    return "/dev/no-block-device"


def folder_named(name: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / name).mkdir()

    return setup


def replace_with_folder(folder: Path) -> None:
    (folder / "run" / "ckpt.safetensors").unlink()
    (folder / "run" / "ckpt.safetensors").mkdir()


def write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return setup


def _shipped_upscaler(path: Path) -> None:
    ref = resources.files("gentool").joinpath("weights", "sr-unet-x4.safetensors")
    with resources.as_file(ref) as source:
        shutil.copy2(source, path)


def _photo(path: Path) -> None:
    from PIL import Image

    pixels = torch.randint(0, 256, (20, 20, 3), generator=torch.Generator().manual_seed(0))
    Image.fromarray(pixels.to(torch.uint8).numpy(), "RGB").save(path, format="PNG")


EXTRA_FIXTURES = {"sr": _shipped_upscaler, "photo": _photo}

SAMPLE = ["sample", "{run}", "-n", "4", "-o", "grid.png"]
EVALUATE = ["evaluate", "{run}", "--metrics", "swd", "--no-log"]
RECONSTRUCT = ["reconstruct", "{vae}", "-o", "recon.png"]
RESUME = ["train", "--resume", "{run}", "--steps", "6"]
UPSCALE = ["upscale", "{photo}", "--ckpt", "{sr}", "-o", "big.png"]
X = "{tmp}/x.safetensors"


def with_path(command: list[str], path: str) -> list[str]:
    """``command`` reading ``path`` instead of its fixture checkpoint."""
    return [path if a in ("{run}", "{vae}", "{sr}") else a for a in command]


def refuse(id: str, args: list[str], match: str, setup: Any = None, **extra: Any) -> Case:
    return Case(id, args, "refuse", match=match, setup=setup, **extra)


# --- the table ------------------------------------------------------------------------------

FILE_CASES = [
    refuse("fifo", with_path(SAMPLE, X), "FIFO", fifo("x.safetensors")),
    refuse("fifo-in-run-folder", SAMPLE, "FIFO", fifo("run/ckpt.safetensors")),
    refuse("fifo-resume", RESUME, "FIFO", fifo("run/ckpt.safetensors")),
    refuse("dev-zero", with_path(SAMPLE, "/dev/zero"), "character device"),
    refuse("dev-null-evaluate", with_path(EVALUATE, "/dev/null"), "character device"),
    refuse(
        "symlink-to-dev-zero",
        with_path(SAMPLE, X),
        "character device",
        symlink("x.safetensors", "/dev/zero"),
    ),
    refuse(
        "symlink-to-block-device",
        with_path(SAMPLE, X),
        "block device|does not exist|cannot read",
        symlink("x.safetensors", block_device()),
    ),
    refuse("socket", with_path(SAMPLE, X), "socket", unix_socket("x.safetensors")),
    refuse("broken-symlink", with_path(SAMPLE, X), "broken", symlink("x.safetensors", "nowhere")),
    refuse(
        "folder-named-like-a-file", with_path(SAMPLE, X), "folder", folder_named("x.safetensors")
    ),
    refuse("ckpt-is-a-folder", SAMPLE, "is a folder", replace_with_folder),
    refuse("empty-file", with_path(SAMPLE, X), "only 0 bytes", write_bytes("x.safetensors", b"")),
    refuse(
        "seven-bytes",
        with_path(SAMPLE, X),
        "only 7 bytes",
        write_bytes("x.safetensors", b"1234567"),
    ),
    refuse(
        "pickle",
        with_path(RECONSTRUCT, X),
        "not a (valid )?safetensors",
        write_bytes("x.safetensors", b"\x80\x04\x95" + b"\x00" * 64),
    ),
    refuse("header-longer-than-file", SAMPLE, "header claims", raw(prefix=lambda n, size: size)),
    refuse("header-2-to-64", SAMPLE, "header claims", raw(prefix=lambda n, size: 2**64 - 1)),
    refuse(
        "header-not-json",
        SAMPLE,
        "corrupt safetensors header",
        raw(lambda h: b"{" + b"x" * len(json.dumps(h).encode()[1:])),
    ),
    refuse("header-json-array", SAMPLE, "not a safetensors", raw(lambda h: b"[1, 2, 3]")),
    refuse(
        "header-nested-deeply",
        SAMPLE,
        "nested too deeply",
        raw(lambda h: b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
    ),
    refuse("unknown-dtype", SAMPLE, "unsupported dtype", raw(entry(G0, "dtype", "F8_E9M9"))),
    refuse("negative-shape", SAMPLE, "invalid shape", raw(entry(G0, "shape", [-1, 4]))),
    refuse("float-shape", SAMPLE, "invalid shape", raw(entry(G0, "shape", [2.5]))),
    refuse(
        "reversed-offsets", SAMPLE, "invalid data offsets", raw(entry(G0, "data_offsets", [8, 0]))
    ),
    refuse("shape-disagrees-with-bytes", SAMPLE, "need", raw(entry(G0, "shape", [2]))),
    refuse(
        "offsets-beyond-file",
        SAMPLE,
        "beyond the end",
        raw(entry(G0, "data_offsets", [10**9, 10**9 + 4 * 8 * 8 * 16])),
    ),
    refuse("overlapping-offsets", SAMPLE, "overlaps", raw(overlap)),
    refuse("trailing-bytes", SAMPLE, "holds", raw(body=lambda d: d + b"\0" * 64)),
    refuse("truncated-data", SAMPLE, "beyond the end|truncated", raw(body=lambda d: d[:-100])),
    refuse("entry-missing-dtype", SAMPLE, "malformed", raw(lambda h: h[G0].pop("dtype") and None)),
    refuse("metadata-not-strings", SAMPLE, "string map", raw(swap_metadata({"gentool": {"a": 1}}))),
    refuse(
        "no-gentool-metadata", SAMPLE, "not a gentool checkpoint", raw(swap_metadata({"x": "1"}))
    ),
    refuse(
        "metadata-not-json", EVALUATE, "not valid JSON", raw(swap_metadata({"gentool": "{oops"}))
    ),
]

META_CASES = [
    refuse("format-wrong", SAMPLE, "format", rewrite(set_field("format", "other"))),
    refuse(
        "schema-version-99", SAMPLE, "schema version 99", rewrite(set_field("schema_version", 99))
    ),
    refuse(
        "schema-version-true",
        SAMPLE,
        "schema version True",
        rewrite(set_field("schema_version", True)),
    ),
    refuse(
        "schema-version-string",
        SAMPLE,
        "schema version '1'",
        rewrite(set_field("schema_version", "1")),
    ),
    refuse("model-not-a-string", SAMPLE, "which model", rewrite(set_field("model", 7))),
    refuse("model-empty", SAMPLE, "which model", rewrite(set_field("model", ""))),
    refuse("model-unknown", SAMPLE, "nosuchmodel", rewrite(set_field("model", "nosuchmodel"))),
    refuse("model-config-list", SAMPLE, "model_config", rewrite(set_field("model_config", [1, 2]))),
    refuse(
        "model-config-nested-object",
        SAMPLE,
        "model_config.g_width",
        rewrite(set_field("model_config.g_width", {"a": 1})),
    ),
    refuse("family-unknown", SAMPLE, "field 'family'", rewrite(set_field("family", "diffusion"))),
    refuse("family-number", SAMPLE, "field 'family'", rewrite(set_field("family", 3))),
    refuse("family-mismatch", EVALUATE, "family 'gan'", rewrite(set_field("family", "vae"))),
    refuse(
        "latent-dim-string",
        SAMPLE,
        "model_config.latent_dim.*integer",
        rewrite(set_field("model_config.latent_dim", "abc")),
    ),
    refuse(
        "latent-dim-float",
        SAMPLE,
        "model_config.latent_dim",
        rewrite(set_field("model_config.latent_dim", 8.5)),
    ),
    refuse(
        "latent-dim-bool",
        SAMPLE,
        "model_config.latent_dim",
        rewrite(set_field("model_config.latent_dim", True)),
    ),
    refuse(
        "latent-dim-zero", SAMPLE, "latent_dim", rewrite(set_field("model_config.latent_dim", 0))
    ),
    refuse(
        "latent-dim-10-12",
        SAMPLE,
        r"needs about [\d.]+ [kMGTP]?B .*available",
        rewrite(set_field("model_config.latent_dim", 10**12)),
    ),
    refuse(
        "latent-dim-10-12-evaluate",
        EVALUATE,
        "needs about|cannot be built",
        rewrite(set_field("model_config.latent_dim", 10**12)),
    ),
    refuse(
        "g-width-10-6",
        SAMPLE,
        r"needs about .* available",
        rewrite(set_field("model_config.g_width", 10**6)),
    ),
    refuse(
        "d-width-10-6",
        SAMPLE,
        r"needs about .* available",
        rewrite(set_field("model_config.d_width", 10**6)),
    ),
    refuse(
        "image-size-2-24",
        SAMPLE,
        "needs about|cannot be built",
        rewrite(set_field("model_config.image_size", 2**24)),
    ),
    refuse(
        "image-size-not-power-of-two",
        SAMPLE,
        "power-of-two",
        rewrite(set_field("model_config.image_size", 100)),
    ),
    refuse(
        "width-10-100",
        SAMPLE,
        "cannot be built|needs about",
        rewrite(set_field("model_config.g_width", 10**100)),
    ),
    refuse(
        "config-nan",
        SAMPLE,
        "model_config.latent_dim",
        rewrite(set_field("model_config.latent_dim", math.nan)),
    ),
    refuse(
        "config-unknown-field", SAMPLE, "mystery", rewrite(set_field("model_config.mystery", 1))
    ),
    refuse(
        "weights-dtype-bogus", SAMPLE, "weights_dtype", rewrite(set_field("weights_dtype", "int8"))
    ),
]

WEIGHT_CASES = [
    refuse(
        "nan-weight", SAMPLE, f"'{G0[6:]}' holds NaN/Inf", rewrite(set_tensor(G0, poison(math.nan)))
    ),
    refuse("inf-weight", SAMPLE, "holds NaN/Inf", rewrite(set_tensor(D0, poison(math.inf)))),
    refuse("nan-weight-evaluate", EVALUATE, "NaN/Inf", rewrite(set_tensor(G0, poison(math.nan)))),
    refuse(
        "int64-weight",
        SAMPLE,
        "is int64 but the model uses float32",
        rewrite(set_tensor(G0, lambda t: t.long())),
    ),
    refuse(
        "float64-weight",
        SAMPLE,
        "float64 but the model uses float32",
        rewrite(set_tensor(G0, lambda t: t.double())),
    ),
    refuse(
        "float16-weights-undeclared",
        SAMPLE,
        "float16 but the model uses float32",
        rewrite(all_tensors("model.", lambda t: t.half())),
    ),
    refuse(
        "bfloat16-weight",
        EVALUATE,
        "bfloat16",
        rewrite(set_tensor(D0, lambda t: t.bfloat16())),
    ),
    refuse("missing-weight", SAMPLE, "lacks weight", rewrite(del_tensor(G0))),
    refuse(
        "extra-weight",
        SAMPLE,
        "unexpected weight",
        rewrite(set_tensor("model.x", lambda t: torch.zeros(2))),
    ),
    refuse(
        "wrong-shape-weight",
        SAMPLE,
        "has shape",
        rewrite(set_tensor(G0, lambda t: torch.zeros(3, 3))),
    ),
    refuse(
        "ema-nan",
        SAMPLE,
        "ema.*NaN/Inf",
        rewrite(add_ema, set_tensor("ema.net.0.weight", poison(math.nan))),
    ),
    refuse(
        "ema-int64",
        SAMPLE,
        "ema.*int64",
        rewrite(add_ema, set_tensor("ema.net.0.weight", lambda t: t.long())),
    ),
    refuse(
        "ema-missing-weight",
        SAMPLE,
        "ema.*lacks weight",
        rewrite(add_ema, del_tensor("ema.net.0.weight")),
    ),
    refuse(
        "ema-wrong-shape",
        SAMPLE,
        "ema.*has shape",
        rewrite(add_ema, set_tensor("ema.net.0.weight", lambda t: torch.zeros(2))),
    ),
]

VAE_CASES = [
    refuse(
        "vae-nan-weight",
        RECONSTRUCT,
        "NaN/Inf",
        rewrite(all_tensors("model.", lambda t: t * math.nan), target="vae"),
    ),
    refuse(
        "vae-float16",
        RECONSTRUCT,
        "float16",
        rewrite(all_tensors("model.", lambda t: t.half()), target="vae"),
    ),
    refuse(
        "vae-family-gan",
        RECONSTRUCT,
        "field 'family'",
        rewrite(set_field("family", "gan"), target="vae"),
    ),
    refuse(
        "vae-latent-10-12",
        RECONSTRUCT,
        "needs about|cannot be built",
        rewrite(set_field("model_config.latent_dim", 10**12), target="vae"),
    ),
    refuse(
        "vae-width-string",
        RECONSTRUCT,
        "model_config.width",
        rewrite(set_field("model_config.width", "wide"), target="vae"),
    ),
    refuse("vae-fifo", with_path(RECONSTRUCT, X), "FIFO", fifo("x.safetensors")),
]

SR_WEIGHT = "model.generator.head.weight"

UPSCALE_CASES = [
    refuse(
        "sr-nan-weight",
        UPSCALE,
        "NaN/Inf",
        rewrite(all_tensors("model.", lambda t: t * math.nan), target="sr"),
    ),
    refuse(
        "sr-int64-weight",
        UPSCALE,
        "int64",
        rewrite(all_tensors("model.generator.head", lambda t: t.long()), target="sr"),
    ),
    refuse(
        "sr-family-mismatch",
        UPSCALE,
        "family|upscaler",
        rewrite(set_field("family", "gan"), target="sr"),
    ),
    refuse(
        "sr-width-10-6",
        UPSCALE,
        "needs about|cannot be built|width",
        rewrite(
            set_field("model_config.width", 10**6),
            set_field("model_config.max_width", 10**6),
            target="sr",
        ),
    ),
    refuse("sr-fifo", with_path(UPSCALE, X), "FIFO", fifo("x.safetensors")),
    refuse("sr-dev-zero", with_path(UPSCALE, "/dev/zero"), "character device"),
]


def resume_case(id: str, match: str, *edits: Edit) -> Case:
    return refuse(f"resume-{id}", RESUME, match, rewrite(*edits))


RESUME_CASES = [
    resume_case(
        "step-string",
        "field 'step' must be a non-negative integer, not 'abc'",
        set_field("step", "abc"),
    ),
    resume_case("step-negative", "field 'step'.*-100", set_field("step", -100)),
    resume_case("step-bool", "field 'step'", set_field("step", True)),
    resume_case("step-float", "field 'step'", set_field("step", 2.5)),
    resume_case("step-missing", "'step'", del_field("step")),
    resume_case("train-not-object", "train", set_field("train", "abc")),
    resume_case("train-batch-negative", "batch", set_field("train.batch_size", -4)),
    resume_case("train-lr-string", "lr_g", set_field("train.lr_g", "fast")),
    resume_case("train-optimizer-unknown", "optimizer|sgd", set_field("train.optimizer", "sgd")),
    resume_case("data-not-object", "data", set_field("data", [1])),
    resume_case("data-split-bogus", "split", set_field("data.split", "bogus")),
    resume_case(
        "data-image-size-string", "image_size|image size", set_field("data.image_size", "big")
    ),
    resume_case("loss-number", "loss", set_field("loss", 5)),
    resume_case("loss-unknown", "nosuchloss", set_field("loss", "nosuchloss")),
    resume_case("loss-config-string", "loss_config|loss", set_field("loss_config", "x")),
    resume_case("optim-string", "field 'optim'", set_field("optim", "abc")),
    resume_case("optim-empty", "field 'optim'", set_field("optim", {})),
    resume_case("optim-no-param-groups", "param_groups", del_field("optim.generator.param_groups")),
    resume_case(
        "optim-groups-string", "param_groups", set_field("optim.generator.param_groups", "x")
    ),
    resume_case(
        "optim-lr-string",
        r"param_groups\.0\.lr",
        set_field("optim.generator.param_groups.0.lr", "abc"),
    ),
    resume_case(
        "optim-lr-negative",
        r"param_groups\.0\.lr",
        set_field("optim.generator.param_groups.0.lr", -1),
    ),
    resume_case(
        "optim-betas-out-of-range",
        "betas",
        set_field("optim.generator.param_groups.0.betas", [2, 3]),
    ),
    resume_case(
        "optim-params-duplicated",
        "params",
        set_field("optim.generator.param_groups.0.params", [0, 0]),
    ),
    resume_case(
        "optim-amsgrad-string",
        "amsgrad",
        set_field("optim.generator.param_groups.0.amsgrad", "yes"),
    ),
    resume_case("optim-moment-nan", "NaN/Inf", set_tensor(OPT, poison(math.nan))),
    resume_case("optim-moment-shape", "shape|exp_avg", set_tensor(OPT, lambda t: torch.zeros(3))),
    resume_case(
        "optim-moment-unknown-param",
        "optim.generator.999",
        set_tensor("optim.generator.999.exp_avg", lambda t: torch.zeros(2)),
    ),
    resume_case("history-string", "field 'history'", set_field("history", "abc")),
    resume_case("history-entry-number", r"history\[0\]", set_field("history", [3])),
    resume_case(
        "ema-claimed-no-weights", "--ema 0.99.*no 'ema' weights", set_field("train.ema", 0.99)
    ),
    resume_case("rng-not-object", "field 'rng'", set_field("rng", "abc")),
    resume_case(
        "rng-torch-short",
        "rng.torch",
        set_tensor("rng.torch", lambda t: torch.zeros(10, dtype=torch.uint8)),
    ),
    resume_case("rng-torch-float", "rng.torch", set_tensor("rng.torch", lambda t: t.float())),
    resume_case("rng-torch-missing", "rng.torch", del_tensor("rng.torch")),
    resume_case("rng-numpy-short", "rng.numpy", set_tensor("rng.numpy", lambda t: t[:10])),
    resume_case("rng-numpy-negative", "rng.numpy", set_tensor("rng.numpy", lambda t: -t - 1)),
    resume_case("rng-numpy-name", "rng.numpy.name", set_field("rng.numpy.name", "PCG64")),
    resume_case("rng-numpy-pos", "rng.numpy.pos", set_field("rng.numpy.pos", 999)),
    resume_case("rng-numpy-has-gauss", "has_gauss", set_field("rng.numpy.has_gauss", 2)),
    resume_case("rng-numpy-cached-string", "cached", set_field("rng.numpy.cached", "x")),
    resume_case("rng-python-short", "rng.python", set_tensor("rng.python", lambda t: t[:10])),
    resume_case(
        "rng-python-position",
        "rng.python",
        set_tensor("rng.python", lambda t: torch.cat([t[:-1], torch.tensor([10**6])])),
    ),
    resume_case("rng-python-version", "rng.python.version", set_field("rng.python.version", 2)),
    resume_case("rng-python-gauss-string", "gauss_next", set_field("rng.python.gauss_next", "x")),
    resume_case("sampler-string", "field 'sampler'", set_field("sampler", "abc")),
    resume_case("sampler-epoch-negative", "sampler.epoch", set_field("sampler.epoch", -1)),
    resume_case(
        "sampler-position-out-of-range", "sampler.position", set_field("sampler.position", 10**9)
    ),
    resume_case(
        "sampler-order-short",
        "trainer.sampler.order",
        set_tensor("trainer.sampler.order", lambda t: t[:5]),
    ),
    resume_case(
        "sampler-order-duplicates",
        "not a permutation",
        set_tensor("trainer.sampler.order", lambda t: torch.zeros_like(t)),
    ),
    resume_case(
        "sampler-order-float",
        "trainer.sampler.order",
        set_tensor("trainer.sampler.order", lambda t: t.float()),
    ),
    resume_case(
        "sampler-order-out-of-range",
        "not a permutation",
        set_tensor("trainer.sampler.order", lambda t: t + 10**6),
    ),
    resume_case(
        "sampler-rng-short",
        "trainer.sampler.rng",
        set_tensor("trainer.sampler.rng", lambda t: torch.zeros(7, dtype=torch.uint8)),
    ),
    resume_case("nan-weight", "NaN/Inf", set_tensor(G0, poison(math.nan))),
    resume_case("int64-weight", "int64", set_tensor(G0, lambda t: t.long())),
    resume_case("ema-nan", "NaN/Inf", add_ema, set_tensor("ema.net.0.weight", poison(math.nan))),
]

OK_CASES = [
    Case(
        "ok-sample-file",
        with_path(SAMPLE, "{run}/ckpt.safetensors"),
        "ok",
        may_change=("grid.png",),
    ),
    Case(
        "ok-sample-through-symlink",
        SAMPLE,
        "ok",
        may_change=("grid.png",),
        setup=link_checkpoint,
    ),
    Case(
        "ok-declared-float16",
        SAMPLE,
        "ok",
        may_change=("grid.png",),
        setup=rewrite(
            all_tensors("model.", lambda t: t.half()), set_field("weights_dtype", "float16")
        ),
    ),
    Case("ok-sample-with-ema", SAMPLE, "ok", may_change=("grid.png",), setup=rewrite(add_ema)),
    Case(
        "ok-no-ema-ignores-ema",
        [*SAMPLE, "--no-ema"],
        "ok",
        may_change=("grid.png",),
        setup=rewrite(add_ema, set_tensor("ema.net.0.weight", poison(math.nan))),
    ),
    Case("no-ema-without-ema", [*SAMPLE, "--no-ema"], match="drop --no-ema"),
    Case("ok-reconstruct", RECONSTRUCT, "ok", may_change=("recon.png",)),
    Case("ok-upscale-shipped-half-weights", UPSCALE, "ok", may_change=("big.png",)),
    Case("ok-resume", RESUME, "ok", may_change=("run/*",)),
]

CASES = [
    *FILE_CASES,
    *META_CASES,
    *WEIGHT_CASES,
    *VAE_CASES,
    *UPSCALE_CASES,
    *RESUME_CASES,
    *OK_CASES,
]


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A case that blocks (a FIFO opened for reading) fails after 30 s instead of hanging."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError("the command blocked for 30 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_table_is_large_and_distinct() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 70


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case, hostile: Callable[[Case], object]) -> None:
    hostile(case)


# --- fuzz: every field --resume reads, type confusion and out-of-range values ----------------

RESUME_FIELDS = [
    "step",
    "train",
    "train.steps",
    "train.batch_size",
    "train.lr_g",
    "train.beta1",
    "train.seed",
    "train.ema",
    "train.optimizer",
    "train.extra",
    "data",
    "data.name",
    "data.image_size",
    "data.split",
    "data.test_fraction",
    "data.limit",
    "data.num_images",
    "data.class_names",
    "loss",
    "loss_config",
    "model",
    "model_config",
    "model_config.latent_dim",
    "model_config.g_width",
    "model_config.image_size",
    "model_config.d_norm",
    "family",
    "optim",
    "optim.generator",
    "optim.generator.param_groups",
    "optim.generator.param_groups.0",
    "optim.generator.param_groups.0.lr",
    "optim.generator.param_groups.0.betas",
    "optim.generator.param_groups.0.eps",
    "optim.generator.param_groups.0.params",
    "optim.generator.scalars",
    "rng",
    "rng.numpy",
    "rng.numpy.name",
    "rng.numpy.pos",
    "rng.numpy.has_gauss",
    "rng.numpy.cached",
    "rng.python",
    "rng.python.version",
    "rng.python.gauss_next",
    "sampler",
    "sampler.epoch",
    "sampler.position",
]

HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 1, 10**12, 2**63, -(2**63), 623, 624, 625]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-2, 2), max_size=2),
)


@pytest.fixture(scope="module")
def fuzz_run(fixture_store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    fixture_store["run"](folder / "run")
    return folder / "run" / "ckpt.safetensors"


def _hostile_copy(source: Path, folder: Path, field: str, value: Any) -> tuple[Path, int]:
    run = folder / "run"
    run.mkdir()
    path = run / "ckpt.safetensors"
    meta, tensors = read_checkpoint(source)
    num_images = meta["data"]["num_images"]
    set_field(field, value)(meta, tensors)
    write_checkpoint(path, meta, tensors)
    return path, num_images


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(RESUME_FIELDS), value=HOSTILE_VALUES)
def test_fuzzed_resume_fields_only_raise_one_line_errors(
    fuzz_run: Path, tmp_path_factory: pytest.TempPathFactory, field: str, value: Any
) -> None:
    from gentool.checkpoint import load_checkpoint
    from gentool.errors import GentoolError
    from gentool.training.resume_state import validate_resume_state

    folder = tmp_path_factory.mktemp("case")
    path, num_images = _hostile_copy(fuzz_run, folder, field, value)
    before = file_hashes(folder)
    with contextlib.suppress(GentoolError):
        try:
            validate_resume_state(load_checkpoint(path), num_images)
        except GentoolError as exc:
            assert "\n" not in exc.message and "Traceback" not in exc.message
            raise
    assert file_hashes(folder) == before


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(RESUME_FIELDS), value=HOSTILE_VALUES)
def test_fuzzed_resume_fields_are_refused_by_resume_before_use(
    fuzz_run: Path, tmp_path_factory: pytest.TempPathFactory, field: str, value: Any
) -> None:
    """What the validator refuses, ``runner.resume`` refuses in one line, changing nothing
    (it must not trip over the field before the validator runs)."""
    from gentool.checkpoint import load_checkpoint
    from gentool.errors import GentoolError
    from gentool.training import runner
    from gentool.training.resume_state import validate_resume_state

    folder = tmp_path_factory.mktemp("case")
    path, num_images = _hostile_copy(fuzz_run, folder, field, value)
    try:
        validate_resume_state(load_checkpoint(path), num_images)
    except GentoolError:
        pass
    else:
        return  # a value that is valid for the field: nothing to refuse
    before = file_hashes(folder)
    with pytest.raises(GentoolError) as caught:
        runner.resume(path.parent, steps=6)
    assert "\n" not in caught.value.message
    assert file_hashes(folder) == before
