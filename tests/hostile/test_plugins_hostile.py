"""Hostile plugins: whatever a plugin does, gentool keeps working and says so in one line.

Each case installs fake entry points whose modules are written to a temporary folder, then
runs ``gentool.cli.main.main()`` (the console script, which also registers plugin commands)
in-process. A plugin problem must be exactly one ``Warning:`` line naming the entry point and
the distribution, with everything else still working; a bad loss output must stop training
with exactly one ``Error:`` line naming the loss and its distribution.
"""

from __future__ import annotations

import copy
import re
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from gentool import plugins
from gentool.cli import main as main_module
from gentool.errors import PluginError
from gentool.losses.base import GanLoss
from hostile.harness import Case, run_case

EP = "'hostile' (gentool-hostile)"

PRELUDE = """
import dataclasses, itertools, sys, warnings
import click, torch
from gentool.hookspecs import hookimpl
from gentool.losses.base import GanLoss
from gentool.models.base import ModelPlugin
from gentool.data.base import DatasetPlugin
from gentool.models.dcgan import Dcgan


class OkLoss(GanLoss):
    PLUGIN_NAME = "okloss"
    DESCRIPTION = "a loss that works"

    def discriminator_loss(self, real_scores, fake_scores):
        sp = torch.nn.functional.softplus
        return sp(fake_scores).mean() + sp(-real_scores).mean()

    def generator_loss(self, fake_scores, real_scores=None):
        return torch.nn.functional.softplus(-fake_scores).mean()
"""


@dataclass
class Plugin:
    """One fake installed plugin: a module body (after ``PRELUDE``) behind an entry point."""

    source: str
    ep: str = "hostile"
    dist: str = "gentool-hostile"
    #: Entry-point value; ``{module}`` is the module written for this plugin.
    value: str = "{module}"


@dataclass
class PluginCase(Case):
    plugins: tuple[Plugin, ...] = ()
    #: GENTOOL_PLUGINS for the case.
    selection: str = "all"
    #: Replaces ``importlib.metadata.entry_points`` when set (receives the fake ones).
    entry_points: Callable[[list[Any]], Any] | None = None


def losses(expr: str) -> str:
    return f"@hookimpl\ndef gentool_register_losses():\n    return {expr}\n"


def loss_class(name: str, body: str, base: str = "OkLoss") -> str:
    return f"class {name}({base}):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n"


def commands(body: str) -> str:
    return "@hookimpl\ndef gentool_register_commands(cli):\n" + textwrap.indent(
        textwrap.dedent(body), "    "
    )


# --- what a case checks ---------------------------------------------------------------------


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Warning:")]


def _rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def warned(
    pattern: str | None,
    *,
    count: int = 1,
    names: bool = True,
    listed: tuple[str, ...] = (),
    absent: tuple[str, ...] = (),
) -> Callable[[Path, Any], None]:
    """Exactly ``count`` warning lines, the first matching ``pattern`` and naming the entry
    point and distribution; ``listed``/``absent`` are names in the ``plugins`` table."""

    def check(folder: Path, result: Any) -> None:
        out = result.output
        found = _warnings(out)
        assert len(found) == count, f"expected {count} warning line(s):\n{out}"
        if count and pattern is not None:
            assert re.search(pattern, found[0], re.IGNORECASE), f"{pattern!r} not in {found}"
        if count and names:
            assert EP in found[0], found
        rows = _rows(out)
        for name in listed:
            assert any(f" {name} " in row for row in rows), f"{name} not listed:\n{out}"
        for name in absent:
            assert not any(f" {name} " in row for row in rows), f"{name} listed:\n{out}"
        # Built-ins always keep working.
        if rows:
            assert any(" bce " in row for row in rows), out

    return check


def version_ok(folder: Path, result: Any) -> None:
    assert "gentool, version" in result.output, result.output


def both(*checks: Callable[[Path, Any], None]) -> Callable[[Path, Any], None]:
    def check(folder: Path, result: Any) -> None:
        for one in checks:
            one(folder, result)

    return check


LIST = ["plugins"]
TRAIN = [
    "train",
    "dcgan",
    "--steps",
    "2",
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
    "--log-every",
    "1",
    "--sample-every",
    "100",
    "--checkpoint-every",
    "100",
    "--out",
    "{tmp}/run",
]
RUN = ("run/*", "run/*/*")


def train(loss: str) -> list[str]:
    return [*TRAIN, "--loss", loss]


def bad_loss(case_id: str, body: str, match: str) -> PluginCase:
    """A case training 2 steps with a loss whose output is wrong: one Error line naming it."""
    source = loss_class("Bad", f'PLUGIN_NAME = "badloss"\n{textwrap.dedent(body)}')
    return PluginCase(
        case_id,
        train("badloss"),
        match=r"loss 'badloss' \(gentool-hostile\) " + match,
        may_change=RUN,
        plugins=(Plugin(source + losses("[Bad]")),),
        check=warned(None, count=0),
    )


def hostile_entry_points(_: list[Any]) -> Any:
    raise RuntimeError("broken METADATA")


def entry_point_without_dist(eps: list[Any]) -> Any:
    class NoDist:
        def __init__(self, ep: Any) -> None:
            self._ep = ep
            self.name = ep.name

        @property
        def dist(self) -> Any:
            raise SystemExit("no dist for you")

        def load(self) -> Any:
            return self._ep.load()

    return [NoDist(ep) for ep in eps]


OK_HOOK = losses("[OkLoss]")

CASES: list[PluginCase] = [
    # --- import time: any exception, SystemExit and BaseException included -----------------
    PluginCase(
        "import-raises",
        LIST,
        "ok",
        plugins=(Plugin('raise RuntimeError("boom")'),),
        check=both(
            warned(r"failed to load.*RuntimeError: boom"),
            # `gentool plugins` lists the problem too, on stdout with the table.
            lambda _, result: (
                None
                if re.search(
                    r"1 plugin problem\(s\), skipped:\n  - plugin 'hostile' "
                    r"\(gentool-hostile\) failed to load.*boom",
                    result.stdout,
                )
                else pytest.fail(result.stdout)
            ),
        ),
    ),
    PluginCase(
        "import-sys-exit-0-version",
        ["--version"],
        "ok",
        plugins=(Plugin("sys.exit(0)"),),
        check=both(warned(r"failed to load.*SystemExit: 0"), version_ok),
    ),
    PluginCase(
        "import-sys-exit-0-train",
        train("ls"),
        "ok",
        may_change=RUN,
        plugins=(Plugin("sys.exit(0)"),),
        check=both(
            warned(r"SystemExit"),
            lambda folder, _: (
                None
                if (folder / "run" / "ckpt.safetensors").is_file()
                else pytest.fail("train did not run")
            ),
        ),
    ),
    PluginCase(
        "import-system-exit-3",
        LIST,
        "ok",
        plugins=(Plugin("raise SystemExit(3)"),),
        check=warned(r"SystemExit: 3"),
    ),
    PluginCase(
        "import-baseexception-subclass",
        LIST,
        "ok",
        plugins=(Plugin("class Boom(BaseException): pass\nraise Boom('deep')"),),
        check=warned(r"Boom: deep"),
    ),
    PluginCase(
        "import-generatorexit",
        ["--version"],
        "ok",
        plugins=(Plugin("raise GeneratorExit"),),
        check=both(warned(r"GeneratorExit"), version_ok),
    ),
    PluginCase(
        "import-syntax-error",
        LIST,
        "ok",
        plugins=(Plugin("def broken(:\n    pass"),),
        check=warned(r"SyntaxError"),
    ),
    PluginCase(
        "import-missing-dependency",
        LIST,
        "ok",
        plugins=(Plugin("import gentool_no_such_dependency_xyz"),),
        check=warned(r"ModuleNotFoundError.*gentool_no_such_dependency_xyz"),
    ),
    PluginCase(
        "import-multiline-message",
        LIST,
        "ok",
        plugins=(Plugin('raise ValueError("line one\\nline two\\n\\nline three")'),),
        check=warned(r"ValueError: line one line two line three"),
    ),
    PluginCase(
        "import-str-raises",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Ugly(Exception):\n    def __str__(self):\n        raise SystemExit(9)\n"
                "raise Ugly()"
            ),
        ),
        check=warned(r"failed to load.*Ugly"),
    ),
    PluginCase(
        "import-asks-for-registry",
        LIST,
        "ok",
        plugins=(Plugin("import gentool.plugins\ngentool.plugins.get_registry()\n" + OK_HOOK),),
        check=warned(r"while it was being built", absent=("okloss",)),
    ),
    PluginCase(
        "import-turns-warnings-into-errors",
        LIST,
        "ok",
        plugins=(
            Plugin('warnings.simplefilter("error")\n' + OK_HOOK, ep="a", dist="gentool-a"),
            Plugin("raise RuntimeError('second')"),
        ),
        check=warned(r"RuntimeError: second", listed=("okloss",)),
    ),
    PluginCase(
        "import-replaces-showwarning",
        LIST,
        "ok",
        plugins=(
            Plugin("warnings.showwarning = lambda *a, **k: 1 / 0", ep="a", dist="gentool-a"),
            Plugin("raise RuntimeError('second')"),
        ),
        check=warned(r"RuntimeError: second"),
    ),
    PluginCase(
        "import-prints-to-stdout",
        LIST,
        "ok",
        plugins=(Plugin("print('NOISE FROM PLUGIN')\n" + OK_HOOK),),
        check=both(
            warned(None, count=0, listed=("okloss",)),
            lambda _, result: (
                None
                if "NOISE FROM PLUGIN" in result.output and "NOISE" not in result.stdout
                else pytest.fail(result.output)
            ),
        ),
    ),
    PluginCase(
        "import-changes-torch-dtype",
        LIST,
        "ok",
        plugins=(Plugin("torch.set_default_dtype(torch.float64)\n" + OK_HOOK),),
        check=both(
            warned(r"changed torch's default dtype \(torch.float64\)", listed=("okloss",)),
            lambda _, result: (
                None
                if torch.get_default_dtype() == torch.float32
                else pytest.fail("default dtype left at float64")
            ),
        ),
    ),
    PluginCase(
        "import-turns-off-gradients",
        train("okloss"),
        "ok",
        may_change=RUN,
        plugins=(Plugin("torch.set_grad_enabled(False)\n" + OK_HOOK),),
        check=warned(r"gradient mode \(off\); gentool restored it"),
    ),
    PluginCase(
        "import-message-with-control-characters",
        LIST,
        "ok",
        plugins=(Plugin('raise RuntimeError("red\\x1b[31m\\rover\\x00written")'),),
        check=lambda _, result: (
            None
            if re.search(r"^Warning: .*RuntimeError: red \[31m over written$", result.output, re.M)
            else pytest.fail(repr(result.output))
        ),
    ),
    PluginCase(
        "import-changes-directory",
        LIST,
        "ok",
        plugins=(Plugin("import os\nos.chdir('/')\n" + OK_HOOK),),
        check=both(
            warned(r"changed the working directory; gentool restored it", listed=("okloss",)),
            lambda folder, _: (
                None if Path.cwd() == folder else pytest.fail(f"cwd left at {Path.cwd()}")
            ),
        ),
    ),
    PluginCase(
        "entry-point-is-none",
        LIST,
        "ok",
        plugins=(Plugin("NOTHING = None", value="{module}:NOTHING"),),
        check=warned(r"loaded as None"),
    ),
    PluginCase(
        "entry-point-missing-attribute",
        LIST,
        "ok",
        plugins=(Plugin(OK_HOOK, value="{module}:nowhere"),),
        check=warned(r"failed to load.*AttributeError", absent=("okloss",)),
    ),
    PluginCase(
        "module-getattr-raises",
        LIST,
        "ok",
        plugins=(Plugin("def __getattr__(name):\n    raise SystemExit(1)\n"),),
        check=warned(r"GENTOOL_API_VERSION raised SystemExit"),
    ),
    PluginCase(
        "entry-points-listing-raises",
        ["--version"],
        "ok",
        plugins=(Plugin(OK_HOOK),),
        entry_points=hostile_entry_points,
        check=both(warned(r"could not be listed.*broken METADATA", names=False), version_ok),
    ),
    PluginCase(
        "entry-point-dist-raises",
        LIST,
        "ok",
        plugins=(Plugin(OK_HOOK),),
        entry_points=entry_point_without_dist,
        check=warned(None, count=0, listed=("okloss",)),
    ),
    # --- GENTOOL_API_VERSION ---------------------------------------------------------------
    *[
        PluginCase(
            f"api-version-{label}",
            LIST,
            "ok",
            plugins=(Plugin(f"GENTOOL_API_VERSION = {value}\n" + OK_HOOK),),
            check=warned(None, count=0, listed=("okloss",)),
        )
        for label, value in (
            ("str-1", '"1"'),
            ("str-1.0", '"1.0"'),
            ("float-1.0", "1.0"),
            ("str-padded", '" 1.2.3 "'),
            ("two", "2"),
            ("str-2.0", '"2.0"'),
        )
    ],
    *[
        PluginCase(
            f"api-version-{label}",
            LIST,
            "ok",
            plugins=(Plugin(f"GENTOOL_API_VERSION = {value}\n" + OK_HOOK),),
            check=warned(pattern, absent=("okloss",)),
        )
        for label, value, pattern in (
            ("junk-abc", '"abc"', r"'abc', which is not a version number"),
            ("junk-list", "[1]", r"\[1\], which is not a version number"),
            ("junk-bool", "True", r"True, which is not a version number"),
            ("junk-none-str", '"1.x"', r"not a version number"),
            ("four", "4", r"hook API 4, but this gentool provides hook API 3"),
            ("str-4.0", '"4.0"', r"hook API 4,"),
        )
    ],
    # --- registration: pluggy's checks -----------------------------------------------------
    PluginCase(
        "misspelt-hook",
        LIST,
        "ok",
        plugins=(Plugin("@hookimpl\ndef gentool_register_loss():\n    return [OkLoss]\n"),),
        check=warned(r"invalid.*unknown hook gentool_register_loss .*gentool_register_losses"),
    ),
    PluginCase(
        "hook-with-unknown-argument",
        LIST,
        "ok",
        plugins=(Plugin("@hookimpl\ndef gentool_register_losses(extra):\n    return []\n"),),
        check=warned(r"invalid.*extra"),
    ),
    PluginCase(
        "hook-wrapper",
        LIST,
        "ok",
        plugins=(
            Plugin("@hookimpl(wrapper=True)\ndef gentool_register_losses():\n    return (yield)\n"),
        ),
        check=warned(r"hook wrapper"),
    ),
    PluginCase(
        "hook-not-marked",
        LIST,
        "ok",
        plugins=(Plugin("def gentool_register_losses():\n    return [OkLoss]\n"),),
        check=warned(r"without @hookimpl", absent=("okloss",)),
    ),
    PluginCase(
        "same-module-twice",
        LIST,
        "ok",
        plugins=(
            Plugin(OK_HOOK, ep="first", dist="gentool-hostile"),
            Plugin(OK_HOOK, value="hostile_first_module"),
        ),
        check=warned(r"invalid.*already registered", listed=("okloss",)),
    ),
    # --- what a hook returns ---------------------------------------------------------------
    *[
        PluginCase(
            f"returns-{label}",
            LIST,
            "ok",
            plugins=(Plugin(losses(expr)),),
            check=warned(pattern, absent=("okloss",)),
        )
        for label, expr, pattern in (
            ("bare-class", "OkLoss", r"bare class.*; its losses were skipped\.$"),
            ("none", "None", r"returned None"),
            ("string", '"okloss"', r"returned 'okloss' \(str\)"),
            ("dict", '{"okloss": OkLoss}', r"\(dict\)"),
            ("int", "5", r"returned 5 \(int\)"),
            ("runaway-generator", "itertools.repeat(OkLoss)", r"more than 1000"),
        )
    ],
    PluginCase(
        "returns-instances",
        LIST,
        "ok",
        plugins=(Plugin(losses("[OkLoss()]")),),
        check=warned(r"an instance of OkLoss instead of the class", absent=("okloss",)),
    ),
    PluginCase(
        "returns-tuple",
        LIST,
        "ok",
        plugins=(Plugin(losses("(OkLoss,)")),),
        check=warned(None, count=0, listed=("okloss",)),
    ),
    PluginCase(
        "returns-generator",
        LIST,
        "ok",
        plugins=(Plugin("@hookimpl\ndef gentool_register_losses():\n    yield OkLoss\n"),),
        check=warned(None, count=0, listed=("okloss",)),
    ),
    PluginCase(
        "generator-raises-part-way",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "@hookimpl\ndef gentool_register_losses():\n    yield OkLoss\n"
                "    raise RuntimeError('half way')\n"
            ),
        ),
        check=warned(r"raised RuntimeError: half way in gentool_register_losses"),
    ),
    PluginCase(
        "generator-system-exit-part-way",
        ["--version"],
        "ok",
        plugins=(
            Plugin(
                "@hookimpl\ndef gentool_register_models():\n    yield from []\n    sys.exit(0)\n"
            ),
        ),
        check=both(warned(r"raised SystemExit.*gentool_register_models"), version_ok),
    ),
    *[
        PluginCase(
            f"hook-raises-{label}",
            LIST,
            "ok",
            plugins=(
                Plugin(f"class Boom(BaseException): pass\n@hookimpl\ndef {hook}():\n    {stmt}\n"),
            ),
            check=warned(pattern),
        )
        for label, hook, stmt, pattern in (
            (
                "valueerror",
                "gentool_register_losses",
                "raise ValueError('no')",
                r"raised ValueError: no in gentool_register_losses",
            ),
            (
                "system-exit",
                "gentool_register_datasets",
                "sys.exit(4)",
                r"raised SystemExit: 4 in gentool_register_datasets",
            ),
            (
                "baseexception",
                "gentool_register_models",
                "raise Boom('x')",
                r"raised Boom: x in gentool_register_models",
            ),
        )
    ],
    # --- each class is checked; the plugin's other classes still register -----------------
    *[
        PluginCase(
            f"class-{label}",
            LIST,
            "ok",
            plugins=(Plugin(loss_class("Bad", body) + losses("[Bad, OkLoss]")),),
            check=warned(pattern, listed=("okloss",), absent=("badloss",)),
        )
        for label, body, pattern in (
            ("name-int", "PLUGIN_NAME = 3", r"PLUGIN_NAME 3 \(int\)"),
            ("name-empty", 'PLUGIN_NAME = ""', r"without a PLUGIN_NAME"),
            ("name-space", 'PLUGIN_NAME = "bad loss"', r"'bad loss', which is not a name"),
            ("name-newline", 'PLUGIN_NAME = "bad\\nloss"', r"which is not a name"),
            ("name-non-ascii", 'PLUGIN_NAME = "badlöss"', r"which is not a name"),
            ("name-shell", 'PLUGIN_NAME = "bad;rm"', r"which is not a name"),
            ("name-too-long", 'PLUGIN_NAME = "b" * 65', r"which is not a name"),
            ("description-none", 'PLUGIN_NAME = "badloss"\nDESCRIPTION = None', r"DESCRIPTION"),
            ("description-int", 'PLUGIN_NAME = "badloss"\nDESCRIPTION = 7', r"DESCRIPTION 7"),
            (
                "config-not-dataclass",
                'PLUGIN_NAME = "badloss"\nclass Config:\n    margin = 1.0',
                r"Config is .*not a dataclass",
            ),
            (
                "config-instance",
                'PLUGIN_NAME = "badloss"\n'
                "@dataclasses.dataclass\nclass C:\n    margin: float = 1.0\nConfig = C()",
                r"not a dataclass",
            ),
            ("d-steps-zero", 'PLUGIN_NAME = "badloss"\nDEFAULT_D_STEPS = 0', r"DEFAULT_D_STEPS"),
            (
                "flag-not-bool",
                'PLUGIN_NAME = "badloss"\nALLOWS_BATCHNORM = "yes"',
                r"ALLOWS_BATCHNORM is 'yes'",
            ),
            (
                "method-not-callable",
                'PLUGIN_NAME = "badloss"\ngenerator_loss = None',
                r"generator_loss is None, not a method",
            ),
        )
    ],
    PluginCase(
        "class-without-loss-methods",
        LIST,
        "ok",
        plugins=(
            Plugin(
                loss_class("Bad", 'PLUGIN_NAME = "badloss"', "GanLoss") + losses("[Bad, OkLoss]")
            ),
        ),
        check=warned(r"does not define discriminator_loss", listed=("okloss",)),
    ),
    PluginCase(
        "class-name-property-raises",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Meta(type):\n"
                "    @property\n"
                "    def PLUGIN_NAME(cls):\n"
                "        raise SystemExit('gotcha')\n"
                "class Bad(OkLoss, metaclass=Meta):\n    pass\n" + losses("[Bad, OkLoss]")
            ),
        ),
        check=warned(r"reading its attributes raised SystemExit: gotcha", listed=("okloss",)),
    ),
    PluginCase(
        "class-getattribute-and-repr-raise",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Meta(type):\n"
                "    def __getattribute__(cls, name):\n"
                "        if name == 'DESCRIPTION':\n"
                "            raise GeneratorExit\n"
                "        return super().__getattribute__(name)\n"
                "    def __repr__(cls):\n"
                "        raise RuntimeError('no repr')\n"
                "class Bad(OkLoss, metaclass=Meta):\n    PLUGIN_NAME = 'badloss'\n"
                + losses("[Bad, OkLoss]")
            ),
        ),
        check=warned(r"raised GeneratorExit", listed=("okloss",), absent=("badloss",)),
    ),
    PluginCase(
        "fake-class-object",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Liar:\n"
                "    __class__ = property(lambda self: type)\n"
                "    PLUGIN_NAME = 'liar'\n" + losses("[Liar(), OkLoss]")
            ),
        ),
        check=warned(r"which is not a class", listed=("okloss",), absent=("liar",)),
    ),
    PluginCase(
        "name-str-subclass",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Sneaky(str):\n"
                "    def __hash__(self):\n        raise RuntimeError('no hash')\n"
                "    def __str__(self):\n        raise RuntimeError('no str')\n"
                + loss_class("Named", 'PLUGIN_NAME = Sneaky("sneaky")')
                + losses("[Named]")
            ),
        ),
        check=warned(None, count=0, listed=("sneaky",)),
    ),
    PluginCase(
        "description-multiline",
        LIST,
        "ok",
        plugins=(
            Plugin(
                loss_class("Wordy", 'PLUGIN_NAME = "wordy"\nDESCRIPTION = "two\\n  lines"')
                + losses("[Wordy]")
            ),
        ),
        check=both(
            warned(None, count=0, listed=("wordy",)),
            lambda _, result: None if "two lines" in result.output else pytest.fail(result.output),
        ),
    ),
    PluginCase(
        "wrong-base-class",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Data(DatasetPlugin):\n    PLUGIN_NAME = 'somedata'\n"
                + losses("[Data, object, OkLoss]")
            ),
        ),
        check=warned(r"which is not a GanLoss subclass", count=2, listed=("okloss",)),
    ),
    PluginCase(
        "base-class-itself",
        LIST,
        "ok",
        plugins=(Plugin(losses("[GanLoss, OkLoss]")),),
        check=warned(r"the base class GanLoss itself", listed=("okloss",)),
    ),
    *[
        PluginCase(
            f"model-{label}",
            LIST,
            "ok",
            plugins=(
                Plugin(
                    f"class Bad(Dcgan):\n    PLUGIN_NAME = 'badmodel'\n    {body}\n"
                    "@hookimpl\ndef gentool_register_models():\n    return [Bad]\n"
                ),
            ),
            check=warned(pattern, absent=("badmodel",)),
        )
        for label, body, pattern in (
            ("family-untypable", "FAMILY = 'a family!'", r"FAMILY is 'a family!'; it must be the"),
            ("family-none", "FAMILY = None", r"FAMILY is None"),
            ("config-not-dataclass", "Config = dict", r"Config is .*not a dataclass"),
            ("sizes-junk", "SUPPORTED_SIZES = 'big'", r"SUPPORTED_SIZES"),
            (
                "config-without-image-fields",
                "@dataclasses.dataclass\n    class Config:\n        width: int = 4",
                r"Config has no channels or image_size field",
            ),
        )
    ],
    # --- families, callbacks and metrics (hook API 3) ---------------------------------------
    *[
        PluginCase(
            f"family-{label}",
            LIST,
            "ok",
            plugins=(
                Plugin(
                    "from gentool.family import Family\n"
                    f"class Fam(Family):\n    PLUGIN_NAME = 'fam'\n    {body}\n"
                    "@hookimpl\ndef gentool_register_families():\n    return [Fam]\n"
                ),
            ),
            check=warned(pattern, absent=("fam",)),
        )
        for label, body, pattern in (
            ("no-trainer", "USES = frozenset({'generate'})", r"does not define trainer"),
            (
                "uses-unknown",
                "USES = {'paint'}\n    @classmethod\n    def trainer(cls): return None",
                r"USES is \{'paint'\}; it must be a set of generate",
            ),
            (
                "loss-flag-junk",
                "TAKES_GAN_LOSS = 'yes'\n    @classmethod\n    def trainer(cls): return None",
                r"TAKES_GAN_LOSS is 'yes'",
            ),
            (
                "domains-three",
                "DOMAINS = 3\n    @classmethod\n    def trainer(cls): return None",
                r"DOMAINS is 3; it must be 1 or 2",
            ),
            (
                "grid-columns-two",
                "GRID_COLUMNS = ('a', 'b')\n    @classmethod\n    def trainer(cls): return None",
                r"GRID_COLUMNS is \('a', 'b'\)",
            ),
        )
    ],
    PluginCase(
        "family-claims-a-builtin-name",
        [*TRAIN[:1], "dcgan", *TRAIN[2:], "--loss", "ls"],
        match=r"family 'gan' is registered by more than one plugin.*gentool-hostile",
        plugins=(
            Plugin(
                "from gentool.family import Family\n"
                "class Fam(Family):\n    PLUGIN_NAME = 'gan'\n"
                "    @classmethod\n    def trainer(cls): return None\n"
                "@hookimpl\ndef gentool_register_families():\n    return [Fam]\n"
            ),
        ),
        check=warned(r"claimed by both"),
    ),
    PluginCase(
        "model-of-an-unregistered-family",
        [*TRAIN[:1], "orphan", *TRAIN[2:]],
        match=r"no model family 'nowhere' is registered \(registered: .*gan.*\); install the "
        r"plugin that provides it",
        plugins=(
            Plugin(
                "class Orphan(Dcgan):\n    PLUGIN_NAME = 'orphan'\n    FAMILY = 'nowhere'\n"
                "@hookimpl\ndef gentool_register_models():\n    return [Orphan]\n"
            ),
        ),
        check=warned(None, count=0),
    ),
    PluginCase(
        "family-trainer-raises",
        [*TRAIN[:1], "fammodel", *TRAIN[2:]],
        match=r"family 'fam' \(gentool-hostile\) failed \(RuntimeError: no loop here\)",
        code=2,
        plugins=(
            Plugin(
                "from gentool.family import Family\n"
                "class Fam(Family):\n    PLUGIN_NAME = 'fam'\n    USES = frozenset({'generate'})\n"
                "    @classmethod\n    def trainer(cls):\n        raise RuntimeError('no loop here')\n"
                "class FamModel(Dcgan):\n    PLUGIN_NAME = 'fammodel'\n    FAMILY = 'fam'\n"
                "@hookimpl\ndef gentool_register_families():\n    return [Fam]\n"
                "@hookimpl\ndef gentool_register_models():\n    return [FamModel]\n"
            ),
        ),
        check=warned(None, count=0),
    ),
    PluginCase(
        "callback-config-not-dataclass",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "from gentool.callback import Callback\n"
                "class Cb(Callback):\n    PLUGIN_NAME = 'cb'\n    Config = dict\n"
                "@hookimpl\ndef gentool_register_callbacks():\n    return [Cb]\n"
            ),
        ),
        check=warned(r"callback 'cb' .*Config is .*not a dataclass", absent=("cb",)),
    ),
    PluginCase(
        "callback-raises-on-log",
        [*TRAIN, "--loss", "ls", "--callback", "cb"],
        match=r"callback 'cb' \(gentool-hostile\) failed \(ValueError: logger down\)",
        code=2,
        may_change=RUN,
        plugins=(
            Plugin(
                "from gentool.callback import Callback\n"
                "class Cb(Callback):\n    PLUGIN_NAME = 'cb'\n"
                "    def on_log(self, trainer, record):\n        raise ValueError('logger down')\n"
                "@hookimpl\ndef gentool_register_callbacks():\n    return [Cb]\n"
            ),
        ),
        check=warned(None, count=0),
    ),
    PluginCase(
        "callback-option-unknown",
        [*TRAIN, "--loss", "ls", "--callback", "cb", "--callback-opt", "cb.evry=3"],
        match=r"evry",
        plugins=(
            Plugin(
                "from gentool.callback import Callback\n"
                "@dataclasses.dataclass\nclass Opts:\n    every: int = 1\n"
                "class Cb(Callback):\n    PLUGIN_NAME = 'cb'\n    Config = Opts\n"
                "@hookimpl\ndef gentool_register_callbacks():\n    return [Cb]\n"
            ),
        ),
        check=warned(None, count=0),
    ),
    PluginCase(
        "metric-needs-junk",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "from gentool.metrics.base import Metric\n"
                "class M(Metric):\n    PLUGIN_NAME = 'm'\n    NEEDS = frozenset()\n"
                "@hookimpl\ndef gentool_register_metrics():\n    return [M]\n"
            ),
        ),
        check=warned(r"NEEDS is frozenset\(\); it must be a non-empty set", absent=("m",)),
    ),
    PluginCase(
        "dataset-without-load",
        LIST,
        "ok",
        plugins=(
            Plugin(
                "class Bad(DatasetPlugin):\n    PLUGIN_NAME = 'nodata'\n"
                "@hookimpl\ndef gentool_register_datasets():\n    return [Bad]\n"
            ),
        ),
        check=warned(r"dataset 'nodata'.*does not define load", absent=("nodata",)),
    ),
    # --- names claimed twice, and GENTOOL_PLUGINS ------------------------------------------
    PluginCase(
        "claims-a-builtin-name",
        train("ls"),
        match=r"loss 'ls' is registered by more than one plugin.*gentool-hostile",
        plugins=(Plugin(loss_class("Mine", 'PLUGIN_NAME = "ls"') + losses("[Mine]")),),
        check=warned(r"claimed by both"),
    ),
    PluginCase(
        "selection-not-installed",
        LIST,
        "ok",
        selection="gentool-nosuch",
        plugins=(Plugin(OK_HOOK),),
        check=warned(
            r"GENTOOL_PLUGINS names 'gentool-nosuch', which is not an installed.*"
            r"hostile \(gentool-hostile\)",
            names=False,
            absent=("okloss",),
        ),
    ),
    PluginCase(
        "selection-normalized-name",
        LIST,
        "ok",
        selection="Gentool_Hostile",
        plugins=(Plugin(OK_HOOK),),
        check=warned(None, count=0, listed=("okloss",)),
    ),
    PluginCase(
        "selection-none-never-imports",
        LIST,
        "ok",
        selection="none",
        plugins=(Plugin("sys.exit(0)"),),
        check=warned(None, count=0, absent=("okloss",)),
    ),
    # --- plugin commands -------------------------------------------------------------------
    PluginCase(
        "command-hook-raises",
        ["--version"],
        "ok",
        plugins=(Plugin(commands("raise ValueError('no commands')")),),
        check=both(
            warned(r"raised ValueError: no commands in gentool_register_commands"), version_ok
        ),
    ),
    PluginCase(
        "command-hook-system-exit",
        ["--version"],
        "ok",
        plugins=(Plugin(commands("sys.exit(0)")),),
        check=both(warned(r"raised SystemExit: 0 in gentool_register_commands"), version_ok),
    ),
    PluginCase(
        "command-replaces-train",
        ["train", "--help"],
        "ok",
        plugins=(
            Plugin(
                commands(
                    "@cli.command(name='train')\ndef fake():\n    print('HIJACKED')\n"
                    "cli.commands['plugins'] = fake\n"
                )
            ),
        ),
        check=both(
            warned(
                r"command 'train', which is already a built-in gentool command; the existing one is kept",
                count=2,
            ),
            lambda _, result: (
                None
                if "HIJACKED" not in result.output and "--loss" in result.output
                else pytest.fail(result.output)
            ),
        ),
    ),
    PluginCase(
        "command-works",
        ["hello"],
        "ok",
        plugins=(
            Plugin(commands("@cli.command()\ndef hello():\n    print('HELLO FROM PLUGIN')\n")),
        ),
        check=both(
            warned(None, count=0),
            lambda _, result: (
                None if "HELLO FROM PLUGIN" in result.output else pytest.fail(result.output)
            ),
        ),
    ),
    PluginCase(
        "command-listed-by-plugins",
        LIST,
        "ok",
        plugins=(Plugin(commands("@cli.command()\ndef hello():\n    'Say hello.'\n")),),
        check=warned(None, count=0, listed=("hello",)),
    ),
    PluginCase(
        "command-not-a-command",
        ["--help"],
        "ok",
        plugins=(Plugin(commands("cli.commands['junk'] = 5\ncli.commands['bad name'] = cli")),),
        check=warned(r"command 'junk' as 5, which is not a click command", count=2),
    ),
    PluginCase(
        "command-help-raises",
        ["--help"],
        "ok",
        plugins=(
            Plugin(
                commands(
                    "class Bad(click.Command):\n"
                    "    def get_short_help_str(self, limit=45):\n"
                    "        raise SystemExit(5)\n"
                    "cli.add_command(Bad('bad'))\n"
                )
            ),
        ),
        check=warned(r"command 'bad' whose help cannot be shown"),
    ),
    PluginCase(
        "command-hook-returns-commands",
        ["--version"],
        "ok",
        plugins=(Plugin(commands("return [click.Command('x')]")),),
        check=both(warned(r"returned \[.*\]; it must add commands"), version_ok),
    ),
    PluginCase(
        "command-two-plugins-same-name",
        ["hello"],
        "ok",
        plugins=(
            Plugin(
                commands("@cli.command()\ndef hello():\n    print('FIRST')\n"),
                ep="a",
                dist="gentool-a",
            ),
            Plugin(commands("@cli.command()\ndef hello():\n    print('SECOND')\n")),
        ),
        check=both(
            warned(r"command 'hello', which is already added by plugin 'a'"),
            lambda _, result: (
                None
                if "FIRST" in result.output and "SECOND" not in result.output
                else pytest.fail(result.output)
            ),
        ),
    ),
    PluginCase(
        "command-fails-when-run",
        ["boom"],
        match=r"command 'boom' from plugin 'hostile' \(gentool-hostile\) failed \(ValueError: kaput\)",
        plugins=(Plugin(commands("@cli.command()\ndef boom():\n    raise ValueError('kaput')\n")),),
    ),
    PluginCase(
        "command-baseexception-when-run",
        ["boom"],
        match=r"command 'boom' from plugin .*failed \(GeneratorExit\)",
        plugins=(Plugin(commands("@cli.command()\ndef boom():\n    raise GeneratorExit\n")),),
    ),
    # --- a plugin's own code raising mid-training: the one line names the plugin ------------
    PluginCase(
        "model-forward-raises-mid-training",
        [*TRAIN[:1], "raisy", *TRAIN[2:], "--loss", "ls", "--steps", "4"],
        match=r"model 'raisy' \(gentool-hostile\) failed \(ValueError: forward broke\); "
        r"this is a bug in the plugin",
        code=2,
        may_change=RUN,
        plugins=(
            Plugin(
                "class Flaky(torch.nn.Module):\n"
                "    def __init__(self, inner):\n"
                "        super().__init__()\n"
                "        self.inner, self.calls = inner, 0\n"
                "    def forward(self, z):\n"
                "        self.calls += 1\n"
                "        if self.calls > 3:\n"
                "            raise ValueError('forward broke')\n"
                "        return self.inner(z)\n"
                "class Raisy(Dcgan):\n"
                "    PLUGIN_NAME = 'raisy'\n"
                "    def __init__(self, config):\n"
                "        super().__init__(config)\n"
                "        self.generator = Flaky(self.generator)\n"
                "@hookimpl\ndef gentool_register_models():\n    return [Raisy]\n"
            ),
        ),
        check=warned(None, count=0),
    ),
    PluginCase(
        "loss-raises-mid-training",
        [*train("raisyloss"), "--steps", "4"],
        match=r"loss 'raisyloss' \(gentool-hostile\) failed in generator_loss \(KeyError: 'gone'\)",
        code=2,
        may_change=RUN,
        plugins=(
            Plugin(
                loss_class(
                    "Raisy",
                    'PLUGIN_NAME = "raisyloss"\ncalls = 0\n'
                    "def generator_loss(self, fake_scores, real_scores=None):\n"
                    "    type(self).calls += 1\n"
                    "    if type(self).calls > 2:\n"
                    "        raise KeyError('gone')\n"
                    "    return super().generator_loss(fake_scores, real_scores)",
                )
                + losses("[Raisy]")
            ),
        ),
        check=warned(None, count=0),
    ),
    # --- loss outputs, checked in the training loop ----------------------------------------
    bad_loss(
        "loss-returns-float",
        "def generator_loss(self, fake_scores, real_scores=None):\n    return 0.5",
        r"returned a Python float from generator_loss; a loss must return",
    ),
    bad_loss(
        "loss-returns-vector",
        "def generator_loss(self, fake_scores, real_scores=None):\n    return -fake_scores",
        r"returned a tensor of shape \(8,\) from generator_loss",
    ),
    bad_loss(
        "loss-returns-shape-1",
        "def discriminator_loss(self, real_scores, fake_scores):\n"
        "    return (fake_scores - real_scores).mean().reshape(1)",
        r"returned a tensor of shape \(1,\) from discriminator_loss",
    ),
    bad_loss(
        "loss-returns-int-tensor",
        "def discriminator_loss(self, real_scores, fake_scores):\n"
        "    return (fake_scores > real_scores).sum()",
        r"returned a tensor of dtype torch.int64 from discriminator_loss; a loss must return",
    ),
    bad_loss(
        "loss-returns-tuple",
        "def discriminator_loss(self, real_scores, fake_scores):\n"
        "    return fake_scores.mean(), real_scores.mean()",
        r"returned a tuple from discriminator_loss",
    ),
    bad_loss(
        "loss-without-gradient",
        "def generator_loss(self, fake_scores, real_scores=None):\n"
        "    return fake_scores.detach().mean()",
        r"returned a tensor without gradients from generator_loss; a loss must be computed",
    ),
    bad_loss(
        "regularizer-returns-vector",
        "def regularizer(self, discriminator, real, fake):\n    return discriminator(real)",
        r"returned a tensor of shape \(8,\) from regularizer; a regularizer must return None,",
    ),
    bad_loss(
        "probability-returns-float",
        "def probability(self, scores):\n    return 0.5",
        r"returned a Python float from probability",
    ),
    bad_loss(
        "loss-raises",
        "def generator_loss(self, fake_scores, real_scores=None):\n    raise KeyError('oops')",
        r"failed in generator_loss \(KeyError: 'oops'\)",
    ),
    PluginCase(
        "loss-config-validate-raises",
        [*train("picky"), "--loss-opt", "margin=-1"],
        match=r"loss 'picky' \(gentool-hostile\) could not be built from its options "
        r"\(ValueError: margin must be positive\)",
        may_change=RUN,
        plugins=(
            Plugin(
                "@dataclasses.dataclass\nclass PickyConfig:\n    margin: float = 1.0\n"
                "    def validate(self):\n        if self.margin <= 0:\n"
                "            raise ValueError('margin must be positive')\n"
                + loss_class("Picky", 'PLUGIN_NAME = "picky"\nConfig = PickyConfig')
                + losses("[Picky]")
            ),
        ),
    ),
    PluginCase(
        "loss-config-not-savable",
        train("unsavable"),
        match=r"loss 'unsavable' \(gentool-hostile\) could not be built .*TypeError",
        may_change=RUN,
        plugins=(
            Plugin(
                "@dataclasses.dataclass\nclass OddConfig:\n"
                "    thing: object = dataclasses.field(default_factory=object)\n"
                + loss_class("Odd", 'PLUGIN_NAME = "unsavable"\nConfig = OddConfig')
                + losses("[Odd]")
            ),
        ),
    ),
    PluginCase(
        "loss-init-raises",
        train("noinit"),
        match=r"loss 'noinit' \(gentool-hostile\) could not be built .*RuntimeError: no init",
        may_change=RUN,
        plugins=(
            Plugin(
                loss_class(
                    "NoInit",
                    'PLUGIN_NAME = "noinit"\n'
                    "def __init__(self, config=None):\n    raise RuntimeError('no init')",
                )
                + losses("[NoInit]")
            ),
        ),
    ),
    PluginCase(
        "loss-good-trains",
        train("okreg"),
        "ok",
        may_change=RUN,
        plugins=(
            Plugin(
                loss_class(
                    "Reg",
                    'PLUGIN_NAME = "okreg"\n'
                    "def regularizer(self, discriminator, real, fake):\n"
                    "    return None if real.shape[0] == 0 else discriminator(real).square().mean()",
                )
                + losses("[Reg]")
            ),
        ),
        check=warned(None, count=0),
    ),
]


# --- running a case through the console script ----------------------------------------------


class _FakeDist:
    def __init__(self, name: str) -> None:
        self.name = name


@dataclass
class MainResult:
    """What :func:`run_case` reads from a run of ``main()``."""

    output: str
    exit_code: int
    exception: BaseException | None
    #: Standard output alone.
    stdout: str = ""


@pytest.fixture
def plugin_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[PluginCase], Any]]:
    source_root = tmp_path / "plugin-src"
    source_root.mkdir()
    monkeypatch.syspath_prepend(str(source_root))
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)
    written: list[str] = []

    def install(case: PluginCase) -> None:
        eps = []
        for plugin in case.plugins:
            module = f"hostile_{plugin.ep}_module"
            (source_root / f"{module}.py").write_text(PRELUDE + "\n" + plugin.source)
            written.append(module)
            ep = EntryPoint(plugin.ep, plugin.value.format(module=module), "gentool")
            eps.append(ep._for(_FakeDist(plugin.dist)))  # type: ignore[attr-defined]
        import importlib

        importlib.invalidate_caches()

        def fake_entry_points(group: str) -> Any:
            if group != "gentool":
                return []
            return eps if case.entry_points is None else case.entry_points(eps)

        monkeypatch.setattr(plugins, "entry_points", fake_entry_points)

    def invoke(args: list[str], case: PluginCase) -> MainResult:
        fresh = copy.copy(main_module.cli)
        fresh.commands = dict(main_module.cli.commands)
        monkeypatch.setattr(main_module, "cli", fresh)
        install(case)
        plugins._REGISTRY = None
        env = {"GENTOOL_PLUGINS": case.selection, "COLUMNS": "200", **case.env}
        code, exception = 0, None
        argv = sys.argv
        with warnings.catch_warnings():
            warnings.simplefilter("always", plugins.PluginWarning)
            with CliRunner().isolation(input=case.input, env=env) as streams:
                sys.argv = ["gentool", *args]
                try:
                    main_module.main()
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                    exception = exc
                except BaseException as exc:
                    code, exception = 1, exc
                finally:
                    sys.argv = argv
                    sys.stdout.flush()
                    sys.stderr.flush()
                output = streams[-1].getvalue().decode("utf-8", "replace")
                stdout = streams[0].getvalue().decode("utf-8", "replace")
        registry = plugins._REGISTRY
        if registry is not None:  # every problem is one line, whatever the plugin did
            assert all("\n" not in p and p.isprintable() for p in registry.problems), registry
        return MainResult(output, code, exception, stdout)

    def run(case: PluginCase) -> Any:
        return run_case(case, folder, {}, invoke)  # type: ignore[arg-type]

    run.invoke = invoke  # type: ignore[attr-defined]

    yield run
    plugins._REGISTRY = None
    for module in written:
        sys.modules.pop(module, None)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_plugin(case: PluginCase, plugin_case: Callable[[PluginCase], Any]) -> None:
    plugin_case(case)


def test_case_count() -> None:
    assert len(CASES) >= 45
    assert len({case.id for case in CASES}) == len(CASES)


def test_the_harness_sees_a_plugin_traceback(
    plugin_case: Callable[[PluginCase], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the guard, a SystemExit at import would end the run: the case must fail."""
    original = plugins._register

    def unguarded(pm: Any, module: Any, *rest: Any) -> bool:
        raise RuntimeError("unguarded")

    monkeypatch.setattr(plugins, "_register", unguarded)
    case = PluginCase("probe", LIST, "ok", plugins=(Plugin(OK_HOOK),))
    with pytest.raises(AssertionError, match=r"exception escaped|expected success"):
        plugin_case(case)
    monkeypatch.setattr(plugins, "_register", original)


def test_ctrl_c_while_importing_a_plugin_aborts_without_a_traceback(
    plugin_case: Any,
) -> None:
    case = PluginCase("ctrl-c", ["--version"], plugins=(Plugin("raise KeyboardInterrupt"),))
    result = plugin_case.invoke(case.args, case)
    assert result.exit_code == 130
    assert "Aborted!" in result.output and "Traceback" not in result.output
    assert "version" not in result.output


def test_tiny_dcgan_with_a_vector_loss_stops_in_one_line_naming_the_plugin(
    plugin_case: Callable[[PluginCase], Any],
) -> None:
    case = bad_loss(
        "train-vector-loss",
        "def discriminator_loss(self, real_scores, fake_scores):\n"
        "    return fake_scores - real_scores",
        r"returned a tensor of shape \(8,\) from discriminator_loss; a loss must return a "
        r"floating-point scalar tensor",
    )
    result = plugin_case(case)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: loss 'badloss' (gentool-hostile) returned a tensor of shape (8,) from "
        "discriminator_loss; a loss must return a floating-point scalar tensor."
    ]
    assert result.exit_code == 2


# --- the loss checks themselves ----------------------------------------------------------------


class _Scalar(GanLoss):
    PLUGIN_NAME = "scalar"

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> Any:
        return (fake_scores - real_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: Any = None) -> Any:
        return -fake_scores.mean()


class _Child(_Scalar):
    PLUGIN_NAME = "child"

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: Any = None) -> Any:
        return super().generator_loss(fake_scores, real_scores) * 2


def test_checked_loss_traces_in_one_graph() -> None:
    """The output checks are metadata only: torch.compile traces them without a break."""
    loss = _Child()

    def step(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return loss.discriminator_loss(real, fake) + loss.generator_loss(fake)

    compiled = torch.compile(step, backend="eager", fullgraph=True)
    real, fake = torch.randn(8, requires_grad=True), torch.randn(8, requires_grad=True)
    out = compiled(real, fake)
    assert out.shape == () and out.requires_grad
    assert torch.allclose(out, step(real, fake))


def test_checks_wrap_once_and_keep_names() -> None:
    assert _Child.generator_loss.__name__ == "generator_loss"
    assert _Child.generator_loss.__wrapped__.__qualname__.startswith("_Child")  # type: ignore[attr-defined]
    assert _Child.discriminator_loss is _Scalar.discriminator_loss
    assert "regularizer" not in _Scalar.__dict__  # the base's None-returning one is untouched
    assert GanLoss.regularizer(_Scalar(), lambda x: x, torch.zeros(1), torch.zeros(1)) is None


def test_no_grad_skips_the_gradient_check_but_not_the_shape_check() -> None:
    loss = _Scalar()
    scores = torch.randn(4, requires_grad=True)
    with torch.no_grad():
        assert loss.discriminator_loss(scores, scores).shape == ()

    class Vector(_Scalar):
        def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> Any:
            return fake_scores

    with torch.no_grad(), pytest.raises(PluginError, match=r"loss 'scalar' returned a tensor"):
        Vector().discriminator_loss(scores, scores)


def test_builtin_loss_errors_pass_through_unwrapped() -> None:
    """A built-in (or unregistered) loss's own exception is not relabelled as a plugin's."""

    class Raising(_Scalar):
        def generator_loss(self, fake_scores: torch.Tensor, real_scores: Any = None) -> Any:
            raise ZeroDivisionError("mine")

    with pytest.raises(ZeroDivisionError):
        Raising().generator_loss(torch.zeros(2))
