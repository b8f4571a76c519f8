"""Metrics against hand-computed values, and ``gentool evaluate`` on a tiny DCGAN."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gentool.checkpoint_schema import FORMAT, SCHEMA_VERSION, CheckpointMeta
from gentool.cli.main import cli
from gentool.data.base import DataSpec, ImageData, to_float
from gentool.errors import GentoolError
from gentool.loading import load_data
from gentool.metrics import classifier as clf
from gentool.metrics.evaluate import (
    EvaluationSettings,
    append_to_log,
    choose_metrics,
    data_key,
    evaluate_model,
    evaluation_data_spec,
)
from gentool.metrics.fid import (
    INCEPTION_FILE,
    INCEPTION_URL,
    InceptionFeatures,
    fid_from_features,
    frechet_distance,
    gaussian_statistics,
    inception_score,
    kernel_inception_distance,
    reference_cache_path,
    resolve_inception_weights,
)
from gentool.metrics.prdc import pixel_features, precision_recall_density_coverage
from gentool.models.base import ModelConfig, ModelPlugin

# --- FID / KID / IS maths -----------------------------------------------------------------------


def test_frechet_distance_of_two_gaussians_by_hand() -> None:
    # |(0,0)-(3,4)|^2 + Tr(I) + Tr(4I) - 2 Tr((4I)^(1/2)) = 25 + 2 + 8 - 8 = 27
    fid = frechet_distance(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), 4 * np.eye(2))
    assert fid == pytest.approx(27.0)


def test_fid_from_features_by_hand() -> None:
    # real {0, 2}: mean 1, unbiased variance 2; fake {1, 5}: mean 3, variance 8.
    # (1-3)^2 + 2 + 8 - 2 sqrt(2*8) = 4 + 10 - 8 = 6
    real = torch.tensor([[0.0], [2.0]])
    fake = torch.tensor([[1.0], [5.0]])
    assert fid_from_features(real, fake) == pytest.approx(6.0)
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-9)
    mu, sigma = gaussian_statistics(fake)
    assert mu.tolist() == [3.0] and sigma.tolist() == [[8.0]]


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel() -> None:
    # k(x, y) = (x y / 1 + 1)^3. X = {0, 1}: off-diagonal k = 1 -> 1. Y = {0, 2}: -> 1.
    # Cross terms k(0,0)=k(0,2)=k(1,0)=1, k(1,2)=27: 30 / 4 = 7.5. MMD^2 = 1 + 1 - 15 = -13.
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[0.0], [2.0]])
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=2)
    assert mean == pytest.approx(-13.0)
    assert std == pytest.approx(0.0)


def test_inception_score_of_confident_uniform_and_collapsed_predictions() -> None:
    confident = 50.0 * torch.eye(4).repeat(5, 1)  # 20 images, each surely one of 4 classes
    assert inception_score(confident, splits=1)[0] == pytest.approx(4.0, rel=1e-3)
    collapsed = 50.0 * torch.eye(4)[:1].repeat(20, 1)  # every image the same class
    assert inception_score(collapsed, splits=1)[0] == pytest.approx(1.0, rel=1e-6)


def test_missing_inception_weights_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GENTOOL_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(GentoolError) as err:
        InceptionFeatures(None)
    message = err.value.message
    assert INCEPTION_FILE in message and INCEPTION_URL in message
    assert "--inception-weights" in message and "\n" not in message
    with pytest.raises(GentoolError, match="do not exist"):
        resolve_inception_weights(tmp_path / "nope.pth")
    monkeypatch.setenv("GENTOOL_INCEPTION_WEIGHTS", str(tmp_path / "w.pth"))
    (tmp_path / "w.pth").write_bytes(b"x")
    assert resolve_inception_weights(None) == tmp_path / "w.pth"


# --- precision / recall / density / coverage -------------------------------------------------


def _points(*xs: float) -> torch.Tensor:
    return torch.tensor([[x] for x in xs])


def test_prdc_identical_sets_by_hand() -> None:
    # 1-D points 0, 1, 3, 7 with k=1: radii 1, 1, 2, 4. Each point lies in 2, 3, 2, 1 real
    # balls: density = 8 / (1 * 4) = 2.
    real = _points(0, 1, 3, 7)
    out = precision_recall_density_coverage(real, real.clone(), k=1)
    assert out == {"precision": 1.0, "recall": 1.0, "density": 2.0, "coverage": 1.0}


def test_prdc_partial_and_disjoint_sets_by_hand() -> None:
    real = _points(0, 1, 3, 7)
    # fake 0 is in balls of 0 and 1, fake 100 in none: precision 1/2, density 2/2.
    # Fake radii (k=1) are 100, so every real point is in fake 0's ball: recall 1.
    # Real 0 and 1 have a fake within their radius, 3 and 7 do not: coverage 1/2.
    out = precision_recall_density_coverage(real, _points(0, 100), k=1)
    assert out == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.5}
    far = precision_recall_density_coverage(real, _points(1000, 1001, 1003), k=1)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_precision_recall_agree_with_torch_fidelity() -> None:
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    generator = torch.Generator().manual_seed(0)
    real = torch.randn(60, 8, generator=generator, dtype=torch.float64)
    fake = 1.3 * torch.randn(50, 8, generator=generator, dtype=torch.float64) + 0.4
    ours = precision_recall_density_coverage(real, fake, k=3)
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=3)
    assert ours["precision"] == pytest.approx(precision)
    assert ours["recall"] == pytest.approx(recall)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1


def test_pixel_features_are_fixed_and_distance_preserving() -> None:
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    a, b = pixel_features(images), pixel_features(images.clone())
    assert a.shape == (6, 256) and torch.equal(a, b)
    # Same seed on every call; distances roughly those of 32x32 pixels (Johnson-Lindenstrauss).
    up = torch.nn.functional.interpolate(to_float(images), size=(32, 32), mode="area").flatten(1)
    ratio = torch.pdist(a) / torch.pdist(up)
    assert float(ratio.min()) > 0.7 and float(ratio.max()) < 1.3


# --- models used by the tests ----------------------------------------------------------------


@dataclass
class ReplayConfig(ModelConfig):
    num_classes: int = 0


class Replay(ModelPlugin):
    """'Generates' real images: an oracle against which every metric must say 'like the data'.

    With ``labels=`` it draws images of the requested classes (a perfectly obedient conditional
    model); ``ignore_labels`` makes it draw class 0 whatever it is asked.
    """

    PLUGIN_NAME: ClassVar[str] = "replay"
    FAMILY: ClassVar[str] = "gan"
    Config: ClassVar[type] = ReplayConfig

    def __init__(self, data: ImageData, ignore_labels: bool = False) -> None:
        super().__init__(ReplayConfig(data.image_size, data.channels, num_classes=data.num_classes))
        self.data = data
        self.ignore_labels = ignore_labels

    def sample(self, n: int, *, generator: Any = None, **conditions: Any) -> torch.Tensor:
        label = conditions.get("labels")
        if label is None:
            index = torch.randint(len(self.data), (n,), generator=generator)
        else:
            assert self.data.labels is not None
            wanted = torch.zeros_like(label) if self.ignore_labels else label
            index = torch.stack(
                [
                    (self.data.labels == int(c))
                    .nonzero()
                    .flatten()[
                        torch.randint(
                            int((self.data.labels == int(c)).sum()), (1,), generator=generator
                        )
                    ][0]
                    for c in wanted.cpu()
                ]
            )
        return to_float(self.data.images[index])


class TinyExtractor:
    """A deterministic stand-in for Inception: per-channel mean and std as 'pool' features."""

    identity = "tiny-test-extractor"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        x = images.float() / 255
        pool = torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)  # (B, 2C)
        return {"pool": pool, "logits": pool * 10}


@pytest.fixture(scope="module")
def digits_test() -> ImageData:
    return load_data(DataSpec(name="digits", image_size=16, split="test"))


# --- orchestration ---------------------------------------------------------------------------


def test_real_images_as_samples_score_like_the_data(digits_test: ImageData) -> None:
    model = Replay(digits_test)
    spec = DataSpec(name="digits", image_size=16, channels=1, split="test")
    extractor = TinyExtractor()
    settings = EvaluationSettings(
        metrics=["fid", "kid", "prdc", "diversity"], num_samples=400, batch_size=128
    )
    saved = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "model": "replay", "step": 7}
    info = CheckpointMeta.parse({**saved, "model_config": {}}, "replay.safetensors")
    result = evaluate_model(model, info, spec, settings, inception=extractor)
    m = result.metrics
    assert m["fid"] < 1e-3 and abs(m["kid"]) < 1e-3
    assert m["precision"] > 0.95 and m["recall"] > 0.95 and m["coverage"] > 0.85
    assert m["diversity"] == pytest.approx(m["diversity_real"], rel=0.1)
    assert result.info["num_generated"] == 400 and result.info["step"] == 7
    # The real features are cached: a second evaluation extracts only the generated images.
    assert reference_cache_path(data_key(spec), extractor.identity).exists()
    again = TinyExtractor()
    evaluate_model(
        model, None, spec, EvaluationSettings(metrics=["fid"], num_samples=100), inception=again
    )
    assert again.calls == 1  # one batch of 100 generated images; the real ones came from cache
    # A collapsed 'generator' (one image repeated) is visibly less diverse than the data.
    collapsed = Replay(digits_test.subset(torch.tensor([0])))
    low = evaluate_model(
        collapsed, None, spec, EvaluationSettings(metrics=["diversity", "prdc"], num_samples=64)
    )
    assert low.metrics["diversity"] == 0.0 < low.metrics["diversity_real"]
    assert low.metrics["recall"] < 0.2 and low.metrics["coverage"] < 0.2


def test_metric_choice_by_family_and_weights(digits_test: ImageData) -> None:
    model = Replay(digits_test)
    chosen, notes = choose_metrics(None, model, digits_test, weights_available=False)
    assert "fid" not in chosen and "swd" in chosen and "labels" in chosen
    assert "recon" not in chosen and any("--inception-weights" in n for n in notes)
    with pytest.raises(GentoolError, match="does not apply to gan"):
        choose_metrics(["recon"], model, digits_test, weights_available=True)
    with pytest.raises(GentoolError, match="unknown metric 'fidd'"):
        choose_metrics(["fidd"], model, digits_test, weights_available=True)


def test_swd_needs_images_as_large_as_its_patches(digits_test: ImageData) -> None:
    tiny = ImageData(images=digits_test.images[:8, :, :6, :6].contiguous(), name="tiny")
    chosen, notes = choose_metrics(None, Replay(tiny), tiny, weights_available=False)
    assert "swd" not in chosen and any("swd left out" in n and "have 6" in n for n in notes)
    with pytest.raises(GentoolError, match="metric 'swd' cannot be computed here: its 7x7"):
        choose_metrics(["swd"], Replay(tiny), tiny, weights_available=False)
    chosen, _ = choose_metrics(["swd"], Replay(digits_test), digits_test, weights_available=False)
    assert chosen == ["swd"]  # 8 px digits are enough


def test_data_defaults_to_the_checkpoints_own() -> None:
    data = {"name": "folder", "root": "/x", "label_column": "hair", "image_size": 96}
    saved = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "model": "vae"}
    meta = CheckpointMeta.parse({**saved, "model_config": {}, "data": data}, "vae.safetensors")
    config = ModelConfig(image_size=64, channels=3)
    spec = evaluation_data_spec(meta, {}, config, "test")
    assert (spec.name, spec.root, spec.label_column, spec.image_size) == (
        "folder",
        "/x",
        "hair",
        64,
    )
    other = evaluation_data_spec(meta, {"name": "digits"}, config, "train")
    assert (other.name, other.root, other.label_column, other.split) == (
        "digits",
        None,
        None,
        "train",
    )


# --- condition accuracy ----------------------------------------------------------------------


def test_condition_classifier_measures_label_obedience(
    digits_test: ImageData, tmp_path: Path
) -> None:
    spec = DataSpec(name="digits", image_size=16, channels=1, split="test")
    settings = EvaluationSettings(
        metrics=["labels"],
        num_samples=200,
        classifier_steps=120,
        classifier_width=16,
        classifier_batch_size=32,
    )
    obedient = evaluate_model(Replay(digits_test), None, spec, settings, run_dir=tmp_path)
    saved = tmp_path / clf.CLASSIFIER_FILE
    assert saved.exists()
    real_acc = obedient.metrics["label_accuracy_real"]
    assert real_acc > 0.8
    assert obedient.metrics["label_accuracy"] > 0.8
    # A model that ignores the label is right only for class 0: about 1 in 10.
    stamp = saved.stat().st_mtime_ns
    deaf = evaluate_model(
        Replay(digits_test, ignore_labels=True), None, spec, settings, run_dir=tmp_path
    )
    assert deaf.metrics["label_accuracy"] < 0.2
    assert saved.stat().st_mtime_ns == stamp  # the kept classifier was reused
    assert deaf.metrics["label_accuracy_real"] == pytest.approx(real_acc)
    loaded = clf.load_classifier(saved)
    assert loaded.class_names == [str(i) for i in range(10)]


# --- the command --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gentool.training.runner import train

    out = tmp_path_factory.mktemp("evaluate") / "dcgan"
    ckpt = train(
        "dcgan",
        loss="ls",
        model_options={"g_width": 8, "d_width": 8, "latent_dim": 8},
        data=DataSpec(name="digits", image_size=16),
        steps=2,
        batch_size=16,
        samples=16,
        device="cpu",
        out=str(out),
    )
    return ckpt.parent


def test_evaluate_command_table_json_and_log(dcgan_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(dcgan_run),
            "--metrics",
            "swd,prdc,diversity",
            "-n",
            "64",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "swd_avg" in result.output and "diversity_real" in result.output
    record = json.loads(out.read_text())
    assert record["dataset"] == "digits" and record["split"] == "test"
    assert record["image_size"] == 16 and record["num_generated"] == 64 and record["step"] == 2
    assert {"swd_avg", "precision", "recall", "density", "coverage", "diversity"} <= set(
        record["metrics"]
    )
    assert all(math.isfinite(v) for v in record["metrics"].values())
    last = json.loads((dcgan_run / "log.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "evaluate" and last["step"] == 2
    assert last["swd_avg"] == pytest.approx(record["metrics"]["swd_avg"])


def test_evaluate_command_fid_without_weights_fails_cleanly(
    dcgan_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GENTOOL_INCEPTION_WEIGHTS", raising=False)
    lines_before = (dcgan_run / "log.jsonl").read_text()
    result = CliRunner().invoke(cli, ["evaluate", str(dcgan_run), "--metrics", "fid,swd"])
    assert result.exit_code == 2
    assert INCEPTION_FILE in result.output and "Traceback" not in result.output
    assert (dcgan_run / "log.jsonl").read_text() == lines_before
    result = CliRunner().invoke(cli, ["evaluate", str(dcgan_run), "--metrics", "labels"])
    assert result.exit_code == 2 and "not conditional" in result.output


def test_append_to_log_writes_one_event_line(tmp_path: Path) -> None:
    from gentool.metrics.evaluate import EvaluationResult

    result = EvaluationResult({"swd_avg": 1.5}, {"step": 10, "dataset": "digits", "split": "test"})
    append_to_log(tmp_path, result)
    append_to_log(tmp_path, result)
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["event"] == "evaluate" and lines[0]["swd_avg"] == 1.5


# --- reconstruction and upscaler metrics ------------------------------------------------------


class Reconstructor:
    """A 'VAE' whose reconstruction is the input plus a fixed offset (known PSNR)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def parameters(self) -> Any:
        return iter([self.weight])

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return (images + self.offset).clamp(-1, 1)


def test_reconstruction_metrics_by_hand() -> None:
    from gentool.metrics.evaluate import reconstruction_metrics

    images = torch.full((6, 3, 16, 16), 100, dtype=torch.uint8)
    exact = reconstruction_metrics(Reconstructor(0.0), images, batch_size=4)
    assert exact["recon_mse_01"] == pytest.approx(0.0, abs=1e-9)
    assert exact["recon_psnr"] == 100.0 and exact["recon_ssim"] == pytest.approx(1.0)
    # +10/127.5 in [-1, 1] is +10 grey levels: MSE 100 -> PSNR 10 log10(255^2 / 100) dB.
    shifted = reconstruction_metrics(Reconstructor(10 / 127.5), images, batch_size=4)
    assert shifted["recon_psnr"] == pytest.approx(10 * math.log10(255**2 / 100), abs=0.01)
    # one MSE scale: pixels in [0, 1], so +10 grey levels is (10/255)^2
    assert shifted["recon_mse_01"] == pytest.approx((10 / 255) ** 2, rel=1e-3)
    assert shifted["recon_ssim"] < 1.0 and "recon_lpips" not in shifted


def test_evaluate_upscaler_command_with_a_corrupt_file(tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    folder = tmp_path / "hr"
    folder.mkdir()
    photo = load_sample_image("china.jpg")
    Image.fromarray(photo[100:196, 200:296]).save(folder / "a.png")
    Image.fromarray(photo[200:296, 20:116]).save(folder / "b.png")
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "sr.json"
    env = {"TORCH_HOME": str(tmp_path / "no-hub")}  # no LPIPS backbone: noted, not fatal
    result = CliRunner().invoke(
        cli, ["evaluate", "default", "--hr-dir", str(folder), "--json", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "psnr_y" in result.output and "skipped" in result.output
    record = json.loads(out.read_text())
    assert len(record["rows"]) == 2 and record["skipped"][0]["file"].endswith("broken.png")
    assert record["mean"]["model"]["psnr_y"] > record["mean"]["baseline"]["psnr_y"]
    assert "lpips" not in record["mean"]["model"] and "alexnet" in record["lpips"]
    missing = CliRunner().invoke(cli, ["evaluate", "default", "--hr-dir", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "not a folder" in missing.output


def test_labels_takes_n(tmp_path: Path) -> None:
    """``-n`` sets how many labelled images ``labels`` draws: applied, not refused."""
    out = tmp_path / "r"
    args = ["train", "acgan", "--steps", "2", "--batch-size", "8", "--image-size", "16"]
    args += ["--device", "cpu", "--model-opt", "g_width=4", "--model-opt", "d_width=4"]
    assert CliRunner().invoke(cli, [*args, "--out", str(out)]).exit_code == 0
    report = tmp_path / "m.json"
    result = CliRunner().invoke(
        cli,
        ["evaluate", str(out), "--metrics", "labels", "-n", "40", "--classifier-steps", "5",
         "--no-log", "--json", str(report)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "label_accuracy" in report.read_text()
