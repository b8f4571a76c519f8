"""CycleGAN: the model, its losses and image pool, training, translation and evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gentool.checkpoint import load_checkpoint
from gentool.cli.main import cli
from gentool.data.base import DataSpec
from gentool.loading import model_from_checkpoint
from gentool.losses.cycle import cycle_consistency_loss, identity_loss
from gentool.metrics.translation import cycle_metrics, diversity_metrics, paired_metrics
from gentool.models.cyclegan import CycleGan, CycleGanConfig
from gentool.training.base import TrainSettings
from gentool.training.cyclegan import ImagePool
from gentool.training.runner import build_trainer, resume

TINY_OPTIONS = dict(CycleGan.TEST_OPTIONS)


def tiny_model(generator: str = "resnet", seed: int = 0) -> CycleGan:
    torch.manual_seed(seed)
    config = CycleGanConfig(image_size=16, generator=generator, **TINY_OPTIONS)
    return CycleGan(config).eval()


def write_domains(root: Path, n: int = 8, size: int = 20) -> tuple[Path, Path]:
    """Two folders of random images: A smooth colour blobs, B the same inverted."""
    rng = np.random.default_rng(0)
    a, b = root / "A", root / "B"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(a / f"{i:02d}.png")
        Image.fromarray(255 - pixels[:, ::-1]).save(b / f"{i:02d}.png")
    return a, b


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


TRAIN = [
    "--image-size",
    "16",
    "--batch-size",
    "4",
    "--log-every",
    "2",
    "--sample-every",
    "3",
    "--device",
    "cpu",
    *[arg for k, v in TINY_OPTIONS.items() for arg in ("--model-opt", f"{k}={v}")],
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("cyclegan")
    a, b = write_domains(root)
    (a / "broken.png").write_bytes(b"not a png")
    out = root / "run"
    domains = ["--domain-a", str(a), "--domain-b", str(b)]
    result = CliRunner().invoke(
        cli, ["train", "cyclegan", *domains, "--out", str(out), "--steps", "3", *TRAIN]
    )
    assert result.exit_code == 0, result.output
    assert "skipped 1 of 9 images" in result.output
    return out, a, b


# --- the model -------------------------------------------------------------------------------
@pytest.mark.parametrize("generator", ["resnet", "unet"])
@pytest.mark.parametrize("size", [(16, 16), (13, 29), (32, 20)])
def test_generators_keep_the_shape(generator: str, size: tuple[int, int]) -> None:
    model = tiny_model(generator)
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        for direction in ("a2b", "b2a"):
            out = model.translate(x, direction)
            assert out.shape == x.shape
            assert out.min() >= -1 and out.max() <= 1
    scores = model.discriminator_a(torch.rand(2, 3, 16, 16))
    assert scores.shape[:2] == (2, 1) and scores.shape[-1] > 1  # one score per patch


def test_paper_resnet_generator_layout() -> None:
    model = CycleGan(CycleGanConfig(image_size=128, width=64, n_res_blocks=6))
    convs = [m for m in model.generator_ab.modules() if isinstance(m, torch.nn.Conv2d)]
    # c7s1-64, d128, d256, 6 blocks of two 3x3 convs at 256, c7s1-3 (+2 transposed convs)
    assert [c.out_channels for c in convs] == [64, 128, 256] + [256] * 12 + [3]
    assert convs[0].kernel_size == (7, 7) and convs[-1].kernel_size == (7, 7)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_config_errors_are_one_line() -> None:
    result = CliRunner().invoke(cli, ["train", "cyclegan", "--model-opt", "generator=vgg"])
    assert result.exit_code == 2
    assert "Error:" in result.output


# --- losses and pool -------------------------------------------------------------------------
def test_cycle_and_identity_losses_vanish_for_identity_generators() -> None:
    a, b = torch.rand(3, 3, 8, 8) * 2 - 1, torch.rand(3, 3, 8, 8) * 2 - 1
    ident = torch.nn.Identity()
    assert cycle_consistency_loss(a, ident(ident(a)), b, ident(ident(b))) == 0
    assert identity_loss(a, ident(a), b, ident(b)) == 0
    shifted = cycle_consistency_loss(a, a + 0.5, b, b)
    assert shifted.item() == pytest.approx(0.5)
    # The model's own generators are not the identity: their cycle loss is positive.
    model = tiny_model()
    with torch.no_grad():
        rec_a = model.translate(model.translate(a, "a2b"), "b2a")
        rec_b = model.translate(model.translate(b, "b2a"), "a2b")
    assert cycle_consistency_loss(a, rec_a, b, rec_b) > 0.05


def test_image_pool_fills_then_mixes_history() -> None:
    assert torch.equal(ImagePool(0).query(torch.ones(2, 1, 2, 2)), torch.ones(2, 1, 2, 2))
    pool = ImagePool(4, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # while filling: the new images
    assert pool.count == 4
    history = {float(v) for v in range(4)}
    returned_old = 0
    for step in range(10):
        new = torch.full((4, 1, 2, 2), 100.0 + step)
        out = pool.query(new)
        assert out.shape == new.shape
        for value in out[:, 0, 0, 0].tolist():
            assert value == 100.0 + step or value in history
            returned_old += value in history
        history |= set(new[:, 0, 0, 0].tolist())
    assert 5 < returned_old < 35  # about half of the 40 draws come from the history
    assert pool.images is not None and pool.images.shape == (4, 1, 2, 2)


# --- training --------------------------------------------------------------------------------
def test_training_logs_finite_losses_and_the_collapse_indicator(
    trained: tuple[Path, Path, Path],
) -> None:
    out, _, _ = trained
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 3]
    for key in ("loss_g", "loss_cycle", "loss_identity", "loss_d_a", "loss_d_b", "diversity_ab"):
        assert all(math.isfinite(r[key]) for r in records), key
    assert 0 < records[-1]["diversity_ratio_ab"] < 5
    grid = Image.open(out / "samples" / "step_000003.png")
    # 3 columns (real | fake | reconstructed), 4 rows per domain, 16 px tiles, 2 px padding
    assert grid.size == (3 * 18 + 2, 8 * 18 + 2)
    meta = load_checkpoint(out).meta
    assert meta["family"] == "translation" and meta["loss"] == "ls"
    assert meta["train"]["extra"]["domain_b"].endswith("B")


def test_checkpoint_rebuilds_identical_generators(tmp_path: Path) -> None:
    a, b = write_domains(tmp_path)
    trainer = build_trainer(
        "cyclegan",
        model_options={**TINY_OPTIONS, "generator": "unet"},
        data=DataSpec(name="folder", root=str(a), image_size=16),
        settings=TrainSettings(
            steps=2,
            batch_size=4,
            device="cpu",
            out=str(tmp_path / "run"),
            extra={"domain_b": str(b)},
        ),
    )
    ckpt = trainer.fit()
    reloaded = model_from_checkpoint(load_checkpoint(ckpt))
    trainer.model.eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        for direction in ("a2b", "b2a"):
            torch.testing.assert_close(
                reloaded.translate(x, direction), trainer.model.translate(x, direction)
            )
    assert reloaded.config == trainer.model.config


def test_resume_continues_exactly(tmp_path: Path) -> None:
    a, b = write_domains(tmp_path)

    def trainer(out: str, steps: int):  # type: ignore[no-untyped-def]
        return build_trainer(
            "cyclegan",
            model_options=dict(TINY_OPTIONS, pool_size=2),
            data=DataSpec(name="folder", root=str(a), image_size=16),
            settings=TrainSettings(
                steps=steps, batch_size=2, device="cpu", out=out, extra={"domain_b": str(b)}
            ),
        )

    straight = trainer(str(tmp_path / "straight"), 4)
    straight.fit()
    trainer(str(tmp_path / "split"), 2).fit()
    resume(tmp_path / "split", steps=4)
    resumed = model_from_checkpoint(load_checkpoint(tmp_path / "split"), use_ema=False)
    for name, tensor in resumed.state_dict().items():
        torch.testing.assert_close(tensor, straight.model.state_dict()[name], msg=name)


def test_train_domain_errors(tmp_path: Path) -> None:
    a, _ = write_domains(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "cyclegan", "--domain-a", str(a)])
    assert result.exit_code == 2 and "--domain-b DIR" in result.output
    result = runner.invoke(cli, ["train", "dcgan", "--domain-a", str(a), "--domain-b", str(a)])
    assert result.exit_code == 2 and "apply to translation models" in result.output
    missing = tmp_path / "nowhere"
    result = runner.invoke(
        cli,
        [
            "train",
            "cyclegan",
            "--domain-a",
            str(a),
            "--domain-b",
            str(missing),
            "--batch-size",
            "4",
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    domains = ["--domain-a", str(a), "--domain-b", str(a), "--out", str(tmp_path / "r")]
    domains += ["--batch-size", "4"]
    result = runner.invoke(cli, ["train", "cyclegan", *domains, "--ema", "0.9"])
    assert result.exit_code == 2 and "--ema" in result.output


# --- translation -----------------------------------------------------------------------------
def test_translating_a_folder_writes_one_file_per_input_same_size(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    out, _, _ = trained
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    sizes = {"square.png": (16, 16), "odd.png": (37, 21), "sub/tall.jpg": (9, 30)}
    for name, size in sizes.items():
        Image.new("RGB", size, (200, 30, 90)).save(inputs / name)
    Image.new("L", (24, 18), 128).save(inputs / "grey.png")
    alpha = Image.new("RGBA", (12, 14), (10, 200, 30, 0))
    alpha.putpixel((3, 4), (10, 200, 30, 255))
    alpha.save(inputs / "alpha.png")
    (inputs / "corrupt.png").write_bytes(b"\x89PNG broken")
    result = run(
        "sample",
        str(out),
        "--input",
        str(inputs),
        "--direction",
        "b2a",
        "--out-dir",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "skipped 1 of 6 images" in result.output  # type: ignore[attr-defined]
    written = sorted(
        p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").rglob("*.png")
    )
    assert written == ["alpha.png", "grey.png", "odd.png", "square.png", "sub/tall.png"]
    for name, size in sizes.items():
        image = Image.open((tmp_path / "o" / name).with_suffix(".png"))
        assert image.size == size and image.mode == "RGB"
    grey = Image.open(tmp_path / "o" / "grey.png")
    assert grey.size == (24, 18) and grey.mode == "L"
    kept = Image.open(tmp_path / "o" / "alpha.png")
    assert kept.mode == "RGBA" and kept.getchannel("A").tobytes() == alpha.getchannel("A").tobytes()
    # --full-res runs on the input's own pixels: same size out, a different result.
    noisy = np.random.default_rng(1).integers(0, 256, (21, 37, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(inputs / "odd.png")
    outputs = {}
    for flag in ([], ["--full-res"]):
        target = tmp_path / ("f" if flag else "s")
        run("sample", str(out), "--input", str(inputs / "odd.png"), *flag, "--out-dir", str(target))
        outputs[bool(flag)] = np.asarray(Image.open(target / "odd.png"))
        assert outputs[bool(flag)].shape == (21, 37, 3)
    assert not np.array_equal(outputs[True], outputs[False])
    result = CliRunner().invoke(
        cli, ["sample", str(out), "--input", str(inputs / "sub"), "--full-res", "--out-dir", "x"]
    )
    assert result.exit_code == 2 and "too small to translate at full resolution" in result.output


def test_translation_errors(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    out, a, _ = trained
    runner = CliRunner()
    result = runner.invoke(cli, ["sample", str(out)])
    assert result.exit_code == 2 and "--input DIR_OR_FILE" in result.output
    result = runner.invoke(
        cli, ["sample", str(out), "--input", str(tmp_path / "x.png"), "--out-dir", "o"]
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(cli, ["sample", str(out), "--input", str(a)])
    assert result.exit_code == 2 and "--out-dir" in result.output
    result = runner.invoke(
        cli, ["sample", str(out), "--input", str(a / "broken.png"), "--out-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "not an image" in result.output
    assert all(len(r.splitlines()) == 1 for r in [result.output.strip()])
    args = ["sample", str(out), "--input", str(a), "--out-dir", str(tmp_path / "t")]
    result = runner.invoke(cli, [*args, "-n", "9", "--label", "3"])
    assert result.exit_code == 2
    assert "--num, --label only shape drawn samples" in " ".join(result.output.split())
    assert not (tmp_path / "t").exists()  # refused before anything was written


def test_input_needs_a_translation_checkpoint(tmp_path: Path) -> None:
    from gentool.training.runner import train

    ckpt = train(
        "dcgan",
        loss="ls",
        model_options={"g_width": 4, "d_width": 4, "latent_dim": 8},
        data=DataSpec(name="digits", image_size=16),
        steps=1,
        batch_size=4,
        device="cpu",
        out=str(tmp_path / "dcgan"),
    )
    result = CliRunner().invoke(
        cli, ["sample", str(ckpt), "--input", str(tmp_path), "--out-dir", "o"]
    )
    assert result.exit_code == 2 and "need a translation checkpoint" in result.output
    result = CliRunner().invoke(cli, ["evaluate", str(ckpt), "--target-b", str(tmp_path)])
    assert result.exit_code == 2 and "apply to translation models" in result.output


# --- evaluation ------------------------------------------------------------------------------
class _Identity(torch.nn.Module):
    def __init__(self, collapse: bool = False) -> None:
        super().__init__()
        self.collapse = collapse
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return images[:1].expand_as(images) if self.collapse else images


def test_metrics_of_identity_and_collapsed_translators() -> None:
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    other = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    cycle = cycle_metrics(_Identity(), images, other)
    assert cycle["cycle_mse_a"] == 0 and cycle["cycle_psnr_b"] == 100.0
    assert diversity_metrics(_Identity(), images, other)["diversity_ratio_ab"] == 1.0
    collapsed = diversity_metrics(_Identity(collapse=True), images, other)
    assert collapsed["diversity_ab"] == 0 and collapsed["diversity_ratio_ba"] == 0
    assert collapsed["diversity_a"] > 0.2
    paired = paired_metrics(_Identity(), images, 255 - images, "a2b")
    assert paired["a2b_mse"] == paired["identity_a2b_mse"] > 0.1


def test_evaluate_cli_reports_cycle_diversity_and_paired(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    out, a, _ = trained
    targets = tmp_path / "targets"
    targets.mkdir()
    for path in sorted(a.glob("0*.png"))[:3]:  # known answers for three of the A images
        Image.open(path).save(targets / path.name)
    result = run(
        "evaluate",
        str(out),
        "--split",
        "all",
        "--target-b",
        str(targets),
        "--json",
        str(tmp_path / "m.json"),
        "--no-log",
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    record = json.loads((tmp_path / "m.json").read_text())
    metrics = record["metrics"]
    for key in (
        "cycle_mse_a",
        "cycle_psnr_b",
        "diversity_ratio_ab",
        "a2b_psnr",
        "identity_a2b_mse",
    ):
        assert math.isfinite(metrics[key]), key
    assert metrics["identity_a2b_mse"] == 0  # the targets are the inputs themselves
    assert record["num_paired"] == {"a2b": 3} and record["num_a"] == 8
    result = CliRunner().invoke(cli, ["evaluate", str(out), "--metrics", "paired", "--no-log"])
    assert result.exit_code == 2 and "--target-b DIR" in result.output


def test_known_answer_domains_from_shared_faces(shared_data: Path, tmp_path: Path) -> None:
    import importlib.util

    from PIL import ImageOps

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "cyclegan_known_answer.py"
    spec = importlib.util.spec_from_file_location("cyclegan_known_answer", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    faces = shared_data / "anime-faces" / "images"
    module.build_domains(faces, tmp_path, size=16, bits=2, per_domain=3, held=2)
    counts = {d: len(list((tmp_path / d).iterdir())) for d in ("trainA", "trainB", "testA")}
    assert counts == {"trainA": 3, "trainB": 3, "testA": 2}
    train_a = {p.name for p in (tmp_path / "trainA").iterdir()}
    assert not train_a & {p.name for p in (tmp_path / "trainB").iterdir()}  # unpaired
    for path in (tmp_path / "testA").iterdir():
        truth = np.asarray(Image.open(tmp_path / "testA_truth" / path.name))
        expected = np.asarray(ImageOps.posterize(Image.open(path), 2))
        assert truth.shape == (16, 16, 3) and np.array_equal(truth, expected)
        assert set(np.unique(truth)) <= {0, 64, 128, 192}


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs the gloo backend")
def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    a, b = write_domains(tmp_path, n=12)  # 11 in the train split: a full batch of 8
    root = Path(__file__).resolve().parents[1]
    env = dict(
        os.environ, PYTHONPATH=str(root / "src"), GENTOOL_PLUGINS="none", OMP_NUM_THREADS="1"
    )
    # No pool and no flips: the two things that are drawn per rank by design.
    args = ["-m", "gentool", "train", "cyclegan", "--domain-a", str(a), "--domain-b", str(b)]
    train = ["pool_size=0" if a.startswith("pool_size=") else a for a in TRAIN]  # each key once
    args += [*train, "--batch-size", "8", "--steps", "3"]
    args += ["--train-opt", "flip=false"]
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    for name, prefix in (("one", []), ("two", launcher)):
        result = subprocess.run(
            [sys.executable, *prefix, *args, "--out", str(tmp_path / name)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
    one = load_checkpoint(tmp_path / "one").section("model")
    two = load_checkpoint(tmp_path / "two").section("model")
    assert one.keys() == two.keys()  # no DDP 'module.' prefixes
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-5


def test_paired_targets_match_by_path_below_the_folder(tmp_path: Path) -> None:
    from gentool.errors import GentoolError
    from gentool.metrics.translation import paired_targets

    def put(path: Path, value: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (value, value, value)).save(path)

    inputs = [str(tmp_path / "A" / d / "0001.png") for d in ("day", "night")]
    put(tmp_path / "T" / "day" / "0001.png", 10)
    put(tmp_path / "T" / "night" / "0001.jpg", 200)
    index, targets = paired_targets(inputs, tmp_path / "T", 8, 3)
    assert index.tolist() == [0, 1]
    assert targets[0].float().mean() < 50 < 150 < targets[1].float().mean()
    # one flat target for two inputs of the same name, or two targets of one name: refused
    put(tmp_path / "flat" / "0001.png", 10)
    with pytest.raises(GentoolError, match="matches both"):
        paired_targets(inputs, tmp_path / "flat", 8, 3)
    put(tmp_path / "twice" / "0001.png", 10)
    put(tmp_path / "twice" / "0001.jpg", 10)
    with pytest.raises(GentoolError, match="are both the target of '0001'"):
        paired_targets(inputs[:1], tmp_path / "twice", 8, 3)
    # targets that match but none decodes: one line, not a crash later
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "0001.png").write_bytes(b"not an image")
    with pytest.raises(GentoolError, match=r"none of the 1 targets .* could be decoded"):
        paired_targets(inputs[:1], tmp_path / "broken", 8, 3)
