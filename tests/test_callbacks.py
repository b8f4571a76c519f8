"""Training callbacks: options are parsed and refused by name; the engine's own side jobs
(log, sample grids, checkpoints, non-finite guard) are callbacks too, in a fixed order. The example plugin gentool-csvlog tests the rest (events,
state resumed exactly, run.toml) end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gentool.callback import Callback
from gentool.errors import GentoolError
from gentool.training.callbacks import JsonlLog, parse_callbacks


def test_options_go_to_the_named_callback() -> None:
    chosen = parse_callbacks(("a", "b"), ("a.every=3", "b.file = x.csv", "a.some-key=1"))
    assert chosen == {"a": {"every": "3", "some_key": "1"}, "b": {"file": "x.csv"}}


@pytest.mark.parametrize(
    "names, options, match",
    [
        (("a", "a"), (), "given twice"),
        (("a",), ("b.every=1",), "not switched on; add --callback b"),
        (("a",), ("every=1",), "must read NAME.KEY=VALUE"),
        (("a",), ("a.every",), "must read NAME.KEY=VALUE"),
        (("a",), ("a.every=1", "a.every=2"), "twice"),
    ],
)
def test_bad_callback_options_are_refused_by_name(
    names: tuple[str, ...], options: tuple[str, ...], match: str
) -> None:
    with pytest.raises(GentoolError, match=match):
        parse_callbacks(names, options)


def test_unknown_callback_names_the_choices(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gentool.cli.main import cli

    result = CliRunner().invoke(
        cli, ["train", "dcgan", "--steps", "1", "--callback", "nosuch", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "unknown callback 'nosuch'" in result.output
    assert not (tmp_path / "ckpt.safetensors").exists()


def test_the_jsonl_log_is_a_callback(tmp_path: Path) -> None:
    class Run:
        out = tmp_path

        @staticmethod
        def guard_write(write: object) -> None:
            write()  # type: ignore[operator]

    JsonlLog().on_log(Run(), {"step": 1, "loss": 0.5})
    assert (tmp_path / "log.jsonl").read_text() == '{"step": 1, "loss": 0.5}\n'
    assert isinstance(JsonlLog(), Callback)


class Recorder(Callback):
    """Every event with its step, in the order the engine calls them."""

    PLUGIN_NAME = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    def on_fit_start(self, trainer: Any) -> None:
        self.events.append(("start", trainer.step))

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self.events.append(("log", record["step"]))

    def on_samples(self, trainer: Any, path: Path) -> None:
        assert path.is_file()
        self.events.append(("samples", trainer.step))

    def on_save(self, trainer: Any, path: Path) -> None:
        assert path.is_file()
        self.events.append(("save", trainer.step))

    def on_fit_end(self, trainer: Any) -> None:
        self.events.append(("end", trainer.step))


def tiny_trainer(tmp_path: Path, callback: Callback, **settings: Any) -> Any:
    from gentool.data.base import DataSpec
    from gentool.training.base import TrainSettings
    from gentool.training.runner import build_trainer

    options = {"g_width": 4, "d_width": 4, "latent_dim": 8}
    base = {"batch_size": 8, "device": "cpu", "out": str(tmp_path / "run")}
    return build_trainer(
        "dcgan",
        model_options=options,
        data=DataSpec(name="digits", image_size=16, limit=32),
        settings=TrainSettings(**{**base, **settings}),
        callbacks=[callback],
    )


def test_sample_grids_checkpoints_and_log_are_the_engines_callbacks(tmp_path: Path) -> None:
    from gentool.training.callbacks import (
        Checkpointing,
        LogInterval,
        NonFiniteGuard,
        SampleGrids,
    )

    recorder = Recorder()
    trainer = tiny_trainer(
        tmp_path, recorder, steps=5, log_every=2, sample_every=3, checkpoint_every=4
    )
    jobs = [type(job) for job in trainer._side_jobs()]
    assert jobs[:3] == [NonFiniteGuard, LogInterval, Checkpointing]
    assert jobs[-1] is SampleGrids and Recorder in jobs
    trainer.fit()
    events = recorder.events
    assert events[:2] == [("start", 0), ("samples", 0)]  # started before the step-0 grid
    assert [s for e, s in events if e == "log"] == [2, 4, 5]
    assert [s for e, s in events if e == "samples"] == [0, 3, 5]
    assert [s for e, s in events if e == "save"] == [4, 5]
    assert events[-1] == ("end", 5)
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == [
        "step_000000.png",
        "step_000003.png",
        "step_000005.png",
    ]


def test_the_non_finite_guard_stops_before_the_value_is_logged(tmp_path: Path) -> None:
    from gentool.errors import TrainingStopped

    recorder = Recorder()
    trainer = tiny_trainer(tmp_path, recorder, steps=6, log_every=1, checkpoint_every=2)
    step = trainer.run_step

    def poisoned(batch: Any) -> Any:
        stats = step(batch)
        if trainer.step == 2:  # the third step
            stats["loss_d"] = stats["loss_d"] * float("nan")
        return stats

    trainer.run_step = poisoned
    with pytest.raises(TrainingStopped, match=r"'loss_d' became nan at step 3 \(model 'dcgan'"):
        trainer.fit()
    assert [s for e, s in recorder.events if e == "log"] == [1, 2]
    assert [s for e, s in recorder.events if e == "save"] == [2]
