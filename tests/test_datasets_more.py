"""Fashion-MNIST, CIFAR-10, STL-10 and CelebA, on tiny files in the real on-disk formats.

No test reaches the network: sockets refuse to connect, so the offline tests run the real
download code and check that its failure is one line saying where to put the files.
"""

from __future__ import annotations

import gzip
import pickle
import socket
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from gentool.data import celeba as data_celeba
from gentool.data import stl10 as data_stl10
from gentool.data.base import DataSpec, ImageData
from gentool.data.celeba import CelebaDataset
from gentool.data.checks import check_loaded, loaded_problem
from gentool.data.decode import DataWarning
from gentool.data.stl10 import Stl10Dataset, Stl10LabeledDataset
from gentool.data.torchvision_sets import (
    CIFAR_CLASSES,
    FASHION_CLASSES,
    Cifar10Dataset,
    FashionMnistDataset,
    to_channels,
)
from gentool.errors import DataError, PluginError
from gentool.loading import load_data

NEW = (FashionMnistDataset, Cifar10Dataset, Stl10Dataset, Stl10LabeledDataset, CelebaDataset)


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache, no data root from the environment, and no network at all."""
    monkeypatch.setenv("GENTOOL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GENTOOL_NO_CACHE", raising=False)
    monkeypatch.delenv("GENTOOL_DATA_ROOT", raising=False)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def assert_one_line_offline(error: pytest.ExceptionInfo[DataError], start: str, layout: str):
    message = error.value.message
    assert message.startswith(start), message
    assert "could not be downloaded" in message
    assert f"--data-root DIR containing {layout}" in message
    assert "\n" not in message


# --- registration and the shared contract ---------------------------------------------------


def test_new_datasets_are_registered_with_their_contract() -> None:
    from gentool.plugins import build_registry

    names = set(build_registry("none").names("dataset"))
    for cls in NEW:
        assert cls.PLUGIN_NAME in names
        assert cls.DESCRIPTION and cls.DEFAULT_SIZE and cls.USES is not None
        assert "root" in cls.USES and "labels" not in cls.USES


@pytest.mark.parametrize("option", ["labels", "label_column"])
def test_options_a_dataset_does_not_read_are_refused_by_name(option: str) -> None:
    spec = DataSpec(name="cifar10", **{option: "x"})
    flag = "--labels" if option == "labels" else "--label-column"
    with pytest.raises(DataError, match=f"{flag} does not apply to dataset 'cifar10'"):
        load_data(spec)
    with pytest.raises(DataError, match="--labels does not apply to dataset 'celeba'"):
        load_data(DataSpec(name="celeba", labels="tags.csv"))


@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.PLUGIN_NAME)
def test_memory_is_checked_before_reading(
    cls: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gentool.runtime.available_memory", lambda: 1000)
    with pytest.raises(DataError, match="use a smaller --image-size"):
        cls().load(DataSpec(name=cls.PLUGIN_NAME, root=str(tmp_path), image_size=64))


def test_colour_to_grey_matches_pillow() -> None:
    rgb = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    grey = to_channels(rgb, 1)
    for i in range(2):
        pil = Image.fromarray(rgb[i].permute(1, 2, 0).numpy()).convert("L")
        assert np.array_equal(grey[i, 0].numpy(), np.asarray(pil))


# --- Fashion-MNIST ----------------------------------------------------------------------------


def write_idx(raw: Path, prefix: str, labels: list[int], packed: bool = False) -> None:
    """MNIST-format idx files; image i has a bright row at height ``labels[i]``."""
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, label, :] = 255
    files = {
        f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 0x803, len(labels), 28, 28)
        + images.tobytes(),
        f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 0x801, len(labels)) + bytes(labels),
    }
    raw.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if packed:
            (raw / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (raw / name).write_bytes(content)


@pytest.mark.parametrize("packed", [False, True], ids=["idx", "gz"])
def test_fashion_mnist_reads_both_splits_test_last(tmp_path: Path, packed: bool) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx(raw, "train", [3, 1, 4], packed)
    write_idx(raw, "t10k", [9, 2], packed)

    spec = DataSpec(name="fashion-mnist", root=str(tmp_path))
    data = check_loaded(FashionMnistDataset, FashionMnistDataset().load(spec), spec)
    assert data.images.shape == (5, 1, 28, 28)
    assert data.labels is not None and data.labels.tolist() == [3, 1, 4, 9, 2]
    assert data.class_names == FASHION_CLASSES and data.class_names[0] == "T-shirt/top"
    assert data.attributes["partition"].tolist() == [0, 0, 0, 1, 1]
    assert data.attribute_names["partition"] == ["train", "test"]
    assert int(data.images[3, 0, 9].min()) == 255

    same = FashionMnistDataset().load(
        DataSpec(name="fashion-mnist", root=str(raw), image_size=32, channels=3)
    )
    assert same.images.shape == (5, 3, 32, 32)


def test_fashion_mnist_offline_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        FashionMnistDataset().load(DataSpec(name="fashion-mnist", root=str(tmp_path)))
    assert_one_line_offline(error, f"Fashion-MNIST not found under {tmp_path}", "FashionMNIST/raw")


# --- CIFAR-10 ---------------------------------------------------------------------------------


def cifar_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)


def write_cifar_python(root: Path, per_batch: int = 2) -> list[np.ndarray]:
    """``cifar-10-batches-py`` as the official archive has it (pickled dicts)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = []
    for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
        images = cifar_images(per_batch, i)
        entry = {"data": images.reshape(per_batch, -1), "labels": [i % 10] * per_batch}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        written.append(images)
    meta = {"label_names": CIFAR_CLASSES}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_cifar10_python_version_through_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.cifar as tv_cifar

    written = write_cifar_python(tmp_path)
    # The tiny files are not the official bytes: accept any existing file instead of its md5.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    spec = DataSpec(name="cifar10", root=str(tmp_path))
    data = check_loaded(Cifar10Dataset, Cifar10Dataset().load(spec), spec)
    assert data.images.shape == (12, 3, 32, 32)
    assert torch.equal(data.images, torch.from_numpy(np.concatenate(written)))
    assert data.labels is not None and data.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert data.class_names[0] == "airplane" and len(data.class_names) == 10
    assert data.attributes["partition"].tolist() == [0] * 10 + [1] * 2


class _Trap:
    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(_Trap.marker),))

    marker = ""


def test_cifar10_refuses_to_unpickle_files_that_are_not_the_official_ones(
    tmp_path: Path,
) -> None:
    write_cifar_python(tmp_path)
    _Trap.marker = str(tmp_path / "unpickled")
    payload = pickle.dumps({"data": _Trap(), "labels": [0]}, protocol=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(payload)
    with pytest.raises(DataError) as error:
        Cifar10Dataset().load(DataSpec(name="cifar10", root=str(tmp_path)))
    assert "unreadable or not the official ones" in error.value.message
    assert not (tmp_path / "unpickled").exists()


def write_cifar_binary(root: Path, per_batch: int = 2) -> list[np.ndarray]:
    """``cifar-10-batches-bin``: records of one label byte then the red, green, blue planes."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    written = []
    for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
        images = cifar_images(per_batch, 10 + i)
        labels = np.full((per_batch, 1), 9 - i, dtype=np.uint8)
        records = np.concatenate([labels, images.reshape(per_batch, -1)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
        written.append(images)
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n")
    return written


def test_cifar10_binary_version_without_pickle(tmp_path: Path) -> None:
    written = write_cifar_binary(tmp_path)
    write_cifar_python(tmp_path)  # both present: the binary version wins, nothing unpickled
    spec = DataSpec(name="cifar10", root=str(tmp_path / "cifar-10-batches-bin"), channels=1)
    data = check_loaded(Cifar10Dataset, Cifar10Dataset().load(spec), spec)
    assert data.images.shape == (12, 1, 32, 32)
    colour = torch.from_numpy(np.concatenate(written))
    assert torch.equal(data.images, to_channels(colour, 1))
    assert data.labels is not None and data.labels.tolist()[::2] == [9, 8, 7, 6, 5, 4]

    (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"test_batch\.bin is not a CIFAR-10 binary batch"):
        Cifar10Dataset().load(spec)


def test_cifar10_offline_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        Cifar10Dataset().load(DataSpec(name="cifar10", root=str(tmp_path)))
    assert_one_line_offline(error, f"CIFAR-10 not found under {tmp_path}", "cifar-10-batches-py")
    assert "cifar-10-python.tar.gz" in error.value.message


# --- STL-10 -----------------------------------------------------------------------------------


def write_stl10(root: Path, train: list[int], test: list[int], unlabeled: int) -> Path:
    """``stl10_binary``: column-major 3x96x96 images; labels 1-10 in one byte each.

    Image i of every part is black with a bright row at height ``10 + i``.
    """
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)

    def images(count: int) -> bytes:
        out = np.zeros((count, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
        for i in range(count):
            out[i, :, 10 + i, :] = 255
        return out.transpose(0, 1, 3, 2).tobytes()  # stored column by column

    (folder / "train_X.bin").write_bytes(images(len(train)))
    (folder / "train_y.bin").write_bytes(bytes(label + 1 for label in train))
    (folder / "test_X.bin").write_bytes(images(len(test)))
    (folder / "test_y.bin").write_bytes(bytes(label + 1 for label in test))
    (folder / "unlabeled_X.bin").write_bytes(images(unlabeled))
    (folder / "class_names.txt").write_text("\n".join(data_stl10.CLASSES) + "\n")
    return folder


@pytest.fixture
def tiny_integrity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny files are not the official bytes: accept any existing file instead."""
    import torchvision.datasets.stl10 as tv_stl10

    monkeypatch.setattr(tv_stl10, "check_integrity", lambda path, md5=None: Path(path).is_file())


def test_stl10_all_parts_unlabelled_as_minus_one_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_integrity: None
) -> None:
    write_stl10(tmp_path, train=[0, 7], test=[9, 3], unlabeled=3)
    spec = DataSpec(name="stl10", root=str(tmp_path), image_size=96)
    data = check_loaded(Stl10Dataset, Stl10Dataset().load(spec), spec)
    assert data.images.shape == (7, 3, 96, 96)
    assert data.labels is not None and data.labels.tolist() == [0, 7, -1, -1, -1, 9, 3]
    assert data.class_names[2] == "car"
    assert data.attributes["partition"].tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert data.attribute_names["partition"] == ["train", "unlabeled", "test"]
    for index, row in zip([0, 1, 2, 4, 6], [10, 11, 10, 12, 11], strict=True):
        assert int(data.images[index, :, row].min()) == 255  # rows, not columns
        assert int(data.images[index, :, row + 1].max()) == 0

    def refuse(*args: Any) -> None:
        raise AssertionError("read again instead of using the cache")

    monkeypatch.setattr(data_stl10, "read_part", refuse)
    again = Stl10Dataset().load(spec)
    assert torch.equal(again.images, data.images) and torch.equal(again.labels, data.labels)
    assert again.attributes["partition"].tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_stl10_labeled_only_and_default_size(tmp_path: Path, tiny_integrity: None) -> None:
    write_stl10(tmp_path, train=[1, 2], test=[5], unlabeled=2)
    spec = DataSpec(name="stl10-labeled", root=str(tmp_path / "stl10_binary"))
    data = check_loaded(Stl10LabeledDataset, Stl10LabeledDataset().load(spec), spec)
    assert data.images.shape == (3, 3, 64, 64)
    assert data.labels is not None and data.labels.tolist() == [1, 2, 5]
    assert data.attributes["partition"].tolist() == [0, 0, 2]


def test_stl10_label_out_of_range_is_refused(tmp_path: Path, tiny_integrity: None) -> None:
    folder = write_stl10(tmp_path, train=[1, 2], test=[5], unlabeled=1)
    (folder / "train_y.bin").write_bytes(bytes([0, 3]))  # 0 is not an STL-10 label (1-10)
    with pytest.raises(DataError, match="not the STL-10 release"):
        Stl10LabeledDataset().load(DataSpec(name="stl10-labeled", root=str(tmp_path)))


def test_stl10_files_that_fail_the_md5_check_are_one_line(tmp_path: Path) -> None:
    write_stl10(tmp_path, train=[1], test=[2], unlabeled=1)
    with pytest.raises(DataError) as error:
        Stl10Dataset().load(DataSpec(name="stl10", root=str(tmp_path)))
    message = error.value.message
    assert message.startswith(f"STL-10 files under {tmp_path} are unreadable or not the official")
    assert "delete them to download them again" in message and "\n" not in message


def test_stl10_offline_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        Stl10Dataset().load(DataSpec(name="stl10", root=str(tmp_path)))
    assert_one_line_offline(error, f"STL-10 not found under {tmp_path}", "stl10_binary")


# --- CelebA -----------------------------------------------------------------------------------

CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]


def write_celeba(folder: Path, count: int = 4) -> list[str]:
    """Aligned-and-cropped CelebA: 178x218 JPEGs, red outside the 108 px centre, blue in it.

    Image i is Smiling when i is odd, Male when i is even; partitions cycle 0, 1, 2.
    """
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    files = [f"{i + 1:06d}.jpg" for i in range(count)]
    for name in files:
        picture = Image.new("RGB", (178, 218), (255, 0, 0))
        picture.paste((0, 0, 255), (35, 55, 35 + 108, 55 + 108))
        picture.save(images / name, quality=95)
    rows = []
    for i, name in enumerate(files):
        values = ["-1"] * len(CELEBA_ATTRIBUTES)
        values[CELEBA_ATTRIBUTES.index("Smiling" if i % 2 else "Male")] = "1"
        rows.append(f"{name} " + " ".join(f"{v:>2}" for v in values))
    header = [str(count), " ".join(CELEBA_ATTRIBUTES) + " "]
    (folder / "list_attr_celeba.txt").write_text("\n".join(header + rows) + "\n")
    partition = [f"{name} {i % 3}" for i, name in enumerate(files)]
    (folder / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    return files


def test_celeba_crop_attributes_and_labels(tmp_path: Path) -> None:
    write_celeba(tmp_path / "celeba")
    spec = DataSpec(name="celeba", root=str(tmp_path), image_size=16, label_column="smiling")
    data = check_loaded(CelebaDataset, CelebaDataset().load(spec), spec)
    assert data.images.shape == (4, 3, 16, 16)
    # Only the blue 108 px centre square is kept: red shows only as the resize filter's
    # and JPEG's faint bleed on the outermost pixels (a 140 px crop would show pure red there).
    assert int(data.images[:, 0, 1:-1, 1:-1].max()) < 10 and int(data.images[:, 0].max()) < 80
    assert int(data.images[:, 2].min()) > 200
    assert data.labels is not None and data.labels.tolist() == [0, 1, 0, 1]
    assert data.class_names == ["not Smiling", "Smiling"]
    assert set(data.attributes) == {*CELEBA_ATTRIBUTES, "partition"}
    assert data.attributes["Male"].tolist() == [1, 0, 1, 0]
    assert data.attribute_names["Wearing_Hat"] == ["not Wearing Hat", "Wearing Hat"]
    assert data.attributes["partition"].tolist() == [0, 1, 2, 0]
    assert data.attribute_names["partition"] == ["train", "valid", "test"]
    assert len(data.files) == 4 and data.files[0].endswith("img_align_celeba/000001.jpg")


def test_celeba_layout_directly_in_root_default_size_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_celeba(tmp_path, count=3)
    spec = DataSpec(name="celeba", root=str(tmp_path), channels=1)
    data = check_loaded(CelebaDataset, CelebaDataset().load(spec), spec)
    assert data.images.shape == (3, 1, 64, 64) and data.labels is None

    def refuse(*args: Any) -> None:
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(data_celeba, "decode_faces", refuse)
    again = CelebaDataset().load(DataSpec(name="celeba", root=str(tmp_path), channels=1))
    assert torch.equal(again.images, data.images)
    labelled = CelebaDataset().load(
        DataSpec(name="celeba", root=str(tmp_path), channels=1, label_column="Male")
    )
    assert labelled.labels is not None and labelled.labels.tolist() == [1, 0, 1]


def test_celeba_corrupt_image_skipped_and_unknown_column(tmp_path: Path) -> None:
    files = write_celeba(tmp_path, count=3)
    (tmp_path / "img_align_celeba" / files[1]).write_bytes(b"not a jpeg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = CelebaDataset().load(
            DataSpec(name="celeba", root=str(tmp_path), image_size=8, label_column="Male")
        )
    assert any(issubclass(w.category, DataWarning) and files[1] in str(w.message) for w in caught)
    assert len(data) == 2 and data.labels is not None and data.labels.tolist() == [1, 1]
    assert data.attributes["partition"].tolist() == [0, 2]

    with pytest.raises(DataError, match=r"CelebA has no attribute 'Smile'.*Smiling"):
        CelebaDataset().load(DataSpec(name="celeba", root=str(tmp_path), label_column="Smile"))


def test_celeba_offline_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        CelebaDataset().load(DataSpec(name="celeba", root=str(tmp_path)))
    message = error.value.message
    assert message.startswith(f"CelebA not found under {tmp_path / 'celeba'}"), message
    assert "img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt" in message
    assert "\n" not in message


# --- check_loaded -----------------------------------------------------------------------------


def good_data(count: int = 3) -> ImageData:
    return ImageData(
        images=torch.zeros((count, 3, 8, 8), dtype=torch.uint8),
        name="toy",
        labels=torch.tensor([0, 1, -1]),
        class_names=["a", "b"],
        attributes={"hair": torch.tensor([0, -1, 0])},
        attribute_names={"hair": ["red"]},
    )


def test_check_loaded_accepts_the_contract() -> None:
    data = good_data()
    assert check_loaded(CelebaDataset, data, DataSpec(image_size=8, channels=3)) is data
    assert loaded_problem(data, DataSpec()) is None


@pytest.mark.parametrize(
    "breach, expected",
    [
        (lambda d: "not data", "returned a str from load, not an ImageData"),
        (lambda d: setattr(d, "images", d.images.float()), "not a uint8 tensor"),
        (lambda d: setattr(d, "images", d.images[:, :2]), "with 2 channels"),
        (lambda d: setattr(d, "images", d.images[:, :, :4]), "4x8 images; they must be square"),
        (lambda d: setattr(d, "labels", torch.tensor([0, 2, 0])), "labels from 0 to 2"),
        (lambda d: setattr(d, "labels", torch.tensor([0.0, 1.0, 0.0])), "dtype torch.float32"),
        (lambda d: setattr(d, "labels", torch.tensor([0, 1])), "shape (2,)"),
        (lambda d: d.attribute_names.clear(), "attribute 'hair' without its names"),
        (lambda d: setattr(d, "files", ["x.png"]), "1 file names for 3 images"),
    ],
)
def test_check_loaded_refuses_each_breach_in_one_line(breach: Any, expected: str) -> None:
    data = good_data()
    result = breach(data)
    returned = data if result is None else result
    with pytest.raises(PluginError) as error:
        check_loaded(Cifar10Dataset, returned, DataSpec())
    assert error.value.message.startswith("dataset 'cifar10' ")
    assert expected in error.value.message
    assert "bug in the dataset plugin" in error.value.message


def test_check_loaded_names_a_third_party_distribution() -> None:
    with pytest.raises(PluginError, match=r"^dataset 'cifar10' \(gentool-shards\) returned"):
        check_loaded(Cifar10Dataset, "x", DataSpec(), distribution="gentool-shards")


def test_check_loaded_compares_with_the_request() -> None:
    with pytest.raises(PluginError, match="8x8 images when 16x16 were asked for"):
        check_loaded(Cifar10Dataset, good_data(), DataSpec(image_size=16))
    with pytest.raises(PluginError, match="3-channel images when 1 were asked for"):
        check_loaded(Cifar10Dataset, good_data(), DataSpec(channels=1))


# --- through the command line -----------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10", "stl10", "celeba"])
def test_cli_offline_is_one_error_line_and_exit_2(dataset: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gentool.cli.main import cli

    root = tmp_path / "data"
    root.mkdir()
    args = ["train", "dcgan", "--dataset", dataset, "--data-root", str(root)]
    result = CliRunner().invoke(cli, [*args, "--steps", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "could not be downloaded" in errors[0]
    assert "--data-root DIR containing" in errors[0]
    assert "Traceback" not in result.output
