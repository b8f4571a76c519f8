"""Writing image grids and single images from tensors in [-1, 1], and checking output paths.

Every file goes through :mod:`gentool.fileio` (a temporary file beside the target, renamed
over it), so a full disk or a kill leaves the old file or the new one, never half of one.
The format follows the file name's extension (:func:`image_format`).

The commands that write files (``sample``, ``reconstruct``, ``upscale``, ``evaluate``,
``plot``) check every target before any work with :func:`check_outputs`: an existing file is
refused unless ``--overwrite`` is given, a folder, an unknown extension or a place that
cannot be written (read-only, ``/proc``, no permission) is one line; and
:func:`refuse_collisions` refuses two inputs that would be written to one output name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin
from torchvision.utils import make_grid

from gentool.data.base import to_uint8
from gentool.errors import GentoolError, OutputError
from gentool.fileio import atomic_write_with, check_new_output, probe_writable

#: Image formats gentool writes, by file name suffix.
IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def image_format(path: str | Path) -> str:
    """The Pillow format written for ``path``'s extension, or a one-line error."""
    path = Path(path)
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GentoolError(
            f"cannot write '{path.name}': use an image file name ending in "
            f"{', '.join(IMAGE_FORMATS)}."
        )
    return fmt


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image ``(C, H, W)`` in [-1, 1] -> PIL (L or RGB)."""
    array = to_uint8(image.cpu()).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], mode="L")
    return Image.fromarray(array, mode="RGB")


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Tile ``(N, C, H, W)`` images in [-1, 1] into one picture, ``nrow`` per row (at most N)."""
    n = images.shape[0]
    nrow = min(nrow or max(1, math.ceil(math.sqrt(n))), max(n, 1))
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        grid = grid[:1]
    return to_pil(grid)


#: The PNG text chunk that marks a picture gentool wrote (the record :func:`written_by_gentool`
#: reads before anything removes a picture).
PNG_MARK = ("Software", "gentool")


def save_pil(img: Image.Image, path: str | Path) -> Path:
    """Write a PIL image atomically, in the format of ``path``'s extension (a PNG carries
    gentool's mark, :data:`PNG_MARK`)."""
    path = Path(path)
    fmt = image_format(path)
    options: dict[str, object] = {}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text(*PNG_MARK)
        options["pnginfo"] = info
    try:
        return atomic_write_with(path, lambda handle: img.save(handle, format=fmt, **options))
    except (ValueError, KeyError) as exc:  # a mode the format cannot hold
        raise OutputError(f"cannot write {path} as {fmt}: {exc}") from None


def written_by_gentool(path: str | Path) -> bool:
    """True when ``path`` is a PNG that carries gentool's mark (read from the header chunks
    only; the pixels are not decoded). Anything else, or a file that cannot be read, is not."""
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                return False
            text = getattr(img, "text", {})
            return bool(text.get(PNG_MARK[0]) == PNG_MARK[1])
    except Exception:  # not an image, unreadable, a decompression bomb: not provably ours
        return False


def save_grid(
    images: torch.Tensor,
    path: str | Path,
    nrow: int | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    upscale: int = 1,
) -> Path:
    """Write ``images`` as one grid picture (atomically; PNG unless the extension says).

    Without labels and with ``upscale`` 1 the file is the plain :func:`grid_image`, as before.
    """
    img = labelled_grid(
        images, nrow, row_labels=row_labels, column_labels=column_labels, upscale=upscale
    )
    return save_pil(img, path)


# --- labels, enlargement and panels --------------------------------------------------------------

#: The largest enlarged grid :func:`labelled_grid` draws (pixels; 3 bytes each in RGB).
MAX_GRID_PIXELS = 150_000_000
#: Text colour and background of label margins, for L and RGB pictures.
_INK: dict[str, int | tuple[int, int, int]] = {"L": 0, "RGB": (0, 0, 0)}
_PAPER: dict[str, int | tuple[int, int, int]] = {"L": 255, "RGB": (255, 255, 255)}


def label_font(cell: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font, sized for grid cells ``cell`` pixels high (11 to 24 pt).

    No font file is read or downloaded: Pillow's bundled default (FreeType when Pillow has it,
    else its bitmap font at one size)."""
    size = max(9, min(24, cell // 2))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # an old Pillow or one without FreeType
        return ImageFont.load_default()


def _text_size(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return math.ceil(right - left), math.ceil(bottom - top)


#: Characters a label may hold that a font can lack, and what is written instead.
_FALLBACKS = {"→": "->"}
_GLYPHS: dict[tuple[object, ...], bool] = {}


def _has_glyph(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, char: str) -> bool:
    """Whether ``font`` draws ``char`` as something other than its missing-glyph box."""
    name = font.getname() if isinstance(font, ImageFont.FreeTypeFont) else None
    key = (type(font).__name__, getattr(font, "size", None), name, char)
    if key not in _GLYPHS:

        def ink(text: str) -> bytes:
            img = Image.new("L", (48, 48))
            ImageDraw.Draw(img).text((0, 0), text, fill=255, font=font)
            return img.tobytes()

        try:
            _GLYPHS[key] = ink(char) != ink("\ufffe")  # a noncharacter: the box
        except (UnicodeError, ValueError, OSError):  # a bitmap font: Latin-1 only
            _GLYPHS[key] = False
    return _GLYPHS[key]


def drawable(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> str:
    """``text`` as ``font`` can draw it: an arrow ``→`` becomes ``->`` in a font without one
    (Pillow's bundled font has none)."""
    for char, instead in _FALLBACKS.items():
        if char in text and not _has_glyph(font, char):
            text = text.replace(char, instead)
    return text


def enlarge(img: Image.Image, factor: int) -> Image.Image:
    """Nearest-neighbour enlargement by an integer ``factor`` (pixels stay sharp squares)."""
    if factor == 1:
        return img
    return img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)


def labelled_grid(
    images: torch.Tensor,
    nrow: int | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    upscale: int = 1,
    padding: int = 2,
    min_left: int = 0,
) -> Image.Image:
    """:func:`grid_image`, enlarged ``upscale`` times (nearest), with ``row_labels`` drawn in a
    margin at the left of each row and ``column_labels`` as headers above each column.

    Labels are drawn after enlarging, so they stay sharp; a label list shorter than the rows
    or columns labels the first ones. No labels and ``upscale`` 1: exactly :func:`grid_image`.
    ``min_left``: the least width of the row-label margin (grids stacked by
    :func:`labelled_sections` line up).
    """
    if upscale < 1:
        raise GentoolError(f"--upscale must be 1 or more, not {upscale}.")
    grid = grid_image(images, nrow, padding)
    width, height = grid.width * upscale, grid.height * upscale
    if width * height > MAX_GRID_PIXELS:
        raise GentoolError(
            f"the grid would be {width}x{height} pixels at --upscale {upscale}, more than "
            f"{MAX_GRID_PIXELS // 1_000_000} million; lower --upscale or draw fewer images."
        )
    grid = enlarge(grid, upscale)
    rows_text = [str(t) for t in row_labels or []]
    cols_text = [str(t) for t in column_labels or []]
    if not rows_text and not cols_text and not min_left:
        return grid
    n = images.shape[0]
    columns = min(nrow or max(1, math.ceil(math.sqrt(n))), max(n, 1))
    cell_h = (images.shape[2] + padding) * upscale
    cell_w = (images.shape[3] + padding) * upscale
    font = label_font(cell_h)
    probe = ImageDraw.Draw(grid)
    gap = _LABEL_GAP
    rows_text = [drawable(t, font) for t in rows_text]
    cols_text = [drawable(t, font) for t in cols_text]
    column_font, vertical = _column_font(probe, cols_text, cell_w - 2, cell_h)
    left = max(_row_margin(probe, rows_text, font), min_left)
    sizes = [_text_size(probe, t, column_font) for t in cols_text]
    top = max((w if vertical else h for w, h in sizes), default=0)
    top = top + 2 * gap if cols_text else 0
    mode = grid.mode if grid.mode in _PAPER else "RGB"
    canvas = Image.new(mode, (grid.width + left, grid.height + top), _PAPER[mode])
    canvas.paste(grid.convert(mode), (left, top))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(rows_text):
        width, height = _text_size(draw, text, font)
        y = top + row * cell_h + (cell_h - height) // 2
        draw.text((left - gap - width, y), text, fill=_INK[mode], font=font, anchor="lt")
    for column, text in enumerate(cols_text[:columns]):
        width, height = _text_size(draw, text, column_font)
        if vertical:  # too wide for the column even small: written upwards
            strip = Image.new(mode, (width + 2, height + 2), _PAPER[mode])
            ImageDraw.Draw(strip).text((1, 1), text, fill=_INK[mode], font=column_font, anchor="lt")
            strip = strip.rotate(90, expand=True)
            x = left + column * cell_w + (cell_w - strip.width) // 2
            canvas.paste(strip, (max(0, x), top - gap - strip.height))
        else:
            x = left + column * cell_w + (cell_w - width) // 2
            draw.text((max(0, x), gap), text, fill=_INK[mode], font=column_font, anchor="lt")
    return canvas


#: Pixels between a label and the grid it names.
_LABEL_GAP = 4


def _row_margin(
    draw: ImageDraw.ImageDraw,
    texts: Sequence[str],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> int:
    """Width of the margin that holds row labels ``texts`` (0 for none)."""
    if not texts:
        return 0
    return max(_text_size(draw, t, font)[0] for t in texts) + 2 * _LABEL_GAP


def _column_font(
    draw: ImageDraw.ImageDraw, texts: Sequence[str], width: int, cell_h: int
) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, bool]:
    """The largest default font (down to 9 pt) whose column headers fit ``width``, and
    whether they must be written vertically (they do not fit even at 9 pt)."""
    font = label_font(cell_h)
    if not texts:
        return font, False
    for size in range(max(11, min(24, cell_h // 2)), 8, -1):
        font = label_font(size * 2)
        if max(_text_size(draw, t, font)[0] for t in texts) <= width:
            return font, False
    return label_font(cell_h), True


def titled_panels(panels: Sequence[tuple[str, Image.Image]], per_row: int = 4) -> Image.Image:
    """Pictures side by side (``per_row`` to a row), each with its title centred above it.

    What ``gentool sample RUN RUN ...`` writes: one panel per run. Grey and colour panels
    together are drawn in colour. A title wider than its picture widens the picture's place
    (the picture centred in it) rather than being cut off."""
    if not panels:
        raise GentoolError("no panels to draw.")
    mode = "L" if all(img.mode == "L" for _, img in panels) else "RGB"
    tallest = max(img.height for _, img in panels)
    font = label_font(max(30, min(48, tallest // 6)))
    probe = ImageDraw.Draw(Image.new(mode, (1, 1)))
    gap = 6
    panels = [(drawable(title, font), img) for title, img in panels]
    title_h = max(_text_size(probe, title, font)[1] for title, _ in panels) + 2 * gap
    slots = [max(img.width, _text_size(probe, title, font)[0]) for title, img in panels]
    indices = list(range(len(panels)))
    rows = [indices[i : i + per_row] for i in range(0, len(panels), per_row)]
    widths = [sum(slots[i] for i in row) + gap * (len(row) + 1) for row in rows]
    heights = [max(panels[i][1].height for i in row) + title_h + gap for row in rows]
    canvas = Image.new(mode, (max(widths), sum(heights)), _PAPER[mode])
    draw = ImageDraw.Draw(canvas)
    y = 0
    for row, height in zip(rows, heights, strict=True):
        x = gap
        for i in row:
            title, img = panels[i]
            width, _ = _text_size(draw, title, font)
            draw.text(
                (x + max(0, (slots[i] - width) // 2), y + gap),
                title,
                fill=_INK[mode],
                font=font,
                anchor="lt",
            )
            canvas.paste(img.convert(mode), (x + (slots[i] - img.width) // 2, y + title_h))
            x += slots[i] + gap
        y += height
    return canvas


def with_title(picture: Image.Image, title: str | None) -> Image.Image:
    """``picture`` with ``title`` centred above it (a :func:`titled_panels` of one), or as it
    is when ``title`` is None."""
    return picture if title is None else titled_panels([(title, picture)], per_row=1)


def labelled_sections(
    sections: Sequence[tuple[torch.Tensor, Sequence[str], Sequence[str]]],
    nrow: int,
    *,
    upscale: int = 1,
    padding: int = 2,
) -> Image.Image:
    """Blocks of rows stacked top to bottom, each a :func:`labelled_grid` of ``nrow`` images
    to a row with its own column headers; ``sections`` holds ``(images, row_labels,
    column_labels)`` per block. The row-label margins are made equal so that the columns of
    every block line up, and a blank band of one cell's padding separates the blocks.

    What ``gentool sample`` draws for a translation model: rows of ``A (input) | A→B |
    A→B→A`` under their headers, then rows of ``B (input) | B→A | B→A→B`` under theirs."""
    if not sections:
        raise GentoolError("no rows to draw.")
    first = sections[0][0]
    font = label_font((first.shape[2] + padding) * upscale)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left = max(
        _row_margin(probe, [drawable(str(t), font) for t in rows], font) for _, rows, _ in sections
    )
    pictures = [
        labelled_grid(
            images,
            nrow,
            row_labels=rows,
            column_labels=columns,
            upscale=upscale,
            padding=padding,
            min_left=left,
        )
        for images, rows, columns in sections
    ]
    mode = "L" if all(img.mode == "L" for img in pictures) else "RGB"
    band = 3 * padding * upscale + 2 * _LABEL_GAP
    width = max(img.width for img in pictures)
    height = sum(img.height for img in pictures) + band * (len(pictures) - 1)
    canvas = Image.new(mode, (width, height), _PAPER[mode])
    y = 0
    for img in pictures:
        canvas.paste(img.convert(mode), (0, y))
        y += img.height + band
    return canvas


def each_path(directory: str | Path, index: int, prefix: str = "sample") -> Path:
    """Where :func:`save_each` writes image ``index``."""
    return Path(directory) / f"{prefix}_{index:05d}.png"


def save_each(images: torch.Tensor, directory: str | Path, prefix: str = "sample") -> list[Path]:
    """Write one PNG per image, ``DIR/PREFIX_00000.png`` onwards, each atomically."""
    return [
        save_pil(to_pil(image), each_path(directory, i, prefix)) for i, image in enumerate(images)
    ]


# --- checking outputs before any work ------------------------------------------------------------


def check_outputs(
    paths: Iterable[str | Path], overwrite: bool, *, images: bool = False
) -> list[Path]:
    """Check every output of a command before any work: existing files (unless
    ``overwrite``), folders, unwritable places and, with ``images``, unknown extensions."""
    checked: list[Path] = []
    probed: set[Path] = set()
    for given in paths:
        path = Path(given)
        if images:
            image_format(path)
        check_new_output(path, overwrite)
        if path.parent not in probed:
            probe_writable(path)
            probed.add(path.parent)
        checked.append(path)
    return checked


def refuse_collisions(jobs: Sequence[tuple[Path, Path]], option: str = "-o") -> None:
    """Refuse, naming both, two inputs that would be written to one output, or an output
    that is one of the inputs (``option``: the command's output option, for the message)."""
    sources = {os.path.realpath(source): source for source, _ in jobs}
    seen: dict[str, Path] = {}
    for source, target in jobs:
        key = os.path.realpath(target)
        if key in sources:
            raise GentoolError(
                f"the output for {source} would be {target}, which is an input "
                f"({sources[key]}); choose another output ({option})."
            )
        if key in seen and os.path.realpath(seen[key]) == os.path.realpath(source):
            raise GentoolError(f"{source} is given twice (as {seen[key]}); name each input once.")
        if key in seen:
            raise GentoolError(
                f"{seen[key]} and {source} would both be written to {target}; rename one of "
                "them or process them separately."
            )
        seen[key] = source


def refuse_replacing_inputs(images: Sequence[str | Path], outputs: Sequence[str | Path]) -> None:
    """An output naming one of the input ``images`` (or a file in a folder of them) is
    refused, ``--overwrite`` or not: the picture would replace what it is drawn from."""
    from gentool.data.folder import list_images

    inputs: set[str] = set()
    for given in images:
        path = Path(given)
        files = [path / name for name in list_images(path)] if path.is_dir() else [path]
        inputs.update(os.path.realpath(f) for f in files)
    for target in outputs:
        if os.path.realpath(target) in inputs:
            raise GentoolError(
                f"{target} is one of the input images; write the grid to another file."
            )
