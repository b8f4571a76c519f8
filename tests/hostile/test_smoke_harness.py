"""The harness itself: a refusal that changes a file, or a traceback, must fail a case."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostile.harness import Case, assert_one_line_error

CASES = [
    Case("unknown-model", ["train", "nosuch"], match="unknown model 'nosuch'"),
    Case("sample-missing-ckpt", ["sample", "{tmp}/none.safetensors"], match="does not exist"),
    Case(
        "sample-ok",
        ["sample", "{run}", "-n", "4", "-o", "grid.png"],
        "ok",
        may_change=("grid.png",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case, hostile: object) -> None:
    hostile(case)  # type: ignore[operator]


def test_harness_catches_a_changed_file(hostile: object, tmp_path: Path) -> None:
    case = Case("writes-unlisted", ["sample", "{run}", "-n", "4", "-o", "grid.png"], "ok")
    with pytest.raises(AssertionError, match="files changed"):
        hostile(case)  # type: ignore[operator]


def test_harness_rejects_tracebacks() -> None:
    with pytest.raises(AssertionError):
        assert_one_line_error("Traceback (most recent call last):\nError: x")
    with pytest.raises(AssertionError):
        assert_one_line_error("Error: internal error (KeyError: 'x')")
    assert assert_one_line_error("Usage: gentool\nError: bad") == "Error: bad"
