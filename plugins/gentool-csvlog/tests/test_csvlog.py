from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from gentool.cli.main import cli
from gentool.testing import plugin_registry

pytest.importorskip("gentool_csvlog")


@pytest.fixture(autouse=True)
def _csvlog_loaded() -> object:
    """Whatever registry other tests left behind, this one loads the plugin."""
    with plugin_registry("gentool-csvlog") as registry:
        yield registry


TINY = ["--batch-size", "8", "--image-size", "16", "--device", "cpu", "--log-every", "1",
        "--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8",
        "--sample-every", "100"]  # fmt: skip


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def table(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_rows_per_log_interval_and_exact_resume(tmp_path: Path) -> None:
    straight, split = tmp_path / "straight", tmp_path / "split"
    opts = ["--callback", "csv-log", "--callback-opt", "csv-log.every=2"]
    run("train", "dcgan", "--loss", "ls", *TINY, *opts, "--steps", "8", "--out", str(straight))
    run("train", "dcgan", "--loss", "ls", *TINY, *opts, "--steps", "4", "--checkpoint-every",
        "2", "--out", str(split))  # fmt: skip
    # a killed run wrote a row after its checkpoint: the resume drops it
    with (split / "metrics.csv").open("a") as handle:
        handle.write("999,0,0\n")
    run("train", "--resume", str(split), "--steps", "8")
    rows = table(straight / "metrics.csv")
    assert rows[0][0] == "step" and "loss_d" in rows[0] and "time" not in rows[0]
    assert [r[0] for r in rows[1:]] == ["2", "4", "6", "8"]
    assert table(split / "metrics.csv") == rows  # same steps, same values, bit for bit
    assert "[callback.csv-log]" in (straight / "run.toml").read_text()


def test_options_are_checked_and_fixed_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "dcgan", *TINY, "--steps", "1", "--callback", "csv-log",
            "--callback-opt", "csv-log.file=log.jsonl", "--out", str(out)]  # fmt: skip
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code != 0 and "not one of gentool's files" in bad.output
    run("train", "dcgan", *TINY, "--steps", "2", "--callback", "csv-log",
        "--callback-opt", "csv-log.keys=loss_g", "--out", str(out))  # fmt: skip
    assert table(out / "metrics.csv")[0] == ["loss_g"]
    changed = CliRunner().invoke(
        cli, ["train", "--resume", str(out), "--steps", "3", "--callback", "csv-log"]
    )
    assert changed.exit_code != 0 and "--callback cannot change when resuming" in changed.output
    run("train", "--config", str(out / "run.toml"), "--steps", "2", "--out", str(tmp_path / "b"))
    assert table(tmp_path / "b" / "metrics.csv")[0] == ["loss_g"]


def test_a_new_run_never_writes_over_an_existing_table(tmp_path: Path) -> None:
    """The user's metrics.csv in the run folder (or one a link points at) is never replaced:
    the run is refused before --overwrite removes anything of the old run."""
    out = tmp_path / "run"
    run("train", "dcgan", *TINY, "--steps", "2", "--out", str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (out / "metrics.csv").write_text("my,own,table\n")
    args = ["train", "dcgan", *TINY, "--steps", "2", "--callback", "csv-log", "--overwrite",
            "--out", str(out)]  # fmt: skip
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 2 and "metrics.csv already exists" in refused.output
    assert (out / "metrics.csv").read_text() == "my,own,table\n"
    assert all(
        (out / name).read_bytes() == data for name, data in before.items() if name != "metrics.csv"
    )
    (out / "metrics.csv").unlink()
    mine = tmp_path / "mine.csv"
    mine.write_text("keep\n")
    (out / "metrics.csv").symlink_to(mine)
    assert CliRunner().invoke(cli, args).exit_code == 2
    assert mine.read_text() == "keep\n"
