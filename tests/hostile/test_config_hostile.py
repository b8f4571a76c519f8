"""``gentool train`` settings under hostile input: run.toml types and spellings, KEY=VALUE
options given twice, options the optimizer does not use, counts that could never finish,
and a broken torchrun environment.

Each row is a :class:`~hostile.harness.Case`; the harness asserts the exit code, one
``Error:`` line and no traceback for refusals, and that no file outside ``may_change`` moved.
Most rows are refused before any training; the ``ok`` rows train one tiny step.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import Result

from gentool.checkpoint import load_checkpoint
from gentool.errors import GentoolError
from gentool.training.settings import TrainSettings
from hostile.harness import Case

#: One step of a tiny DCGAN on 16 px digits, as command-line options.
TINY = [
    "--steps",
    "1",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--device",
    "cpu",
    "--model-opt",
    "g_width=4",
    "--model-opt",
    "d_width=4",
    "--model-opt",
    "latent_dim=8",
    "--sample-every",
    "100",
]
NEW = ("new/*", "new/samples/*")
#: The same tiny run as a run file: top-level keys, then the [model-opt] table.
TOP = {
    "model": '"dcgan"',
    "loss": '"ls"',
    "steps": "1",
    "batch-size": "8",
    "image-size": "16",
    "device": '"cpu"',
    "sample-every": "100",
}
MODEL_OPT = {"g_width": "4", "d_width": "4", "latent_dim": "8"}


def run_file(
    top: dict[str, str] | None = None,
    model_opt: dict[str, str] | None = None,
    tail: str = "",
    drop: tuple[str, ...] = (),
) -> str:
    """The tiny run file with ``top``/``model_opt`` keys replaced or added, ``drop`` keys
    left out and ``tail`` (more TOML) appended."""
    keys = {k: v for k, v in {**TOP, **(top or {})}.items() if k not in drop}
    table = {**MODEL_OPT, **(model_opt or {})}
    lines = [f"{k} = {v}" for k, v in keys.items()]
    lines += ["", "[model-opt]", *(f"{k} = {v}" for k, v in table.items())]
    return "\n".join(lines) + "\n" + tail


def writes(text: str | bytes, name: str = "c.toml") -> object:
    data = text.encode() if isinstance(text, str) else text

    def setup(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return setup


def from_file(case_id: str, text: str | bytes, *extra: str, **kwargs: object) -> Case:
    """``gentool train --config c.toml --out NEW`` with ``c.toml`` holding ``text``."""
    return Case(
        case_id,
        ["train", "--config", "{tmp}/c.toml", "--out", "{tmp}/new", *extra],
        setup=writes(text),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def dcgan(*extra: str) -> list[str]:
    return ["train", "dcgan", "--loss", "ls", *TINY, "--out", "{tmp}/new", *extra]


def by_epochs(epochs: str, *extra: str) -> list[str]:
    """The tiny run with ``--epochs`` in place of ``--steps``."""
    args = dcgan(*extra)
    at = args.index("--steps")
    return [*args[:at], *args[at + 2 :], "--epochs", epochs]


def nothing_made(root: Path, result: Result) -> None:
    assert not (root / "new").exists(), result.output


def run_toml_has(*present: str, absent: tuple[str, ...] = ()) -> object:
    def check(root: Path, result: Result) -> None:
        text = (root / "new" / "run.toml").read_text()
        keys = set(re.findall(r"^([\w-]+) =", text, re.MULTILINE))
        assert set(present) <= keys, (present, text)
        assert not keys & set(absent), (absent, text)

    return check


def model_config(**expected: object) -> object:
    def check(root: Path, result: Result) -> None:
        config = load_checkpoint(root / "new").meta["model_config"]
        for key, value in expected.items():
            assert config[key] == value, (key, config[key], result.output)

    return check


def not_in_output(text: str) -> object:
    def check(root: Path, result: Result) -> None:
        assert text not in result.output, result.output

    return check


# --- run.toml values take the TOML type of their option ------------------------------------
#: Wrong TOML values, by label (each a value the command line would refuse or never give).
WRONG = {
    "float": "2.9",
    "whole-float": "8.0",
    "exp-float": "1e3",
    "bool": "true",
    "false": "false",
    "date": "1979-05-27",
    "datetime": "1979-05-27T07:32:00Z",
    "local-datetime": "1979-05-27T07:32:00",
    "time": "07:32:00",
    "array": "[1, 2]",
    "inline-table": "{ a = 1 }",
    "string": '"8"',
}
#: (key, labels of WRONG to try, what the message says it must be).
TYPE_ROWS = [
    ("steps", ("float", "whole-float", "bool", "date", "string", "datetime"), "a whole number"),
    ("batch-size", ("float", "false", "time", "string"), "a whole number"),
    ("seed", ("exp-float", "date", "bool", "local-datetime"), "a whole number"),
    ("image-size", ("whole-float", "bool", "string"), "a whole number"),
    ("g-steps", ("float", "bool", "array"), "a whole number"),
    ("d-steps", ("whole-float", "string"), "a whole number"),
    ("log-every", ("float", "date"), "a whole number"),
    ("limit", ("bool", "float"), "a whole number"),
    ("threads", ("whole-float", "inline-table"), "a whole number"),
    ("lr-g", ("bool", "string", "date"), "a number"),
    ("lr-d", ("false", "time", "array"), "a number"),
    ("beta1", ("bool", "string"), "a number"),
    ("ema", ("false", "datetime"), "a number"),
    ("test-fraction", ("string", "bool"), "a number"),
]
FLAG_ROWS = [
    ("compile", "1"),
    ("compile", '"true"'),
    ("channels-last", "0"),
    ("channels-last", "1979-05-27"),
    ("tensorboard", "1.0"),
    ("cuda-graphs", '"yes"'),
    ("sync-bn", "[true]"),
]
STRING_ROWS = [
    ("optimizer", "1", "optimizer-int"),
    ("optimizer", "true", "optimizer-bool"),
    ("precision", "16", "precision-int"),
    ("channels", "3", "channels-int"),
    ("channels", "3.0", "channels-float"),
    ("device", "0", "device-int"),
    ("dataset", "true", "dataset-bool"),
    ("model", "1979-05-27", "model-date"),
    ("loss", "07:32:00", "loss-time"),
    ("out", "1", "out-int"),
    ("data-root", '["a", "b"]', "data-root-array"),
]

TYPES = [
    *(
        from_file(
            f"toml-{key}-{label}",
            run_file({key: WRONG[label]}),
            match=f"'{key}' must be {what}",
            check=nothing_made,
        )
        for key, labels, what in TYPE_ROWS
        for label in labels
    ),
    *(
        from_file(
            f"toml-{key}-flag-{re.sub(r'[^a-z0-9]+', '', value) or 'x'}",
            run_file({key: value}),
            match=f"'{key}' must be true or false",
        )
        for key, value in FLAG_ROWS
    ),
    *(
        from_file(f"toml-{label}", run_file({key: value}), match=f"'{key}' must be a string")
        for key, value, label in STRING_ROWS
    ),
    # an integer too large for a float: refused as not finite, not an OverflowError
    from_file("toml-lr-g-huge-integer", run_file({"lr-g": "9" * 400}), match="finite"),
    # the right types are taken as they are (no rounding, no conversion)
    from_file(
        "toml-typed-values-ok",
        run_file({"lr-g": "1", "seed": "7", "compile": "false", "channels": '"1"'}),
        expect="ok",
        may_change=NEW,
        check=run_toml_has("seed", "lr-g"),
    ),
    # [model-opt]/[loss-opt]/[train-opt]: one number, string or boolean per key
    *(
        from_file(
            f"toml-model-opt-{label}",
            run_file(model_opt={"latent_dim": WRONG[label]}),
            match=f"'latent_dim' must be a number, a string or true/false, not {what}",
        )
        for label, what in [
            ("date", "the date"),
            ("datetime", "the date-time"),
            ("time", "the time"),
            ("array", "an array"),
            ("inline-table", "a table"),
        ]
    ),
    from_file(
        "toml-loss-opt-date",
        run_file(tail="\n[loss-opt]\na = 1979-05-27\n"),
        match=r"\[loss-opt\] 'a' must be",
    ),
    from_file(
        "toml-train-opt-time",
        run_file(tail="\n[train-opt]\naugment = 07:32:00\n"),
        match=r"\[train-opt\] 'augment' must be",
    ),
    # a fraction, a float or a boolean for an integer model field is refused, not truncated
    *(
        from_file(
            f"toml-model-opt-int-{label}",
            run_file(model_opt={"latent_dim": WRONG[label]}),
            match="latent_dim.*integer",
        )
        for label in ("float", "whole-float", "bool")
    ),
    from_file(
        "toml-model-opt-key-with-equals",
        run_file(model_opt={'"latent_dim=9"': "1"}),
        match="not an option name",
    ),
]

# --- a byte-order mark before run.toml is skipped ------------------------------------------
BOM = b"\xef\xbb\xbf"
BYTE_ORDER_MARK = [
    from_file("bom-run-file-ok", BOM + run_file().encode(), expect="ok", may_change=NEW),
    # a refusal for another reason proves the file was read past the mark
    from_file("bom-then-bad-steps", BOM + run_file({"steps": "0"}).encode(), match="--steps"),
    from_file(
        "bom-then-float-steps",
        BOM + run_file({"steps": "2.9"}).encode(),
        match="'steps' must be a whole number",
    ),
]

# --- one key, one spelling, once --------------------------------------------------------------
CONFLICTS = [
    from_file(
        "dup-toml-batch-size-spellings",
        run_file({"batch_size": "8"}),
        match="'batch-size' and 'batch_size' are two spellings",
    ),
    from_file(
        "dup-toml-image-size-spellings-differ",
        run_file({"image_size": "32"}),
        match="'image-size' and 'image_size'",
    ),
    from_file(
        "dup-toml-sync-bn-spellings",
        run_file({"sync-bn": "false", "sync_bn": "false"}),
        match="'sync-bn' and 'sync_bn'",
    ),
    from_file(
        "dup-toml-log-every-spellings",
        run_file({"log_every": "1", "log-every": "2"}),
        match="'log_every' and 'log-every'",
    ),
    from_file(
        "dup-toml-model-opt-spellings",
        run_file(model_opt={"latent-dim": "16"}),
        match=r"\[model-opt\] has both 'latent_dim' and 'latent-dim'",
    ),
    from_file(
        "dup-toml-loss-opt-spellings",
        run_file(
            {"loss": '"bce"'}, tail="\n[loss-opt]\nnon-saturating = true\nnon_saturating = false\n"
        ),
        match="'non-saturating' and 'non_saturating'",
    ),
    from_file(
        "dup-toml-two-model-opt-tables",
        run_file(tail="\n[model_opt]\nspectral_norm = true\n"),
        match="'model-opt' and 'model_opt' are two spellings",
    ),
    Case(
        "dup-cli-model-opt-spellings",
        dcgan("--model-opt", "latent-dim=16"),
        match="--model-opt latent_dim=8 and --model-opt latent-dim=16 both set 'latent_dim'",
        check=nothing_made,
    ),
    Case(
        "dup-cli-model-opt-values",
        dcgan("--model-opt", "g_width=8"),
        match="g_width=4 and --model-opt g_width=8",
    ),
    Case(
        "dup-cli-loss-opt-values",
        dcgan("--loss-opt", "a=-1", "--loss-opt", "a=0"),
        match="--loss-opt a=-1 and --loss-opt a=0",
    ),
    Case(
        "dup-cli-train-opt-values",
        dcgan("--train-opt", "augment=flip", "--train-opt", "augment=crop"),
        match="augment=flip and --train-opt augment=crop",
    ),
    Case(
        "dup-cli-same-pair-twice",
        dcgan("--model-opt", "latent_dim=8"),
        match="both set 'latent_dim'",
    ),
    # the command line replaces the file's value of one key and keeps the file's other keys
    from_file(
        "dup-cli-overrides-file-key-ok",
        run_file(),
        "--model-opt",
        "latent-dim=16",
        expect="ok",
        may_change=NEW,
        check=model_config(latent_dim=16, g_width=4, d_width=4),
    ),
    from_file(
        "dup-cli-twice-over-file",
        run_file(),
        "--model-opt",
        "latent_dim=16",
        "--model-opt",
        "latent_dim=32",
        match="--model-opt latent_dim=16 and --model-opt latent_dim=32",
    ),
]

# --- every option applies to the chosen optimizer, or is refused ------------------------------
OPTIMIZER = [
    Case(
        "rmsprop-beta1",
        dcgan("--optimizer", "rmsprop", "--beta1", "0.9"),
        match="--beta1 is an Adam setting and --optimizer rmsprop does not use it",
        check=nothing_made,
    ),
    Case("rmsprop-beta2", dcgan("--optimizer", "rmsprop", "--beta2", "0.99"), match="--beta2"),
    Case(
        "rmsprop-beta1-at-default",
        dcgan("--optimizer", "rmsprop", "--beta1", "0.5"),
        match="--beta1 is an Adam setting",
    ),
    from_file(
        "rmsprop-beta-in-run-file",
        run_file({"optimizer": '"rmsprop"', "beta2": "0.999"}),
        match="--beta2 is an Adam setting",
    ),
    from_file(
        "rmsprop-in-run-file-beta-on-cli",
        run_file({"optimizer": '"rmsprop"'}),
        "--beta1",
        "0.9",
        match="--beta1 is an Adam setting",
    ),
    from_file(
        "rmsprop-on-cli-beta-in-run-file",
        run_file({"beta1": "0.9"}),
        "--optimizer",
        "rmsprop",
        match="--beta1 is an Adam setting",
    ),
    Case(
        "rmsprop-run-file-lists-no-betas-ok",
        dcgan("--optimizer", "rmsprop"),
        "ok",
        may_change=NEW,
        check=run_toml_has("optimizer", "lr-g", absent=("beta1", "beta2")),
    ),
    Case(
        "adam-run-file-lists-betas-ok",
        dcgan("--beta1", "0.9"),
        "ok",
        may_change=NEW,
        check=run_toml_has("beta1", "beta2"),
    ),
    Case(
        "rmsprop-vae-no-recommended-beta-ok",
        [
            "train",
            "vae",
            "--optimizer",
            "rmsprop",
            *TINY[:8],
            "--model-opt",
            "width=4",
            "--model-opt",
            "latent_dim=4",
            "--sample-every",
            "100",
            "--out",
            "{tmp}/new",
        ],
        "ok",
        may_change=NEW,
        check=not_in_output("--beta1"),
    ),
]


def rmsprop_run(folder: Path) -> None:
    from gentool.data.base import DataSpec
    from gentool.training import runner

    runner.train(
        "dcgan",
        loss="ls",
        model_options={"g_width": 4, "d_width": 4, "latent_dim": 8},
        data=DataSpec(image_size=16),
        steps=1,
        batch_size=8,
        sample_every=100,
        device="cpu",
        optimizer="rmsprop",
        out=str(folder / "prev"),
    )


OPTIMIZER.append(
    Case(
        "rmsprop-run-file-trains-again-ok",
        ["train", "--config", "{tmp}/prev/run.toml", "--out", "{tmp}/new"],
        "ok",
        setup=rmsprop_run,
        may_change=NEW,
    )
)

# --- counts that could never finish ------------------------------------------------------------
#: Appended where the old code would start an endless run: it then stops at the batch size.
TOO_BIG_BATCH = ("--batch-size", "100000")
BOUNDS = [
    Case(
        "bound-g-steps-huge",
        dcgan("--g-steps", "100000000", *TOO_BIG_BATCH),
        match="--g-steps must be between 1 and 1000",
        check=nothing_made,
    ),
    Case(
        "bound-g-steps-1001",
        dcgan("--g-steps", "1001", *TOO_BIG_BATCH),
        match="--g-steps must be between 1 and 1000",
    ),
    Case(
        "bound-d-steps-huge",
        dcgan("--d-steps", str(10**12), *TOO_BIG_BATCH),
        match="--d-steps must be between 1 and 1000",
    ),
    Case(
        "bound-steps-over-a-billion",
        dcgan("--steps", str(10**9 + 1), *TOO_BIG_BATCH),
        match="--steps must be between 1 and 1000000000",
    ),
    Case(
        "bound-steps-2-to-70",
        dcgan("--steps", str(2**70), *TOO_BIG_BATCH),
        match="--steps must be between 1 and 1000000000",
    ),
    Case(
        "bound-epochs-overflow",
        by_epochs("1e308"),
        match="--epochs must be at most 1000000",
    ),
    Case(
        "bound-epochs-too-many",
        by_epochs("1000001", *TOO_BIG_BATCH),
        match="--epochs must be at most 1000000",
    ),
    Case(
        "bound-log-every",
        dcgan("--log-every", str(10**9 + 1)),
        match="--log-every must be between 1 and 1000000000",
    ),
    Case(
        "bound-sample-every",
        dcgan("--sample-every", str(10**12)),
        match="--sample-every must be between 1 and 1000000000",
    ),
    Case(
        "bound-checkpoint-every",
        dcgan("--checkpoint-every", str(2**63)),
        match="--checkpoint-every must be between 1 and 1000000000",
    ),
    Case(
        "bound-batch-size",
        dcgan("--batch-size", str(2**20 + 1)),
        match="--batch-size must be between 1 and 1048576",
    ),
    from_file(
        "bound-g-steps-in-run-file",
        run_file({"g-steps": "5000", "batch-size": "100000"}),
        match="--g-steps must be between 1 and 1000",
    ),
]

# --- the torchrun environment is checked before any work ------------------------------------
#: What torchrun sets for rank 0 of two processes.
TORCHRUN = {
    "WORLD_SIZE": "2",
    "RANK": "0",
    "LOCAL_RANK": "0",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29555",
}
#: Appended where the old code would wait for a peer that never comes: it stops at once.
STOPS_OLD_CODE = ("--epochs", "1")


def env_case(case_id: str, env: dict[str, str], match: str, full: bool = False) -> Case:
    """A tiny run under ``env``; ``full`` starts from the whole torchrun environment."""
    values = {**TORCHRUN, **env} if full else env
    return Case(
        case_id,
        dcgan(*STOPS_OLD_CODE) if full else dcgan(),
        env={k: v for k, v in values.items() if v != "<unset>"},
        match=match,
        check=nothing_made,
    )


DISTRIBUTED = [
    env_case("env-world-size-without-rank", {"WORLD_SIZE": "2"}, "RANK, LOCAL_RANK, MASTER_ADDR"),
    env_case("env-rank-garbage", {"RANK": "garbage"}, "RANK='garbage' is not an integer"),
    env_case("env-rank-empty", {"RANK": ""}, "RANK='' is not an integer"),
    env_case("env-world-size-garbage", {"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
    env_case("env-world-size-float", {"WORLD_SIZE": "2.0"}, "WORLD_SIZE='2.0' is not an integer"),
    env_case("env-world-size-zero", {"WORLD_SIZE": "0"}, "WORLD_SIZE=0 must be at least 1"),
    env_case("env-world-size-negative", {"WORLD_SIZE": "-2"}, "WORLD_SIZE=-2"),
    env_case("env-rank-without-world-size", {"RANK": "1"}, "RANK=1 but WORLD_SIZE is not set"),
    env_case("env-rank-negative", {"RANK": "-1"}, "RANK=-1 is negative"),
    env_case("env-local-rank-negative", {"LOCAL_RANK": "-1"}, "LOCAL_RANK=-1 is negative"),
    env_case("env-local-rank-garbage", {"LOCAL_RANK": "0x1"}, "LOCAL_RANK='0x1'"),
    env_case("env-master-port-garbage", {"MASTER_PORT": "http"}, "MASTER_PORT='http'"),
    env_case("env-rank-equals-world", {"RANK": "2"}, "RANK=2 but WORLD_SIZE=2", full=True),
    env_case("env-rank-past-world", {"RANK": "7"}, "RANK=7 but WORLD_SIZE=2", full=True),
    env_case(
        "env-local-rank-past-world", {"LOCAL_RANK": "5"}, "LOCAL_RANK=5 but WORLD_SIZE", full=True
    ),
    env_case("env-missing-master-addr", {"MASTER_ADDR": "<unset>"}, "MASTER_ADDR is not set", True),
    env_case("env-missing-master-port", {"MASTER_PORT": "<unset>"}, "MASTER_PORT is not set", True),
    env_case("env-missing-local-rank", {"LOCAL_RANK": "<unset>"}, "LOCAL_RANK is not set", True),
    env_case("env-empty-master-addr", {"MASTER_ADDR": " "}, "MASTER_ADDR is empty", full=True),
    env_case("env-master-port-zero", {"MASTER_PORT": "0"}, "MASTER_PORT=0 is not a port", True),
    env_case("env-master-port-65536", {"MASTER_PORT": "65536"}, "MASTER_PORT=65536", full=True),
    env_case("env-master-port-negative", {"MASTER_PORT": "-1"}, "MASTER_PORT=-1", full=True),
    env_case("env-master-port-text", {"MASTER_PORT": "29500x"}, "MASTER_PORT='29500x'", True),
    env_case("env-names-torchrun", {"RANK": "x"}, "set by torchrun|torchrun sets"),
    # torchrun --nproc-per-node 1 sets them all for one process: that is one process
    Case(
        "env-torchrun-one-process-ok",
        dcgan(),
        "ok",
        env={**TORCHRUN, "WORLD_SIZE": "1"},
        may_change=NEW,
    ),
]

ALL = TYPES + BYTE_ORDER_MARK + CONFLICTS + OPTIMIZER + BOUNDS + DISTRIBUTED


@pytest.mark.parametrize("case", ALL, ids=str)
def test_config_case(case: Case, hostile: object) -> None:
    hostile(case)  # type: ignore[operator]


def test_case_ids_are_unique_across_the_suite() -> None:
    ids = [case.id for case in ALL]
    assert len(ids) == len(set(ids))
    others = Path(__file__).parent
    for path in others.glob("test_*.py"):
        if path.name != Path(__file__).name:
            text = path.read_text()
            clashes = [i for i in ids if f'"{i}"' in text]
            assert not clashes, (path.name, clashes)


@pytest.mark.parametrize(
    ("field", "value"),
    [("samples", 0), ("samples", 1025), ("g_steps", 0), ("steps", 10**9 + 1), ("epochs", 1e7)],
)
def test_library_settings_are_bounded(field: str, value: object) -> None:
    """The bounds hold for library callers too (``samples`` has no command-line option)."""
    flag = field.replace("_", "-")
    with pytest.raises(GentoolError, match=f"--{flag} must be (between 1 and|at most)"):
        TrainSettings(**{field: value}).validate()  # type: ignore[arg-type]
