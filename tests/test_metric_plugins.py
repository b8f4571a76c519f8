"""Metrics are registered classes: a third party's metric runs in ``gentool evaluate`` end to
end, and every built-in one declares what the command needs before any work."""

from __future__ import annotations

import json
import re
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from click.testing import CliRunner

from gentool import plugins
from gentool.cli.main import cli
from gentool.data.base import DataSpec
from gentool.family import USES
from gentool.hookspecs import hookimpl
from gentool.metrics.base import EvaluationContext, Metric
from gentool.metrics.evaluate import describe, metric_names

BUILTIN = ["fid", "kid", "is", "swd", "prdc", "diversity", "labels", "recon", "cycle", "paired"]
BUILTIN += ["sr"]


# --- a third party's metric ---------------------------------------------------------------------


class MeanGap(Metric):
    """Mean brightness of the generated images minus that of the real ones, in [0, 1]."""

    PLUGIN_NAME: ClassVar[str] = "meangap"
    DESCRIPTION: ClassVar[str] = "mean brightness, generated minus real"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate"})
    DRAWS_SAMPLES: ClassVar[bool] = True
    KEYS: ClassVar[dict[str, str]] = {
        "mean_gap": "mean pixel of generated minus real images, [0,1] (0 matches)",
        "mean_real": "mean pixel of the real images, [0,1]",
    }
    #: What the last compute saw, for the test to check against.
    seen: ClassVar[dict[str, Any]] = {}

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        generated, real = ctx.generated.double() / 255, ctx.real.double() / 255
        MeanGap.seen.update(generated=ctx.generated, family=ctx.family.PLUGIN_NAME)
        ctx.notes.append("meangap: brightness only.")
        return {"mean_gap": float(generated.mean() - real.mean()), "mean_real": float(real.mean())}


class ReconOnly(Metric):
    PLUGIN_NAME: ClassVar[str] = "reconly"
    DESCRIPTION: ClassVar[str] = "a metric for models that reconstruct"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"reconstruct"})

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        return {"reconly": 1.0}


class Broken(Metric):
    PLUGIN_NAME: ClassVar[str] = "broken"
    DESCRIPTION: ClassVar[str] = "returns text instead of numbers"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate"})

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        return {"broken": "high"}  # type: ignore[dict-item]


class _Dist:
    name = "gentool-meangap"


def _install(monkeypatch: pytest.MonkeyPatch, *metrics: type[Metric], module: Any = None) -> None:
    """``metrics`` (or a plugin ``module``) installed as gentool-meangap, and loaded."""
    if module is None:

        @hookimpl
        def gentool_register_metrics() -> list[type[Metric]]:
            return list(metrics)

        module = types.ModuleType("gentool_meangap")
        module.gentool_register_metrics = gentool_register_metrics
    monkeypatch.setitem(sys.modules, "gentool_meangap", module)
    entry = EntryPoint(name="meangap", value="gentool_meangap", group="gentool")
    found = [entry._for(_Dist())]  # type: ignore[attr-defined]
    monkeypatch.setattr(plugins, "entry_points", lambda group: found if group == "gentool" else [])
    monkeypatch.setenv(plugins.ENV_VAR, "gentool-meangap")
    monkeypatch.setattr(plugins, "_REGISTRY", None)  # the old registry is back afterwards
    assert plugins.get_registry().problems == []


@pytest.fixture
def with_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, MeanGap, ReconOnly)


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gentool.training.runner import train

    out = tmp_path_factory.mktemp("metric-plugins") / "dcgan"
    ckpt = train(
        "dcgan",
        loss="ls",
        model_options={"g_width": 4, "d_width": 4, "latent_dim": 8},
        data=DataSpec(name="digits", image_size=16, limit=60),
        steps=2,
        batch_size=8,
        samples=4,
        device="cpu",
        out=str(out),
    )
    return ckpt.parent


def test_a_plugin_metric_runs_end_to_end(
    with_plugin: None, dcgan_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.json"
    args = ["evaluate", str(dcgan_run), "--metrics", "meangap", "-n", "12", "--json", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert set(record["metrics"]) == {"mean_gap", "mean_real"}
    assert record["metrics_run"] == ["meangap"] and record["num_generated"] == 12
    assert record["notes"] == ["meangap: brightness only."]
    assert MeanGap.seen["family"] == "gan" and len(MeanGap.seen["generated"]) == 12
    # the value is the metric's own, as the table shows it, with its meaning
    real = MeanGap.seen["generated"].double().mean() / 255 - record["metrics"]["mean_gap"]
    assert record["metrics"]["mean_real"] == pytest.approx(float(real))
    assert f"{record['metrics']['mean_gap']:.4g}" in result.output
    assert "mean pixel of generated minus real" in result.output
    last = json.loads((dcgan_run / "log.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "evaluate" and last["mean_gap"] == record["metrics"]["mean_gap"]


def test_a_plugin_metric_is_listed_and_chosen_by_default(
    with_plugin: None, dcgan_run: Path, tmp_path: Path
) -> None:
    assert metric_names()[: len(BUILTIN)] == BUILTIN and "meangap" in metric_names()
    assert describe("mean_real") == "mean pixel of the real images, [0,1]"
    listing = CliRunner().invoke(cli, ["plugins"], env={"COLUMNS": "200"})
    assert "meangap" in listing.output and "gentool-meangap" in listing.output
    out = tmp_path / "all.json"
    args = ["evaluate", str(dcgan_run), "-n", "8", "--no-log", "--json", str(out)]
    result = CliRunner().invoke(cli, args, env={"GENTOOL_INCEPTION_WEIGHTS": None})
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    # every metric that applies to a GAN, the plugin's after the built-ins; its images shared
    assert record["metrics_run"] == ["swd", "prdc", "diversity", "meangap"]
    assert record["num_generated"] == 8 and "mean_gap" in record["metrics"]
    assert "fid, kid and is left out: no Inception weights" in record["notes"][0]


def test_plugin_metrics_that_do_not_apply_or_misbehave(
    monkeypatch: pytest.MonkeyPatch, dcgan_run: Path
) -> None:
    _install(monkeypatch, MeanGap, ReconOnly, Broken)
    run = str(dcgan_run)
    result = CliRunner().invoke(cli, ["evaluate", run, "--metrics", "meangp", "--no-log"])
    assert result.exit_code == 2 and "unknown metric 'meangp' (did you mean 'meangap'?)" in (
        result.output
    )
    assert "meangap" in result.output.split("choose from")[1]
    result = CliRunner().invoke(cli, ["evaluate", run, "--metrics", "reconly", "--no-log"])
    assert result.exit_code == 2
    assert "metric 'reconly' cannot be computed here: it does not apply to gan models" in (
        result.output
    )
    result = CliRunner().invoke(cli, ["evaluate", run, "--metrics", "broken", "--no-log"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "metric 'broken' (gentool-meangap) must return a dict of names to numbers" in (
        result.output
    )


def test_the_docs_example_metric_works(
    monkeypatch: pytest.MonkeyPatch, dcgan_run: Path, tmp_path: Path
) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "evaluate.md").read_text()
    section = text.split("## Writing a metric plugin", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    module = types.ModuleType("gentool_brightness")
    exec(compile(code, "docs/evaluate.md", "exec"), module.__dict__)
    _install(monkeypatch, module=module)
    out = tmp_path / "b.json"
    args = ["evaluate", str(dcgan_run), "--metrics", "brightness", "-n", "6", "--no-log"]
    result = CliRunner().invoke(cli, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    gap = json.loads(out.read_text())["metrics"]["brightness_gap"]
    assert -1 < gap < 1 and "generated minus real" in result.output


# --- what every registered metric declares -----------------------------------------------------


def test_builtin_metrics_are_registered_like_plugins() -> None:
    registry = plugins.build_registry("none")
    assert list(registry.entries["metric"]) == BUILTIN
    for name in BUILTIN:
        metric: type[Metric] = registry.get("metric", name)
        assert registry.info("metric", name).distribution == "gentool"
        assert metric.NEEDS and metric.NEEDS.issubset(USES), name
        assert metric.KEYS and all(isinstance(v, str) and v for v in metric.KEYS.values())
        assert metric.MIN_IMAGES >= 1 and metric.compute is not Metric.compute


@pytest.mark.parametrize(
    ("key", "meaning"),
    [
        ("fid", "Fréchet Inception distance (lower is better)"),
        ("kid_std", "standard deviation of KID over subsets"),
        ("swd_16px", "sliced Wasserstein distance x1e3 at 16px (lower)"),
        ("coverage", "share of real neighbourhoods holding a generated image"),
        ("diversity_ratio_ba", "outputs / inputs (collapse: near 0)"),
        ("label_accuracy_real", "the classifier's accuracy on real images of the split"),
        ("recon_mse_01", "reconstruction mean squared error, pixels in [0, 1] (lower)"),
        ("cycle_psnr_b", "B->A->B reconstruction PSNR, dB (higher)"),
        ("b2a_ssim", "b2a translation vs its known target: SSIM"),
        ("identity_a2b_mse", "the input itself vs that target (baseline): MSE, [0,1] pixels"),
        ("bicubic_psnr_y", "bicubic interpolation (baseline): PSNR of luma, dB, border shaved"),
        ("lpips", "upscaled split: LPIPS, AlexNet (lower)"),
        ("nonsense", ""),
    ],
)
def test_each_key_is_described_by_its_metric(key: str, meaning: str) -> None:
    assert describe(key).startswith(meaning) and (meaning or describe(key) == "")


def test_shared_work_is_done_once_and_timed_apart() -> None:
    from gentool.data.base import ImageData
    from gentool.metrics.base import EvaluationSettings
    from gentool.training.families import GanFamily

    class Model(torch.nn.Module):
        calls = 0

        def sample(self, n: int, *, generator: Any = None) -> torch.Tensor:
            Model.calls += 1
            return torch.rand(n, 1, 8, 8, generator=generator) * 2 - 1

    data = ImageData(images=torch.zeros(4, 1, 8, 8, dtype=torch.uint8), name="zeros")
    ctx = EvaluationContext(Model(), GanFamily, data, EvaluationSettings(num_samples=5))
    first = ctx.once("features", lambda: ctx.generated.float().mean())
    assert ctx.once("features", lambda: 1 / 0) is first  # never made twice
    assert ctx.generated is ctx.generated and Model.calls == 1 and ctx.num_generated == 5
    assert set(ctx.timings) == {"features", "sampling"}
    assert ctx.shared_seconds == pytest.approx(sum(ctx.timings.values()))
