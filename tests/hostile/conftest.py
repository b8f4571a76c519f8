"""Fixture files for the hostile-input suite, built once per session and copied per case.

A case names a fixture in its arguments as ``{name}``; :data:`FIXTURES` says how each is made.
Trained runs are tiny (a few steps, a few hundred parameters) so the whole suite stays fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from hostile.harness import Case, Maker, cli_invoker, run_case

TINY_GAN = {"g_width": 4, "d_width": 4, "latent_dim": 8}
TINY_VAE = {"width": 4, "latent_dim": 4}


def _train(out: Path, model: str, options: dict[str, object], **extra: object) -> None:
    from gentool.data.base import DataSpec
    from gentool.training import runner

    settings: dict[str, object] = dict(
        steps=4,
        batch_size=8,
        log_every=1,
        sample_every=2,
        checkpoint_every=2,
        device="cpu",
        out=str(out),
        seed=3,
    )
    settings.update(extra)
    runner.train(
        model,
        loss="ls" if model == "dcgan" else None,
        model_options=dict(options),
        data=DataSpec(image_size=16),
        overwrite=True,
        **settings,  # type: ignore[arg-type]
    )


def _png(path: Path, size: int = 24, mode: str = "RGB", seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8).numpy()
    Image.fromarray(pixels, "RGB").convert(mode).save(path, format="PNG")


def gentool_png(path: Path, seed: int = 0) -> None:
    """A picture as gentool writes it (with its PNG mark): provably gentool's."""
    from gentool.images import save_pil

    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (8, 8, 3), generator=g, dtype=torch.uint8).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_pil(Image.fromarray(pixels, "RGB"), path)


def _image_folder(path: Path, count: int = 12, size: int = 16) -> None:
    path.mkdir(parents=True)
    for i in range(count):
        _png(path / f"img{i:02d}.png", size=size, seed=i)


BUILDERS: dict[str, Maker] = {
    "run": lambda p: _train(p, "dcgan", TINY_GAN),
    "vae": lambda p: _train(p, "vae", TINY_VAE),
    "img": lambda p: _png(p),
    "imgdir": lambda p: _image_folder(p),
    "empty": lambda p: p.mkdir(),
    "text": lambda p: p.write_text("not an image\n"),
}


@pytest.fixture(scope="session")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Maker]:
    """Makers that copy a once-built fixture into a case's folder."""
    store = tmp_path_factory.mktemp("hostile-fixtures")
    built: dict[str, Path] = {}

    def copier(name: str) -> Maker:
        def make(target: Path) -> None:
            if name not in built:
                source = store / name
                BUILDERS[name](source)
                built[name] = source
            source = built[name]
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)

        return make

    makers: dict[str, Maker] = {name: copier(name) for name in BUILDERS}

    def checkpoint_file(target: Path) -> None:
        scratch = target.parent / "_ckpt_run"
        makers["run"](scratch)
        shutil.copy2(scratch / "ckpt.safetensors", target)
        shutil.rmtree(scratch)

    makers["ckpt"] = checkpoint_file
    return makers


@pytest.fixture
def hostile(
    request: pytest.FixtureRequest,
    fixture_store: dict[str, Maker],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[Case], object]:
    """``hostile(case)`` runs a case in a fresh folder (also the working directory).

    A test module may add its own fixture makers as ``EXTRA_FIXTURES = {"name": maker}``
    (a maker builds the file or folder at the path it is given).
    """
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)
    makers = dict(fixture_store)
    makers.update(getattr(request.module, "EXTRA_FIXTURES", {}))
    invoke = cli_invoker()
    return lambda case: run_case(case, folder, makers, invoke)
