"""Training callbacks: options are parsed and refused by name; the engine's own side jobs
(the JSONL log) are callbacks too. The example plugin gentool-csvlog tests the rest (events,
state resumed exactly, run.toml) end to end."""

from __future__ import annotations

from pathlib import Path

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
