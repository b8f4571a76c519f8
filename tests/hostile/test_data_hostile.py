"""Dataset files under hostile input: corrupt releases, special files, broken links.

Every built-in dataset plugin reads tiny files in its real on-disk format, built here (MNIST
and Fashion-MNIST idx files, CIFAR-10's binary and pickled batches, STL-10's binaries,
CelebA's JPEGs and lists, a folder of PNGs). Each case then breaks one thing. A user's file
at fault must be named, with what is wrong with it, in one ``Error:`` line (never "a bug in
the dataset plugin", never a traceback); a FIFO, socket or device among the files is refused
or skipped from its ``stat``, and never opened: a watcher thread opens every FIFO of a case
for writing whenever something holds it open for reading, which unblocks a reader that
would hang and fails the test.

The pickled CIFAR-10 and STL-10 files are checked against the official md5s before they are
read; here the fakes built below stand for the official release (their md5s replace
torchvision's), so a file changed by a case is one that is no longer official.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result
from PIL import Image

from hostile.conftest import _image_folder
from hostile.harness import Case

#: A tiny DCGAN on 16 px images: refusals come before the first step.
TINY = [
    "--steps",
    "1",
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
    "--sample-every",
    "100",
    "--checkpoint-every",
    "100",
]
NEW = ("new/*", "new/samples/*")
Setup = Callable[[Path], None]


def train(dataset: str, root: str, *extra: str, model: str = "dcgan") -> list[str]:
    loss = ["--loss", "ls"] if model == "dcgan" else []
    return [
        "train",
        model,
        *loss,
        *TINY,
        "--out",
        "{tmp}/new",
        "--dataset",
        dataset,
        "--data-root",
        root,
        *extra,
    ]


# --- the releases, in their real formats ----------------------------------------------------
def idx_bytes(kind: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """An idx file: 0x00 0x00, the type (0x08: bytes), the dimensions, then the data."""
    return struct.pack(f">I{len(shape)}I", 0x0800 | kind, *shape) + data


def write_idx(raw: Path, prefix: str, labels: list[int], side: int = 28) -> None:
    images = np.zeros((len(labels), side, side), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, label % side, :] = 255
    raw.mkdir(parents=True, exist_ok=True)
    shape = (len(labels), side, side)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(3, shape, images.tobytes()))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(1, (len(labels),), bytes(labels)))


def _mnist_like(folder: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        raw = path / folder / "raw"
        write_idx(raw, "train", [i % 10 for i in range(20)])
        write_idx(raw, "t10k", [9, 8, 7, 6, 5])

    return make


def cifar_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)


CIFAR_BATCHES = [f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]


def cifar_python_files() -> dict[str, bytes]:
    """``cifar-10-batches-py``: pickled dicts of 2 images each, and the class names."""
    files = {}
    for i, name in enumerate(CIFAR_BATCHES):
        entry = {"data": cifar_images(2, i).reshape(2, -1), "labels": [i % 10] * 2}
        files[name] = pickle.dumps(entry, protocol=2)
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    files["batches.meta"] = pickle.dumps({"label_names": names}, protocol=2)
    return files


def _cifar_python(path: Path) -> None:
    folder = path / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, content in CIFAR_PY.items():
        (folder / name).write_bytes(content)


def _cifar_binary(path: Path) -> None:
    """``cifar-10-batches-bin``: records of a label byte, then the red, green, blue planes."""
    folder = path / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for i, name in enumerate(CIFAR_BATCHES):
        labels = np.full((2, 1), i, dtype=np.uint8)
        records = np.concatenate([labels, cifar_images(2, 10 + i).reshape(2, -1)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())


def stl10_files() -> dict[str, bytes]:
    """``stl10_binary``: column-major 3x96x96 images, labels 1-10 in one byte each."""

    def images(count: int, seed: int) -> bytes:
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (count, 3, 96, 96), dtype=np.uint8).tobytes()

    return {
        "train_X.bin": images(4, 0),
        "train_y.bin": bytes([1, 2, 3, 4]),
        "unlabeled_X.bin": images(6, 1),
        "test_X.bin": images(2, 2),
        "test_y.bin": bytes([9, 10]),
    }


def _stl10(path: Path) -> None:
    folder = path / "stl10_binary"
    folder.mkdir(parents=True)
    for name, content in STL10_FILES.items():
        (folder / name).write_bytes(content)


CELEBA_NAMES = ["Male", "Smiling", "Young"]
CELEBA_COUNT = 12


def celeba_attributes(count: int = CELEBA_COUNT, declared: int | None = None) -> str:
    rows = [
        f"{i + 1:06d}.jpg {' '.join('1' if (i + k) % 2 else '-1' for k in range(3))}"
        for i in range(count)
    ]
    header = [str(count if declared is None else declared), " ".join(CELEBA_NAMES)]
    return "\n".join(header + rows) + "\n"


def _celeba(path: Path) -> None:
    """CelebA's layout with 12 small JPEGs (the crop takes what there is)."""
    folder = path / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(CELEBA_COUNT):
        Image.new("RGB", (24, 30), (20 * i, 0, 255 - 20 * i)).save(images / f"{i + 1:06d}.jpg")
    (folder / "list_attr_celeba.txt").write_text(celeba_attributes())
    partition = [f"{i + 1:06d}.jpg {i % 3}" for i in range(CELEBA_COUNT)]
    (folder / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")


CIFAR_PY = cifar_python_files()
STL10_FILES = stl10_files()

EXTRA_FIXTURES = {
    "mnist": _mnist_like("MNIST"),
    "fashion": _mnist_like("FashionMNIST"),
    "cifarbin": _cifar_binary,
    "cifarpy": _cifar_python,
    "stl": _stl10,
    "celeba": _celeba,
    "faces": _image_folder,
}


def _md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


@pytest.fixture(autouse=True)
def _offline_with_fake_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network, no data root from the environment, and the fakes as official releases."""
    from torchvision.datasets import CIFAR10, STL10

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("GENTOOL_DATA_ROOT", raising=False)
    monkeypatch.setattr(CIFAR10, "train_list", [[n, _md5(CIFAR_PY[n])] for n in CIFAR_BATCHES[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(CIFAR_PY["test_batch"])]])
    meta = {**CIFAR10.meta, "md5": _md5(CIFAR_PY["batches.meta"])}
    monkeypatch.setattr(CIFAR10, "meta", meta)
    official = {name: [name, _md5(content)] for name, content in STL10_FILES.items()}
    train_list = [official["train_X.bin"], official["train_y.bin"], official["unlabeled_X.bin"]]
    monkeypatch.setattr(STL10, "train_list", train_list)
    monkeypatch.setattr(STL10, "test_list", [official["test_X.bin"], official["test_y.bin"]])


# --- special files, and a watch that none is ever opened -------------------------------------
#: FIFOs made by the current case, watched by :func:`_fifos_never_opened`.
FIFOS: list[Path] = []


@pytest.fixture(autouse=True)
def _fifos_never_opened() -> Iterator[None]:
    """Fail a case that opens one of its FIFOs (and unblock it instead of hanging)."""
    FIFOS.clear()
    opened: list[Path] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            for path in list(FIFOS):
                try:  # succeeds only while something holds the FIFO open for reading
                    descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                opened.append(path)
                os.close(descriptor)  # the reader sees the end of the file

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield
    stop.set()
    watcher.join()
    FIFOS.clear()
    assert not opened, f"FIFOs were opened for reading: {opened}"


def fifo(folder: Path, rel: str) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("this platform has no FIFOs")
    path = folder / rel
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    elif os.path.lexists(path):
        path.unlink()
    os.mkfifo(path)
    FIFOS.append(path)
    return path


def make_fifo(*rels: str) -> Setup:
    def setup(folder: Path) -> None:
        for rel in rels:
            fifo(folder, rel)

    return setup


def remove(*rels: str) -> Setup:
    def setup(folder: Path) -> None:
        for rel in rels:
            path = folder / rel
            if path.is_dir() and not path.is_symlink():
                for child in sorted(path.rglob("*"), reverse=True):
                    child.rmdir() if child.is_dir() else child.unlink()
                path.rmdir()
            else:
                path.unlink()

    return setup


def link(rel: str, target: str) -> Setup:
    """``rel`` becomes a symbolic link to ``target`` (relative to the case folder when it does
    not start with ``/``); a target named ``fifo`` is made a FIFO first."""

    def setup(folder: Path) -> None:
        if os.path.lexists(folder / rel):
            remove(rel)(folder)
        if target == "fifo":
            fifo(folder, "fifo")
        destination = Path(target) if target.startswith("/") else folder / target
        if target.startswith("/") and not destination.exists():
            pytest.skip(f"{target} does not exist here")
        (folder / rel).symlink_to(destination)

    return setup


def write(rel: str, content: bytes | str) -> Setup:
    def setup(folder: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (folder / rel).write_bytes(data)

    return setup


def cut(rel: str, drop: int) -> Setup:
    """Drop the last ``drop`` bytes of a file (a truncated download)."""

    def setup(folder: Path) -> None:
        path = folder / rel
        path.write_bytes(path.read_bytes()[:-drop])

    return setup


def flip(rel: str, offset: int) -> Setup:
    """Invert one byte in place: same size, other bytes."""

    def setup(folder: Path) -> None:
        path = folder / rel
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))

    return setup


def a_folder(rel: str) -> Setup:
    def setup(folder: Path) -> None:
        if os.path.lexists(folder / rel):
            remove(rel)(folder)
        (folder / rel).mkdir()

    return setup


def a_socket(rel: str) -> Setup:
    def setup(folder: Path) -> None:
        if not hasattr(socket, "AF_UNIX"):
            pytest.skip("this platform has no UNIX sockets")
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(folder / rel))
        except OSError as exc:  # a path over the ~100-byte limit of socket addresses
            pytest.skip(f"cannot bind a UNIX socket here: {exc}")
        finally:
            server.close()

    return setup


def unreadable(rel: str) -> Setup:
    def setup(folder: Path) -> None:
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode")
        (folder / rel).chmod(0)

    return setup


def sparse(rel: str, size: int) -> Setup:
    """A file of ``size`` bytes that takes no space (and that the harness does not hash: it
    lies beside the case folder)."""

    def setup(folder: Path) -> None:
        with open(folder.parent / rel, "wb") as handle:
            handle.truncate(size)

    return setup


def needs(device: str) -> Setup:
    def setup(folder: Path) -> None:
        if not os.path.exists(device):
            pytest.skip(f"{device} does not exist here")

    return setup


def both(*setups: Setup) -> Setup:
    def setup(folder: Path) -> None:
        for step in setups:
            step(folder)

    return setup


def lacks(text: str) -> Callable[[Path, Result], None]:
    def check(root: Path, result: Result) -> None:
        assert text not in result.output, result.output

    return check


# --- MNIST and Fashion-MNIST -----------------------------------------------------------------
RAW = "mnist/MNIST/raw"
FRAW = "fashion/FashionMNIST/raw"
MNIST = [
    Case("mnist-fake-release-trains", train("mnist", "{mnist}"), "ok", may_change=NEW),
    Case(
        "mnist-fewer-labels-than-images",
        train("mnist", "{mnist}"),
        setup=write(f"{RAW}/train-labels-idx1-ubyte", idx_bytes(1, (10,), bytes(10))),
        match=r"train-labels-idx1-ubyte holds 10 labels for the 20 images of "
        r"train-images-idx3-ubyte",
    ),
    Case(
        "mnist-label-254",
        train("mnist", "{mnist}"),
        setup=write(f"{RAW}/t10k-labels-idx1-ubyte", idx_bytes(1, (5,), bytes([1, 2, 254, 3, 4]))),
        match=r"t10k-labels-idx1-ubyte holds the label 254 \(label 3 of 5\); labels must be 0-9",
    ),
    Case(
        "mnist-labels-magic-of-images",
        train("mnist", "{mnist}"),
        setup=write(f"{RAW}/train-labels-idx1-ubyte", idx_bytes(3, (20, 1, 1), bytes(20))),
        match=r"train-labels-idx1-ubyte is not an idx file of labels: its magic number is "
        r"0x00000803, not 0x00000801",
    ),
    Case(
        "mnist-images-truncated",
        train("mnist", "{mnist}"),
        setup=cut(f"{RAW}/t10k-images-idx3-ubyte", 100),
        match=r"t10k-images-idx3-ubyte is truncated: 3,836 bytes, where its header declares "
        r"5x28x28 values",
    ),
    Case(
        "mnist-images-trailing-bytes",
        train("mnist", "{mnist}"),
        setup=write(f"{RAW}/t10k-images-idx3-ubyte", idx_bytes(3, (5, 28, 28), bytes(3925))),
        match=r"t10k-images-idx3-ubyte has 5 bytes more than the 5x28x28 values",
    ),
    Case(
        "mnist-images-32px",
        train("mnist", "{mnist}"),
        setup=write(f"{RAW}/t10k-images-idx3-ubyte", idx_bytes(3, (5, 32, 32), bytes(5120))),
        match=r"t10k-images-idx3-ubyte holds images of 32x32 pixels, not 28x28",
    ),
    Case(
        "mnist-labels-empty-file",
        train("mnist", "{mnist}"),
        setup=write(f"{RAW}/train-labels-idx1-ubyte", b""),
        match=r"train-labels-idx1-ubyte is truncated: 0 bytes",
    ),
    Case(
        "mnist-one-file-missing",
        train("mnist", "{mnist}"),
        setup=remove(f"{RAW}/t10k-labels-idx1-ubyte"),
        match=r"MNIST under \S+raw lacks t10k-labels-idx1-ubyte \(it has the other 3 of 4",
        check=lacks("could not be downloaded"),
    ),
    Case(
        "mnist-images-are-a-fifo",
        train("mnist", "{mnist}"),
        setup=make_fifo(f"{RAW}/train-images-idx3-ubyte"),
        match=r"train-images-idx3-ubyte is a FIFO \(named pipe\), not a regular file",
    ),
    Case(
        "mnist-labels-are-a-folder",
        train("mnist", "{mnist}"),
        setup=a_folder(f"{RAW}/t10k-labels-idx1-ubyte"),
        match=r"t10k-labels-idx1-ubyte is a folder, not a regular file",
    ),
    Case(
        "mnist-labels-broken-link",
        train("mnist", "{mnist}"),
        setup=link(f"{RAW}/train-labels-idx1-ubyte", "gone"),
        match=r"train-labels-idx1-ubyte is a broken symbolic link",
    ),
    Case(
        "mnist-images-link-to-fifo",
        train("mnist", "{mnist}"),
        setup=link(f"{RAW}/t10k-images-idx3-ubyte", "fifo"),
        match=r"t10k-images-idx3-ubyte is a FIFO \(named pipe\)",
    ),
    Case(
        "mnist-labels-link-to-dev-zero",
        train("mnist", "{mnist}"),
        setup=link(f"{RAW}/t10k-labels-idx1-ubyte", "/dev/zero"),
        match=r"t10k-labels-idx1-ubyte is a character device, not a regular file",
    ),
    Case(
        "mnist-data-root-is-a-fifo",
        train("mnist", "{tmp}/fifo"),
        setup=make_fifo("fifo"),
        match=r"fifo is a FIFO \(named pipe\), not a folder",
    ),
    Case(
        "mnist-raw-is-a-fifo",
        train("mnist", "{mnist}"),
        setup=both(remove(RAW), make_fifo(RAW)),
        match=r"MNIST folder \S+raw is a FIFO \(named pipe\), not a folder",
    ),
    Case(
        "fashion-fewer-labels-than-images",
        train("fashion-mnist", "{fashion}"),
        setup=write(f"{FRAW}/t10k-labels-idx1-ubyte", idx_bytes(1, (4,), bytes(4))),
        match=r"t10k-labels-idx1-ubyte holds 4 labels for the 5 images",
    ),
    Case(
        "fashion-label-10",
        train("fashion-mnist", "{fashion}"),
        setup=write(f"{FRAW}/train-labels-idx1-ubyte", idx_bytes(1, (20,), bytes([10] * 20))),
        match=r"FashionMNIST/raw/train-labels-idx1-ubyte holds the label 10 \(label 1 of 20\)",
    ),
    Case(
        "fashion-images-truncated",
        train("fashion-mnist", "{fashion}"),
        setup=cut(f"{FRAW}/train-images-idx3-ubyte", 1),
        match=r"FashionMNIST/raw/train-images-idx3-ubyte is truncated",
    ),
    Case(
        "fashion-one-file-missing",
        train("fashion-mnist", "{fashion}"),
        setup=remove(f"{FRAW}/train-images-idx3-ubyte"),
        match=r"Fashion-MNIST under \S+raw lacks train-images-idx3-ubyte",
    ),
    Case(
        "fashion-gz-is-a-fifo",
        train("fashion-mnist", "{fashion}"),
        setup=both(
            remove(f"{FRAW}/t10k-images-idx3-ubyte"),
            make_fifo(f"{FRAW}/t10k-images-idx3-ubyte.gz"),
        ),
        match=r"t10k-images-idx3-ubyte\.gz is a FIFO \(named pipe\), not a regular file",
    ),
    Case(
        "fashion-gz-holds-a-bad-file",
        train("fashion-mnist", "{fashion}"),
        setup=both(
            remove(f"{FRAW}/t10k-labels-idx1-ubyte"),
            write(f"{FRAW}/t10k-labels-idx1-ubyte.gz", gzip.compress(b"\x00\x00\x08\x01\x00")),
        ),
        may_change=(f"{FRAW}/t10k-labels-idx1-ubyte",),  # extracted from the .gz
        match=r"t10k-labels-idx1-ubyte is truncated: 5 bytes",
    ),
]

# --- CIFAR-10 ---------------------------------------------------------------------------------
BIN = "cifarbin/cifar-10-batches-bin"
PY = "cifarpy/cifar-10-batches-py"
CIFAR = [
    Case("cifar-binary-fake-release-trains", train("cifar10", "{cifarbin}"), "ok", may_change=NEW),
    Case("cifar-python-fake-release-trains", train("cifar10", "{cifarpy}"), "ok", may_change=NEW),
    Case(
        "cifar-binary-batch-missing",
        train("cifar10", "{cifarbin}"),
        setup=remove(f"{BIN}/data_batch_3.bin"),
        match=r"CIFAR-10 under \S+cifar-10-batches-bin lacks data_batch_3\.bin",
    ),
    Case(
        "cifar-binary-batch-truncated",
        train("cifar10", "{cifarbin}"),
        setup=cut(f"{BIN}/data_batch_2.bin", 1000),
        match=r"data_batch_2\.bin is not a CIFAR-10 binary batch \(5146 bytes, not a multiple "
        r"of 3073: truncated\?\)",
    ),
    Case(
        "cifar-binary-label-200",
        train("cifar10", "{cifarbin}"),
        setup=write(f"{BIN}/test_batch.bin", bytes([200]) + bytes(3072)),
        match=r"test_batch\.bin has the label 200 in record 1 of 1; CIFAR-10 labels are 0-9",
    ),
    Case(
        "cifar-binary-batch-is-a-fifo",
        train("cifar10", "{cifarbin}"),
        setup=make_fifo(f"{BIN}/data_batch_5.bin"),
        match=r"data_batch_5\.bin is a FIFO \(named pipe\), not a regular file",
    ),
    Case(
        "cifar-python-batch-missing",
        train("cifar10", "{cifarpy}"),
        setup=remove(f"{PY}/data_batch_3"),
        match=r"CIFAR-10 under \S+cifar-10-batches-py lacks data_batch_3 \(it has the other 6 "
        r"of 7 files\)",
        check=lacks("not found"),
    ),
    Case(
        "cifar-python-meta-missing",
        train("cifar10", "{cifarpy}"),
        setup=remove(f"{PY}/batches.meta"),
        match=r"lacks batches\.meta",
    ),
    Case(
        "cifar-python-batch-truncated",
        train("cifar10", "{cifarpy}"),
        setup=cut(f"{PY}/data_batch_4", 50),
        match=r"cifar-10-batches-py/data_batch_4 is not the official CIFAR-10 file \(the md5 "
        r"differs",
    ),
    Case(
        "cifar-python-batch-not-a-pickle",
        train("cifar10", "{cifarpy}"),
        setup=write(f"{PY}/test_batch", b"this is not a pickle\n"),
        match=r"cifar-10-batches-py/test_batch is not the official CIFAR-10 file",
    ),
    Case(
        "cifar-python-two-batches-corrupt",
        train("cifar10", "{cifarpy}"),
        setup=both(flip(f"{PY}/data_batch_1", 40), flip(f"{PY}/data_batch_2", 40)),
        match=r"data_batch_1 and data_batch_2 in \S+cifar-10-batches-py are not the official",
    ),
    Case(
        "cifar-python-batch-is-a-folder",
        train("cifar10", "{cifarpy}"),
        setup=a_folder(f"{PY}/data_batch_2"),
        match=r"data_batch_2 is a folder, not a regular file",
    ),
    Case(
        "cifar-python-batch-broken-link",
        train("cifar10", "{cifarpy}"),
        setup=link(f"{PY}/data_batch_1", "nowhere"),
        match=r"data_batch_1 is a broken symbolic link",
    ),
    Case(
        "cifar-data-root-dev-null",
        train("cifar10", "/dev/null"),
        setup=needs("/dev/null"),
        match=r"CIFAR-10 folder /dev/null is a character device, not a folder",
    ),
]

# --- STL-10 -----------------------------------------------------------------------------------
STL = "stl/stl10_binary"
STL_CASES = [
    Case("stl10-fake-release-trains", train("stl10", "{stl}"), "ok", may_change=NEW),
    Case(
        "stl10-unlabeled-missing",
        train("stl10", "{stl}"),
        setup=remove(f"{STL}/unlabeled_X.bin"),
        match=r"STL-10 under \S+stl10_binary lacks unlabeled_X\.bin",
        check=lacks("not found"),
    ),
    Case(
        "stl10-images-truncated",
        train("stl10-labeled", "{stl}"),
        setup=cut(f"{STL}/train_X.bin", 96),
        match=r"train_X\.bin is 110,496 bytes, not a whole number of 96x96 colour images",
    ),
    Case(
        "stl10-extra-label",
        train("stl10", "{stl}"),
        setup=write(f"{STL}/test_y.bin", bytes([1, 2, 3])),
        match=r"test_y\.bin holds 3 labels for the 2 images of test_X\.bin",
    ),
    Case(
        "stl10-images-corrupt-same-size",
        train("stl10", "{stl}"),
        setup=flip(f"{STL}/test_X.bin", 7),
        match=r"stl10_binary/test_X\.bin is not as in the official STL-10 release",
    ),
    Case(
        "stl10-labels-are-a-fifo",
        train("stl10-labeled", "{stl}"),
        setup=make_fifo(f"{STL}/train_y.bin"),
        match=r"train_y\.bin is a FIFO \(named pipe\), not a regular file",
    ),
    Case(
        "stl10-images-broken-link",
        train("stl10", "{stl}"),
        setup=link(f"{STL}/test_X.bin", "gone.bin"),
        match=r"test_X\.bin is a broken symbolic link",
    ),
]

# --- CelebA -----------------------------------------------------------------------------------
CELEBA = "celeba/celeba"
CELEBA_CASES = [
    Case(
        "celeba-fake-release-trains",
        train("celeba", "{celeba}", "--label-column", "smiling"),
        "ok",
        may_change=NEW,
    ),
    Case(
        "celeba-partition-file-missing",
        train("celeba", "{celeba}"),
        setup=remove(f"{CELEBA}/list_eval_partition.txt"),
        match=r"CelebA under \S+celeba lacks list_eval_partition\.txt \(it has the other 2",
        check=lacks("list_attr_celeba.txt"),
    ),
    Case(
        "celeba-images-folder-missing",
        train("celeba", "{celeba}"),
        setup=remove(f"{CELEBA}/img_align_celeba"),
        match=r"lacks img_align_celeba/ \(it has the other 2",
    ),
    Case(
        "celeba-two-files-missing",
        train("celeba", "{celeba}"),
        setup=remove(f"{CELEBA}/list_eval_partition.txt", f"{CELEBA}/list_attr_celeba.txt"),
        match=r"lacks list_attr_celeba\.txt and list_eval_partition\.txt \(it has the other 1",
    ),
    Case(
        "celeba-attribute-value-2",
        train("celeba", "{celeba}"),
        setup=write(
            f"{CELEBA}/list_attr_celeba.txt",
            celeba_attributes().replace("000003.jpg -1 1 -1", "000003.jpg -1 2 -1"),
        ),
        match=r"list_attr_celeba\.txt line 5 is not 'file' followed by 3 values of 1 or -1",
    ),
    Case(
        "celeba-attribute-file-truncated",
        train("celeba", "{celeba}"),
        setup=write(f"{CELEBA}/list_attr_celeba.txt", celeba_attributes(10, declared=12)),
        match=r"list_attr_celeba\.txt declares 12 images on line 1 but lists 10",
    ),
    Case(
        "celeba-attribute-file-repeats-an-image",
        train("celeba", "{celeba}"),
        setup=write(
            f"{CELEBA}/list_attr_celeba.txt",
            celeba_attributes().replace("000004.jpg", "000002.jpg"),
        ),
        match=r"list_attr_celeba\.txt line 6 lists 000002\.jpg again \(first on line 4\)",
    ),
    Case(
        "celeba-attribute-file-not-utf8",
        train("celeba", "{celeba}"),
        setup=write(f"{CELEBA}/list_attr_celeba.txt", b"12\nMale Sm\xefling Young\n"),
        match=r"list_attr_celeba\.txt is not UTF-8 text \(byte 0xef",
    ),
    Case(
        "celeba-attribute-file-is-a-fifo",
        train("celeba", "{celeba}"),
        setup=make_fifo(f"{CELEBA}/list_attr_celeba.txt"),
        match=r"CelebA file \S+list_attr_celeba\.txt is a FIFO \(named pipe\), not a regular",
    ),
    Case(
        "celeba-images-folder-is-a-file",
        train("celeba", "{celeba}"),
        setup=both(remove(f"{CELEBA}/img_align_celeba"), write(f"{CELEBA}/img_align_celeba", "")),
        match=r"img_align_celeba is a file, not a folder",
    ),
    Case(
        "celeba-image-fifo-skipped-by-name",
        train("celeba", "{celeba}"),
        "ok",
        setup=make_fifo(f"{CELEBA}/img_align_celeba/000002.jpg"),
        may_change=NEW,
        match=r"skipped 1 of 12 images under \S+img_align_celeba that could not be decoded: "
        r"000002\.jpg \(a FIFO \(named pipe\), not a regular file\)",
    ),
]

# --- a folder of images and its labels CSV ----------------------------------------------------
FOLDER = [
    Case(
        "folder-fifo-image-skipped-by-name",
        train("folder", "{faces}"),
        "ok",
        setup=make_fifo("faces/pipe.png"),
        may_change=NEW,
        match=r"skipped 1 of 13 images under \S+faces that could not be decoded: pipe\.png "
        r"\(a FIFO \(named pipe\), not a regular file\)",
    ),
    Case(
        "folder-link-to-fifo-skipped-by-name",
        train("folder", "{faces}"),
        "ok",
        setup=link("faces/link.png", "fifo"),
        may_change=NEW,
        match=r"skipped 1 of 13 .*link\.png \(a FIFO \(named pipe\)",
    ),
    Case(
        "folder-broken-link-skipped-by-name",
        train("folder", "{faces}"),
        "ok",
        setup=link("faces/ghost.png", "gone.png"),
        may_change=NEW,
        match=r"skipped 1 of 13 .*ghost\.png \(a broken symbolic link\)",
    ),
    Case(
        "folder-link-to-dev-zero-skipped-by-name",
        train("folder", "{faces}"),
        "ok",
        setup=link("faces/zero.png", "/dev/zero"),
        may_change=NEW,
        match=r"zero\.png \(a character device, not a regular file\)",
    ),
    Case(
        "folder-socket-skipped-by-name",
        train("folder", "{faces}"),
        "ok",
        setup=a_socket("faces/sock.png"),
        may_change=NEW,
        match=r"sock\.png \(a socket, not a regular file\)",
    ),
    Case(
        "folder-only-fifos",
        train("folder", "{tmp}/pipes"),
        setup=both(
            lambda folder: (folder / "pipes").mkdir(),
            make_fifo(*[f"pipes/p{i:02d}.png" for i in range(12)]),
        ),
        match=r"none of the 12 images under \S+pipes could be decoded \(first: p00\.png: a FIFO",
    ),
    Case(
        "folder-data-root-is-a-fifo",
        train("folder", "{tmp}/fifo"),
        setup=make_fifo("fifo"),
        match=r"data folder \S+fifo is not a directory \(a FIFO \(named pipe\)\)",
    ),
    Case(
        "folder-data-root-broken-link",
        train("folder", "{tmp}/link"),
        setup=link("link", "gone"),
        match=r"data folder \S+link is a broken symbolic link",
    ),
    Case(
        "folder-subfolder-unreadable",
        train("folder", "{faces}"),
        setup=both(a_folder("faces/locked"), unreadable("faces/locked")),
        match=r"cannot list the image folder \S+locked: Permission denied",
    ),
    Case(
        "labels-csv-is-a-fifo",
        train("folder", "{faces}", "--labels", "{tmp}/labels.csv"),
        setup=make_fifo("labels.csv"),
        match=r"labels file \S+labels\.csv is a FIFO \(named pipe\), not a regular file",
    ),
    Case(
        "labels-csv-is-dev-zero",
        train("folder", "{faces}", "--labels", "/dev/zero"),
        setup=needs("/dev/zero"),
        match=r"labels file /dev/zero is a character device, not a regular file",
    ),
    Case(
        "labels-csv-link-to-fifo",
        train("folder", "{faces}", "--labels", "{tmp}/labels.csv"),
        setup=link("labels.csv", "fifo"),
        match=r"labels\.csv is a FIFO \(named pipe\), not a regular file",
    ),
    Case(
        "labels-csv-is-a-folder",
        train("folder", "{faces}", "--labels", "{tmp}"),
        match=r"--labels.*is a directory",
    ),
    Case(
        "labels-csv-broken-link",
        train("folder", "{faces}", "--labels", "{tmp}/labels.csv"),
        setup=link("labels.csv", "gone.csv"),
        match=r"labels\.csv is a broken symbolic link",
    ),
    Case(
        "labels-csv-not-utf8",
        train("folder", "{faces}", "--labels", "{tmp}/labels.csv"),
        setup=write("labels.csv", "file,kind\nimg00.png,caf\xe9\n".encode("latin-1")),
        match=r"labels file \S+labels\.csv is not UTF-8 text \(byte 0xe9\); save it as a UTF-8",
    ),
    Case(
        "labels-csv-huge",
        train("folder", "{faces}", "--labels", "{tmp}/../huge.csv"),
        setup=sparse("huge.csv", 600 * 2**20),
        match=r"huge\.csv is 600 MiB, more than the 512 MiB such a file can be",
    ),
    Case(
        "labels-csv-unreadable",
        train("folder", "{faces}", "--labels", "{tmp}/labels.csv"),
        setup=both(write("labels.csv", "file,kind\n"), unreadable("labels.csv")),
        match=r"cannot read labels file \S+labels\.csv: Permission denied",
    ),
]

# --- a model asking for labels the data does not have ------------------------------------------
ACGAN = [
    Case(
        "acgan-celeba-suggests-label-column",
        train("celeba", "{celeba}", model="acgan"),
        match=r"acgan needs labelled data with at least 2 classes, and dataset 'celeba' has 0; "
        r"pass --label-column ATTRIBUTE",
        check=lacks("--labels"),
    ),
    Case(
        "acgan-folder-suggests-sub-folders-or-csv",
        train("folder", "{faces}", model="acgan"),
        match=r"dataset 'folder' has 0; put the images in one sub-folder per class, or pass "
        r"--labels CSV --label-column COLUMN",
    ),
    Case(
        "acgan-celeba-with-label-column-trains",
        train("celeba", "{celeba}", "--label-column", "Male", model="acgan"),
        "ok",
        may_change=NEW,
    ),
]

ALL = MNIST + CIFAR + STL_CASES + CELEBA_CASES + FOLDER + ACGAN


@pytest.mark.parametrize("case", ALL, ids=str)
def test_data_case(case: Case, hostile: object) -> None:
    hostile(case)  # type: ignore[operator]


def test_case_ids_are_unique_across_the_hostile_suite() -> None:
    ids = [case.id for case in ALL]
    assert len(ids) == len(set(ids))
    others: set[str] = set()
    for module in Path(__file__).parent.glob("test_*.py"):
        if module.name != Path(__file__).name:
            text = module.read_text(encoding="utf-8")
            others.update(re.findall(r'Case\(\s*(?:id=)?"([^"]+)"', text))
    assert not set(ids) & others, set(ids) & others
