"""The data layer: image folders, CSV labels, corrupt files, the decoded cache, MNIST."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from gentool.data import cache as data_cache
from gentool.data import folder as data_folder
from gentool.data.base import DataSpec, ImageData, apply_split
from gentool.data.decode import MAX_PIXELS, DataWarning, decode_image
from gentool.data.folder import AnimeFacesDataset, FolderDataset, list_images
from gentool.data.mnist import MnistDataset
from gentool.errors import DataError
from gentool.loading import load_data

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache folder: nothing is written to the home directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENTOOL_CACHE_DIR", str(cache))
    monkeypatch.delenv("GENTOOL_NO_CACHE", raising=False)
    monkeypatch.delenv("GENTOOL_ANIME_FACES", raising=False)
    monkeypatch.delenv("GENTOOL_DATA_ROOT", raising=False)
    return cache


def save_solid(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (12, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels but carries almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def load_folder(root: Path, **spec: Any) -> ImageData:
    return FolderDataset().load(DataSpec(name="folder", root=str(root), **spec))


# --- folders and labels ---------------------------------------------------------------------


def test_subfolders_become_sorted_class_labels(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    save_solid(root / "dog" / "b.PNG", (0, 0, 255))
    save_solid(root / "cat" / "a.jpg", (255, 0, 0))
    save_solid(root / "cat" / "deep" / "c.JpEg", (255, 0, 0))
    save_solid(root / "loose.bmp", (0, 255, 0))
    save_solid(root / ".hidden" / "x.png", (0, 0, 0))
    save_solid(root / "cat" / ".y.png", (0, 0, 0))
    (root / "notes.txt").write_text("not an image")

    data = load_folder(root, image_size=8)

    assert [Path(f).relative_to(root).as_posix() for f in data.files] == [
        "cat/a.jpg",
        "cat/deep/c.JpEg",
        "dog/b.PNG",
        "loose.bmp",
    ]
    assert data.class_names == ["cat", "dog"]
    assert data.labels is not None
    assert data.labels.tolist() == [0, 0, 1, -1]
    assert data.images.shape == (4, 3, 8, 8)
    assert data.images.dtype == torch.uint8


def test_one_subfolder_gives_no_labels(tmp_path: Path) -> None:
    save_solid(tmp_path / "only" / "a.png", (1, 2, 3))
    save_solid(tmp_path / "only" / "b.png", (1, 2, 3))
    data = load_folder(tmp_path / "only" / "..", image_size=4)
    assert data.labels is None
    assert data.class_names == []


def write_tags(root: Path) -> Path:
    for name, color in [("a.png", (255, 0, 0)), ("b.png", (0, 255, 0)), ("c.png", (0, 0, 255))]:
        save_solid(root / "images" / name, color)
    save_solid(root / "images" / "sub" / "d.png", (9, 9, 9))
    tags = root / "tags.csv"
    tags.write_text(
        "file,hair,eyes\n"
        "images/a.png,red,blue\n"  # relative to the CSV's folder
        "b.png,blue,\n"  # bare file name
        "images/sub/d.png,red,green\n"
    )
    return tags


def test_csv_gives_labels_and_every_column_as_attribute(tmp_path: Path) -> None:
    tags = write_tags(tmp_path)
    data = load_folder(tmp_path / "images", labels=str(tags), label_column="hair", image_size=4)

    assert [Path(f).name for f in data.files] == ["a.png", "b.png", "c.png", "d.png"]
    assert data.class_names == ["blue", "red"]
    assert data.labels is not None
    assert data.labels.tolist() == [1, 0, -1, 1]  # c.png is untagged
    assert data.attribute_names == {"hair": ["blue", "red"], "eyes": ["blue", "green"]}
    assert data.attributes["eyes"].tolist() == [0, -1, -1, 1]
    assert data.attributes["eyes"].dtype == torch.int64


def test_csv_label_column_defaults_to_first_after_file(tmp_path: Path) -> None:
    tags = write_tags(tmp_path)
    data = load_folder(tmp_path / "images", labels=str(tags), image_size=4)
    assert data.class_names == ["blue", "red"]


def test_csv_unknown_column_is_one_line_error(tmp_path: Path) -> None:
    tags = write_tags(tmp_path)
    with pytest.raises(DataError) as error:
        load_folder(tmp_path / "images", labels=str(tags), label_column="hat")
    assert "no column 'hat'" in error.value.message
    assert "file, hair, eyes" in error.value.message
    assert "\n" not in error.value.message


def test_csv_rows_without_image_warn_and_all_missing_is_error(tmp_path: Path) -> None:
    tags = write_tags(tmp_path)
    with tags.open("a") as handle:
        handle.write("gone.png,black,black\n")
    with pytest.warns(DataWarning, match="1 of 4 rows of tags.csv name no image"):
        load_folder(tmp_path / "images", labels=str(tags))

    tags.write_text("file,hair\nx.png,red\ny.png,blue\n")
    with pytest.raises(DataError, match="none of the 2 rows"):
        load_folder(tmp_path / "images", labels=str(tags))

    tags.write_text("file,hair\n")
    with pytest.raises(DataError, match="no rows"):
        load_folder(tmp_path / "images", labels=str(tags))


def test_numeric_class_names_sort_as_numbers(tmp_path: Path) -> None:
    for digit in (2, 10, 1):
        save_solid(tmp_path / str(digit) / "x.png", (digit, digit, digit))
    data = load_folder(tmp_path, image_size=4)
    assert data.class_names == ["1", "2", "10"]


# --- resolution and channels ----------------------------------------------------------------


def test_shorter_side_is_resized_and_centre_cropped(tmp_path: Path) -> None:
    # 60x20: red | green | red. The centre 20x20 square is green, with a 2-pixel green margin
    # for the bicubic filter, which also reads just outside the crop.
    wide = Image.new("RGB", (60, 20), (255, 0, 0))
    wide.paste((0, 255, 0), (18, 0, 42, 20))
    wide.save(tmp_path / "wide.png")

    data = load_folder(tmp_path, image_size=10)

    assert data.images.shape == (1, 3, 10, 10)
    pixels = data.images[0].reshape(3, -1)
    assert pixels[1].min() >= 250 and pixels[0].max() <= 5 and pixels[2].max() <= 5


def test_default_size_is_64_and_one_channel_is_grey(tmp_path: Path) -> None:
    save_solid(tmp_path / "a.png", (255, 0, 0), size=(100, 80))
    assert load_folder(tmp_path).images.shape == (1, 3, 64, 64)

    grey = load_folder(tmp_path, image_size=16, channels=1).images
    assert grey.shape == (1, 1, 16, 16)
    assert int(grey[0, 0, 8, 8]) == 76  # ITU-R 601-2 luma of pure red: 0.299 * 255


def test_upscales_small_images(tmp_path: Path) -> None:
    save_solid(tmp_path / "tiny.png", (10, 20, 30), size=(3, 5))
    data = load_folder(tmp_path, image_size=32)
    assert data.images.shape == (1, 3, 32, 32)
    assert data.images[0, :, 16, 16].tolist() == [10, 20, 30]


# --- modes that decode ----------------------------------------------------------------------


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[65535, 32768], [256, 0]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")

    grey = decode_image(tmp_path / "deep.png", size=2, channels=1)
    assert grey[0].tolist() == [[255, 128], [1, 0]]
    rgb = decode_image(tmp_path / "deep.png", size=2, channels=3)
    assert rgb.shape == (3, 2, 2)
    assert rgb[:, 0, 1].tolist() == [128, 128, 128]


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (2, 2), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 255, 0))  # fully transparent blue
    rgba.putpixel((1, 1), (0, 0, 255, 128))  # half transparent blue
    rgba.save(tmp_path / "rgba.png")
    out = decode_image(tmp_path / "rgba.png", size=2, channels=3)
    assert out[:, 0, 0].tolist() == [255, 0, 0]
    assert out[:, 0, 1].tolist() == [255, 255, 255]
    assert out[:, 1, 1].tolist() == [127, 127, 255]

    clear = Image.new("RGBA", (4, 4), (0, 0, 255, 0))
    clear.save(tmp_path / "clear.png")
    assert decode_image(tmp_path / "clear.png", size=4, channels=3).min() == 255

    grey_alpha = Image.new("LA", (4, 4), (0, 0))
    grey_alpha.save(tmp_path / "la.png")
    assert decode_image(tmp_path / "la.png", size=4, channels=1).min() == 255


def test_palette_images_with_and_without_transparency(tmp_path: Path) -> None:
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.save(tmp_path / "p.png")
    assert decode_image(tmp_path / "p.png", size=4, channels=3)[:, 0, 0].tolist() == [200, 100, 50]

    palette.save(tmp_path / "p_transparent.png", transparency=1)
    assert decode_image(tmp_path / "p_transparent.png", size=4, channels=3).min() == 255


def test_grey_and_bilevel_into_rgb(tmp_path: Path) -> None:
    Image.new("L", (4, 4), 77).save(tmp_path / "grey.png")
    assert decode_image(tmp_path / "grey.png", size=4, channels=3)[:, 1, 1].tolist() == [77] * 3
    Image.new("1", (4, 4), 1).save(tmp_path / "bits.bmp")
    assert decode_image(tmp_path / "bits.bmp", size=4, channels=3).min() == 255


def test_webp_and_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (0, 128, 255)).save(tmp_path / "a.webp", lossless=True)
    assert decode_image(tmp_path / "a.webp", size=8, channels=3)[:, 4, 4].tolist() == [0, 128, 255]
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert decode_image(tmp_path / "cmyk.jpg", size=8, channels=3).min() >= 250


# --- files that do not decode ---------------------------------------------------------------


def truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "JPEG", quality=95)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


CORRUPT = {
    "truncated.jpg": truncated_jpeg,
    "garbage.png": lambda p: p.write_bytes(b"this is not a png at all" * 10),
    "empty.jpg": lambda p: p.write_bytes(b""),
    "bomb.png": lambda p: p.write_bytes(png_header(20_000, 20_000)),
    "large.png": lambda p: p.write_bytes(png_header(9_000, 9_000)),  # under Pillow's own limit
    "dangling.png": lambda p: p.symlink_to(p.parent / "no-such-target.png"),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_file_is_skipped_and_named(tmp_path: Path, name: str) -> None:
    save_solid(tmp_path / "good.png", (10, 200, 30))
    CORRUPT[name](tmp_path / name)

    with pytest.warns(DataWarning) as caught:
        data = load_folder(tmp_path, image_size=8)

    assert len(data) == 1
    assert [Path(f).name for f in data.files] == ["good.png"]
    assert data.skipped == [str(tmp_path.resolve() / name)]
    messages = [str(w.message) for w in caught if w.category is DataWarning]
    assert len(messages) == 1
    assert messages[0].startswith("skipped 1 of 2 images")
    assert name in messages[0] and "\n" not in messages[0]


def test_declared_pixel_limit(tmp_path: Path) -> None:
    assert 9_000 * 9_000 > MAX_PIXELS > 4_000 * 4_000
    (tmp_path / "large.png").write_bytes(png_header(9_000, 9_000))
    with pytest.raises(Exception, match="megapixel limit"):
        decode_image(tmp_path / "large.png", size=8, channels=3)


def test_one_warning_names_count_and_first_few(tmp_path: Path) -> None:
    save_solid(tmp_path / "ok.png", (1, 1, 1))
    for i in range(5):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"")
    with pytest.warns(DataWarning) as caught:
        data = load_folder(tmp_path, image_size=4)
    assert len(data.skipped) == 5
    (message,) = [str(w.message) for w in caught if w.category is DataWarning]
    assert message.startswith("skipped 5 of 6 images")
    assert "bad0.jpg" in message and "bad2.jpg" in message and "bad4.jpg" not in message
    assert message.endswith("and 2 more.")


def test_only_corrupt_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 images"):
        load_folder(tmp_path)


# --- missing and empty folders --------------------------------------------------------------


def test_missing_empty_and_file_roots_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError) as missing:
        load_folder(tmp_path / "nope")
    assert "does not exist" in missing.value.message and "--data-root" in missing.value.message

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no images"):
        load_folder(tmp_path / "empty")

    with pytest.raises(DataError, match="not a directory"):
        load_folder(tmp_path / "empty" / "readme.txt")

    with pytest.raises(DataError, match="--data-root"):
        FolderDataset().load(DataSpec(name="folder"))


def test_labels_file_missing_is_error(tmp_path: Path) -> None:
    save_solid(tmp_path / "a.png", (1, 1, 1))
    with pytest.raises(DataError, match=r"labels file .* does not exist"):
        load_folder(tmp_path, labels=str(tmp_path / "tags.csv"))


# --- the decoded cache ----------------------------------------------------------------------


def refuse_to_decode(*args: object, **kwargs: object) -> None:
    raise AssertionError("decoded although the cache should have served this")


def test_second_load_is_served_from_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    root = tmp_path / "imgs"
    save_solid(root / "a.png", (255, 0, 0))
    save_solid(root / "b.png", (0, 255, 0))
    first = load_folder(root, image_size=8)
    assert len(list(_private_cache.glob("folder-*.safetensors"))) == 1

    monkeypatch.setattr(data_folder, "decode_files", refuse_to_decode)
    second = load_folder(root, image_size=8)
    assert torch.equal(first.images, second.images)
    assert second.files == first.files

    with pytest.raises(AssertionError, match="decoded although"):
        load_folder(root, image_size=16)  # another resolution is another entry


def test_changed_file_invalidates_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "imgs"
    path = save_solid(root / "a.png", (255, 0, 0))
    load_folder(root, image_size=8)

    save_solid(path, (0, 0, 255))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with monkeypatch.context() as patch:
        patch.setattr(data_folder, "decode_files", refuse_to_decode)
        with pytest.raises(AssertionError):
            load_folder(root, image_size=8)
    assert load_folder(root, image_size=8).images[0, :, 4, 4].tolist() == [0, 0, 255]

    save_solid(root / "new.png", (0, 0, 0))  # an added file is a change too
    monkeypatch.setattr(data_folder, "decode_files", refuse_to_decode)
    with pytest.raises(AssertionError):
        load_folder(root, image_size=8)


def test_editing_the_csv_does_not_decode_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tags = write_tags(tmp_path)
    load_folder(tmp_path / "images", labels=str(tags), image_size=4)
    tags.write_text("file,hair\nc.png,green\n")
    monkeypatch.setattr(data_folder, "decode_files", refuse_to_decode)
    data = load_folder(tmp_path / "images", labels=str(tags), image_size=4)
    assert data.class_names == ["green"]
    assert data.labels is not None and data.labels.tolist() == [-1, -1, 0, -1]


def test_cached_skips_are_still_reported(tmp_path: Path) -> None:
    save_solid(tmp_path / "ok.png", (1, 1, 1))
    (tmp_path / "bad.jpg").write_bytes(b"")
    for _ in range(2):
        with pytest.warns(DataWarning, match=r"bad.jpg \(not an image"):
            data = load_folder(tmp_path, image_size=4)
        assert [Path(s).name for s in data.skipped] == ["bad.jpg"]


def test_unreadable_cache_is_rebuilt(tmp_path: Path, _private_cache: Path) -> None:
    root = tmp_path / "imgs"
    save_solid(root / "a.png", (255, 0, 0))
    first = load_folder(root, image_size=8)
    (entry,) = _private_cache.glob("*.safetensors")
    entry.write_bytes(b"\x00" * 100)
    assert torch.equal(load_folder(root, image_size=8).images, first.images)
    assert entry.stat().st_size > 100


def test_no_cache_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    monkeypatch.setenv("GENTOOL_NO_CACHE", "1")
    save_solid(tmp_path / "imgs" / "a.png", (255, 0, 0))
    load_folder(tmp_path / "imgs", image_size=8)
    assert not _private_cache.exists()


def test_cache_round_trips_labels_and_attributes(tmp_path: Path) -> None:
    data = ImageData(
        images=torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).reshape(2, 3, 4, 4),
        name="x",
        labels=torch.tensor([1, -1]),
        class_names=["a", "b"],
        attributes={"eyes": torch.tensor([0, 1])},
        attribute_names={"eyes": ["blue", "red"]},
        files=["a.png", "b.png"],
        skipped=["c.png"],
    )
    path = tmp_path / "entry.safetensors"
    data_cache.save_image_data(data, path, key="k", extra={"note": 1})
    assert data_cache.load_image_data(path, key="other") is None
    loaded = data_cache.load_image_data(path, key="k")
    assert loaded is not None
    back, extra = loaded
    assert torch.equal(back.images, data.images)
    assert back.labels is not None and back.labels.tolist() == [1, -1]
    assert back.attributes["eyes"].tolist() == [0, 1]
    assert (back.class_names, back.attribute_names) == (data.class_names, data.attribute_names)
    assert (back.files, back.skipped, extra) == (data.files, data.skipped, {"note": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["entry.safetensors"]  # no temporary left


# --- splits and the registry ----------------------------------------------------------------


def test_load_data_train_and_test_are_disjoint_and_cover(tmp_path: Path) -> None:
    for i in range(20):
        save_solid(tmp_path / f"{i:02d}.png", (i, i, i), size=(4, 4))
    specs = {
        split: DataSpec(name="folder", root=str(tmp_path), image_size=4, split=split)
        for split in ("train", "test", "all")
    }
    train, test, everything = (set(load_data(spec).files) for spec in specs.values())
    assert train.isdisjoint(test)
    assert train | test == everything
    assert len(everything) == 20 and len(test) == 2


def test_builtin_datasets_are_registered() -> None:
    from gentool.plugins import build_registry

    names = build_registry("none").names("dataset")
    assert {"digits", "mnist", "folder", "anime-faces"} <= set(names)


# --- anime-faces ----------------------------------------------------------------------------


def test_anime_faces_needs_a_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="GENTOOL_ANIME_FACES"):
        AnimeFacesDataset().load(DataSpec(name="anime-faces"))
    monkeypatch.setenv("GENTOOL_ANIME_FACES", str(tmp_path))
    with pytest.raises(DataError, match="has no images"):
        AnimeFacesDataset().load(DataSpec(name="anime-faces"))


def test_anime_faces_from_shared_data(monkeypatch: pytest.MonkeyPatch) -> None:
    root = SHARED_DATA / "anime-faces"
    if not (root / "tags.csv").is_file():
        pytest.skip(f"shared data not found at {root}")
    monkeypatch.setenv("GENTOOL_ANIME_FACES", str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # the real data decodes cleanly
        data = AnimeFacesDataset().load(DataSpec(name="anime-faces", image_size=16))

    assert data.images.shape == (8000, 3, 16, 16)
    assert data.labels is not None
    assert int((data.labels >= 0).sum()) == 2594  # rows of tags.csv
    assert "blue" in data.class_names and len(data.class_names) >= 10
    assert set(data.attributes) == {"hair", "eyes"}
    assert torch.equal(data.attributes["hair"], data.labels)

    train = apply_split(data, DataSpec(name="anime-faces", limit=100))
    assert len(train) == 100


# --- MNIST ----------------------------------------------------------------------------------


def test_mnist_without_files_or_internet_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import MNIST

    def no_internet(self: object) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirrors")

    monkeypatch.setattr(MNIST, "download", no_internet)
    with pytest.raises(DataError) as error:
        MnistDataset().load(DataSpec(name="mnist", root=str(tmp_path)))
    message = error.value.message
    assert message.startswith(f"MNIST not found under {tmp_path} and could not be downloaded")
    assert "--data-root DIR containing MNIST/raw" in message
    assert "\n" not in message


def write_idx(raw: Path, prefix: str, labels: list[int]) -> None:
    count = len(labels)
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, label, :] = 255  # a bright row at height `label`
    header = struct.pack(">IIII", 0x803, count, 28, 28)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    label_header = struct.pack(">II", 0x801, count)
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(label_header + bytes(labels))


def test_mnist_reads_both_splits_test_last(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, "train", [3, 1, 4])
    write_idx(raw, "t10k", [9, 2])

    data = MnistDataset().load(DataSpec(name="mnist", root=str(tmp_path)))
    assert data.images.shape == (5, 1, 28, 28)
    assert data.labels is not None and data.labels.tolist() == [3, 1, 4, 9, 2]
    assert data.class_names == [str(d) for d in range(10)]
    assert int(data.images[3, 0, 9].min()) == 255

    same = MnistDataset().load(DataSpec(name="mnist", root=str(raw), image_size=32, channels=3))
    assert same.images.shape == (5, 3, 32, 32)


def test_list_images_is_sorted_and_relative(tmp_path: Path) -> None:
    save_solid(tmp_path / "b" / "z.png", (0, 0, 0))
    save_solid(tmp_path / "a.webp", (0, 0, 0))
    assert list_images(tmp_path) == ["a.webp", "b/z.png"]
