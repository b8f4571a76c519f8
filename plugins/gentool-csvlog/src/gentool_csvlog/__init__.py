"""``csv-log``: the values of a gentool training run as a CSV table, one row per log interval
(or every N-th), an example of a training callback plugin.

Switch it on with ``gentool train ... --callback csv-log`` (options: ``--callback-opt
csv-log.every=10``, ``csv-log.file=losses.csv``, ``csv-log.keys=loss_d,loss_g``). The table
goes to ``RUN/metrics.csv``. Its state (rows written) is saved in every checkpoint, so a
resumed run first drops the rows a killed run wrote after its checkpoint, as gentool does with
``log.jsonl``: a straight run and a resumed one write the same table.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
from typing import Any, ClassVar

import torch

from gentool.callback import Callback
from gentool.errors import GentoolError
from gentool.fileio import append_line, atomic_write_text
from gentool.hookspecs import hookimpl

GENTOOL_API_VERSION = 3

#: Keys of a log record that differ between two runs of the same steps (left out by default,
#: so a resumed run's table matches a straight run's).
VARYING = ("time", "images_per_s")
#: Names in the run folder that belong to gentool.
GENTOOL_NAMES = ("ckpt.safetensors", "config.json", "log.jsonl", "run.toml", ".lock")


@dataclasses.dataclass
class CsvLogConfig:
    #: Write a row at every N-th log interval.
    every: int = 1
    #: File name in the run folder.
    file: str = "metrics.csv"
    #: Columns, comma separated; empty: every numeric value of the first record but time
    #: and images_per_s.
    keys: str = ""

    def validate(self) -> None:
        if self.every < 1:
            raise GentoolError(f"csv-log: every must be at least 1, not {self.every}.")
        name = self.file.strip()
        if not name or "/" in name or "\\" in name or name.startswith(".") or name in GENTOOL_NAMES:
            raise GentoolError(
                f"csv-log: file {self.file!r} must be a plain file name in the run folder, not "
                "one of gentool's files (e.g. metrics.csv)."
            )


class CsvLog(Callback):
    PLUGIN_NAME: ClassVar[str] = "csv-log"
    DESCRIPTION: ClassVar[str] = "the run's logged values as a CSV table in RUN/metrics.csv"
    Config: ClassVar[type] = CsvLogConfig

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.config.validate()
        self.rows = 0  # data rows in the file
        self.logs = 0  # log intervals seen
        self.columns: list[str] = [k.strip() for k in self.config.keys.split(",") if k.strip()]

    def path(self, trainer: Any) -> Path:
        return Path(trainer.out) / self.config.file

    def check(self, trainer: Any) -> None:
        """A new run never writes over a file that is already there (it may be the user's;
        gentool's --overwrite removes only gentool's own files)."""
        path = self.path(trainer)
        if trainer.step == 0 and (path.is_symlink() or (path.exists() and path.stat().st_size)):
            raise GentoolError(
                f"csv-log: {path} already exists; move it away, or write the table elsewhere "
                f"with --callback-opt {self.PLUGIN_NAME}.file=NAME."
            )

    def on_fit_start(self, trainer: Any) -> None:
        path = self.path(trainer)
        if trainer.step == 0 or not path.is_file():
            self.rows = 0  # check() made sure nothing is there to lose
            return
        # A resumed run: keep the header and the rows its checkpoint counted.
        with path.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        if table:
            self.columns = table[0]
        kept = table[: 1 + self.rows]
        atomic_write_text(path, _csv_text(kept))

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self.logs += 1
        if self.logs % self.config.every:
            return
        path = self.path(trainer)
        if not self.columns:
            self.columns = ["step"] + [
                k
                for k, v in record.items()
                if k not in ("step", *VARYING) and isinstance(v, (int, float))
            ]
        if self.rows == 0:
            atomic_write_text(path, _csv_text([self.columns]))
        row = [_cell(record.get(k)) for k in self.columns]
        append_line(path, _csv_text([row]).rstrip("\r\n"))
        self.rows += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"rows": torch.tensor([self.rows]), "logs": torch.tensor([self.logs])}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if "rows" in state and "logs" in state:
            self.rows, self.logs = int(state["rows"][0]), int(state["logs"][0])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@hookimpl
def gentool_register_callbacks() -> list[type[Callback]]:
    return [CsvLog]
