"""The plugin manager: built-in plugins plus third-party entry points (group ``gentool``).

Built-ins are registered through the same hooks as anyone else's (see ``DEFAULT_PLUGINS``).
External plugins are loaded from the ``gentool`` entry-point group unless the environment
variable ``GENTOOL_PLUGINS`` restricts them:

* unset or ``all``: load every installed plugin;
* ``none`` (or empty): load built-ins only (the test suite does this);
* ``name1,name2``: load only these entry points (by entry-point or distribution name).

A plugin can never take gentool down. Whatever it does while it is imported, registered or
asked for its classes (raise any exception, ``sys.exit()``, return the wrong thing, misspell a
hook, target another hook-API version) is reported once as a one-line warning naming its entry
point and distribution, and only that plugin (or that one class) is skipped; everything else
keeps working. Only Ctrl-C (``KeyboardInterrupt``) goes through. A name claimed twice is an
error naming both claimants when it is used.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import itertools
import math
import numbers
import os
import re
import sys
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import click
import pluggy

from gentool import hookspecs
from gentool.errors import PluginError

ENV_VAR = "GENTOOL_PLUGINS"
BUILTIN_DISTRIBUTION = "gentool"

#: Modules registered as built-in plugins, in order.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "gentool.losses.builtin",
    "gentool.data.builtin",
    "gentool.models.builtin",
    "gentool.training.builtin",
    "gentool.metrics.builtin",
)

KINDS = ("model", "loss", "dataset", "family", "metric", "callback", "trainer")
PLURALS = {
    "model": "models",
    "loss": "losses",
    "dataset": "datasets",
    "family": "families",
    "metric": "metrics",
    "callback": "callbacks",
    "trainer": "trainers",
}
#: The hook that registers each kind.
HOOKS = {
    "model": "gentool_register_models",
    "loss": "gentool_register_losses",
    "dataset": "gentool_register_datasets",
    "family": "gentool_register_families",
    "metric": "gentool_register_metrics",
    "callback": "gentool_register_callbacks",
    "trainer": "gentool_register_trainers",
}

#: What a user can type as a plugin or command name.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
#: More classes than this from one hook is a runaway generator, not a plugin.
MAX_CLASSES = 1000


class PluginWarning(UserWarning):
    """A plugin could not be used; the rest keep working."""


@dataclass(frozen=True)
class PluginInfo:
    """One registered model, loss or dataset."""

    kind: str
    name: str
    cls: type
    description: str
    distribution: str
    source: str


@dataclass(frozen=True)
class CommandInfo:
    """One command added by a plugin's ``gentool_register_commands``."""

    name: str
    source: str
    distribution: str
    help: str


@dataclass
class Registry:
    """Every registered plugin class, by kind and name."""

    entries: dict[str, dict[str, PluginInfo]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    duplicates: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    plugin_manager: pluggy.PluginManager = field(default_factory=lambda: make_plugin_manager())
    #: Distribution of each registered plugin (by its pluggy name).
    distributions: dict[str, str] = field(default_factory=dict)
    #: Commands plugins added, once :func:`register_commands` has run.
    commands: dict[str, CommandInfo] = field(default_factory=dict)

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def info(self, kind: str, name: str) -> PluginInfo:
        if (kind, name) in self.duplicates:
            claims = self.duplicates[(kind, name)]
            who = " and ".join(f"'{c.source}' ({c.distribution})" for c in claims)
            raise PluginError(
                f"{kind} '{name}' is registered by more than one plugin: {who}; uninstall one "
                f"or restrict plugins with {ENV_VAR}."
            )
        try:
            return self.entries[kind][name]
        except KeyError:
            available = self.names(kind)
            close = difflib.get_close_matches(name, available, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise PluginError(
                f"unknown {kind} '{name}'.{hint} Available: {', '.join(available) or 'none'} "
                f"(see 'gentool plugins')."
            ) from None

    def get(self, kind: str, name: str) -> Any:
        return self.info(kind, name).cls

    def add(self, info: PluginInfo) -> None:
        table = self.entries[info.kind]
        key = (info.kind, info.name)
        if key in self.duplicates:
            self.duplicates[key].append(info)
            return
        if info.name in table:
            first = table[info.name]
            self.duplicates[key] = [first, info]
            self.problems.append(
                f"{info.kind} '{info.name}' is claimed by both '{first.source}' "
                f"({first.distribution}) and '{info.source}' ({info.distribution}); "
                "using the name is an error until one is removed."
            )
            return
        table[info.name] = info

    def distribution_of(self, kind: str, cls: type) -> str | None:
        """The distribution that registered ``cls`` as a ``kind``, if it is registered."""
        for info in self.entries[kind].values():
            if info.cls is cls:
                return info.distribution
        for claims in self.duplicates.values():
            for info in claims:
                if info.kind == kind and info.cls is cls:
                    return info.distribution
        return None


def _base_classes() -> dict[str, type]:
    from gentool.callback import Callback
    from gentool.data.base import DatasetPlugin
    from gentool.family import Family, TrainingLoop
    from gentool.losses.base import GanLoss
    from gentool.metrics.base import Metric
    from gentool.models.base import ModelPlugin

    return {
        "model": ModelPlugin,
        "loss": GanLoss,
        "dataset": DatasetPlugin,
        "family": Family,
        "metric": Metric,
        "callback": Callback,
        "trainer": TrainingLoop,
    }


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


# --- describing what a plugin did, in one line, whatever it is --------------------------


class _Skip(Exception):
    """A plugin or class that cannot be used; the message says why."""


def _one_line(text: str, limit: int = 200) -> str:
    """``text`` as one printable line of at most ``limit`` characters."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _show(obj: object, limit: int = 80) -> str:
    """``repr(obj)`` in one short line, even when ``repr`` itself raises."""
    try:
        text = repr(obj)
        if not isinstance(text, str):
            raise TypeError
    except KeyboardInterrupt:
        raise
    except BaseException:
        text = object.__repr__(obj)
    return _one_line(text, limit)


def _describe(exc: BaseException) -> str:
    """``TypeName: message`` in one line, even when ``str(exc)`` raises."""
    try:
        message = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException:
        message = ""
    name = type(exc).__name__
    return f"{name}: {_one_line(message)}" if message.strip() else name


def _label(cls: type) -> str:
    try:
        name = type.__dict__["__name__"].__get__(cls)
    except KeyboardInterrupt:
        raise
    except BaseException:
        name = "?"
    return f"class {name}"


def _kind_of(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}".removeprefix("builtins.")


@contextmanager
def _contained(source: str = "", problems: list[str] | None = None) -> Iterator[None]:
    """Run plugin code so that it cannot change gentool's process-wide state.

    Warning filters and ``warnings.showwarning`` are put back, what it prints goes to stderr
    (stdout stays clean for data), and a changed torch default dtype or gradient mode is put
    back and reported in ``problems``.
    """
    import torch

    before = (torch.get_default_dtype(), torch.is_grad_enabled())
    cwd, stderr = _cwd(), sys.stderr
    try:
        with warnings.catch_warnings(), redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr = stderr
        changed = []
        after = (torch.get_default_dtype(), torch.is_grad_enabled())
        if after != before:
            torch.set_default_dtype(before[0])
            torch.set_grad_enabled(before[1])
            changed.append(
                f"torch's default dtype ({after[0]}) or gradient mode "
                f"({'on' if after[1] else 'off'})"
            )
        if cwd is not None and _cwd() != cwd:
            os.chdir(cwd)
            changed.append("the working directory")
        if changed and problems is not None:
            problems.append(
                f"plugin {source} changed {' and '.join(changed)}; gentool restored it."
            )


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _warn(message: str) -> None:
    """Report one plugin problem as a one-line warning, whatever the warning filters say."""
    try:
        warnings.warn(message, PluginWarning, stacklevel=3)
    except Exception:  # the filters turned warnings into errors: still never a traceback
        sys.stderr.write(f"Warning: {message}\n")


# --- which plugins to load -----------------------------------------------------------------


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _selection(selection: str | None) -> set[str] | None:
    """The names ``GENTOOL_PLUGINS`` chooses (normalized); ``None`` means every plugin."""
    if selection is None:
        return None
    chosen = {_normalize(s.strip()) for s in selection.split(",") if s.strip()}
    if "all" in chosen:
        return None
    chosen.discard("none")
    return chosen


def _wanted(chosen: set[str] | None, ep_name: str, dist_name: str) -> bool:
    if chosen is None:
        return True
    return _normalize(ep_name) in chosen or _normalize(dist_name) in chosen


def _entry_points() -> tuple[list[Any], str | None]:
    try:
        with _contained():
            return list(entry_points(group=hookspecs.PROJECT_NAME)), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return [], (
            f"the installed plugins could not be listed ({_describe(exc)}); loading built-ins "
            "only (a broken package's metadata? reinstall it)."
        )


def _entry_point_names(ep: Any) -> tuple[str, str]:
    try:
        name = ep.name
        name = _one_line(name, 80) if isinstance(name, str) else _show(name)
    except KeyboardInterrupt:
        raise
    except BaseException:
        name = "?"
    try:
        dist = ep.dist
        dist_name = dist.name if dist is not None else "unknown"
        dist_name = _one_line(dist_name, 80) if isinstance(dist_name, str) else "unknown"
    except KeyboardInterrupt:
        raise
    except BaseException:
        dist_name = "unknown"
    return name, dist_name


# --- checking a plugin module --------------------------------------------------------------


def _api_major(declared: object) -> int:
    """The major version in ``GENTOOL_API_VERSION`` (``1``, ``"1"``, ``"1.0"``, ``1.0``)."""
    if isinstance(declared, bool):
        raise ValueError
    if isinstance(declared, numbers.Integral):
        return int(declared)
    if isinstance(declared, float) and math.isfinite(declared) and declared >= 0:
        return int(declared)
    if isinstance(declared, str):
        match = re.fullmatch(r"\s*(\d+)(?:\.\d+){0,2}\s*", declared)
        if match:
            return int(match.group(1))
    raise ValueError


def _check_api_version(module: Any, source: str) -> str | None:
    try:
        declared = getattr(module, "GENTOOL_API_VERSION", None)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return f"plugin {source}: reading GENTOOL_API_VERSION raised {_describe(exc)}; skipped."
    if declared is None:
        return None
    try:
        major = _api_major(declared)
    except ValueError:
        return (
            f"plugin {source} declares GENTOOL_API_VERSION = {_show(declared)}, which is not "
            f"a version number (write GENTOOL_API_VERSION = {hookspecs.HOOK_API_VERSION}); "
            "skipped."
        )
    if major in hookspecs.SUPPORTED_API_VERSIONS:
        return None
    return (
        f"plugin {source} was written for gentool hook API {major}, but this gentool "
        f"provides hook API {hookspecs.HOOK_API_VERSION}; skipping it (upgrade the plugin "
        "or gentool)."
    )


def _hook_problems(pm: pluggy.PluginManager, module: Any) -> list[str]:
    """Hooks of ``module`` that gentool cannot call the way it calls hooks."""
    out: list[str] = []
    known = sorted(name for name in dir(hookspecs) if name.startswith("gentool_"))
    for caller in pm.get_hookcallers(module) or []:
        if not caller.has_spec():
            close = difflib.get_close_matches(caller.name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            out.append(f"unknown hook {caller.name}{hint}")
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is module and (impl.hookwrapper or impl.wrapper):
                out.append(f"{caller.name} is a hook wrapper, which gentool does not support")
    return out


def _unmarked_hooks(module: Any) -> list[str]:
    """Functions named like a gentool hook but not marked ``@hookimpl``: never called."""
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    out = []
    for name in dir(module):
        if name.startswith("gentool_") and name in hookspecs.__dict__:
            value = getattr(module, name, None)
            if callable(value) and not hasattr(value, marker):
                out.append(name)
    return out


def _register(
    pm: pluggy.PluginManager, module: Any, name: str, distribution: str, problems: list[str]
) -> bool:
    source = f"'{name}' ({distribution})"
    if module is None:
        problems.append(f"plugin {source} loaded as None (check its entry point); skipped.")
        return False
    version_problem = _check_api_version(module, source)
    if version_problem:
        problems.append(version_problem)
        return False
    try:
        with _contained(source, problems):
            pm.register(module, name=name)
            found = _hook_problems(pm, module)
            if found:
                raise _Skip("; ".join(found))
            pm.check_pending()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        try:
            if pm.get_plugin(name) is module:  # never another name's registration of it
                pm.unregister(name=name)
        except Exception:
            pass
        why = str(exc) if isinstance(exc, _Skip) else _describe(exc)
        problems.append(f"plugin {source} is invalid and was skipped: {_one_line(why)}")
        return False
    try:
        with _contained():
            unmarked = _unmarked_hooks(module)
    except KeyboardInterrupt:
        raise
    except BaseException:
        unmarked = []
    for hook in unmarked:
        problems.append(
            f"plugin {source} defines {hook} without @hookimpl (from gentool.hookspecs), so "
            "gentool never calls it; mark it."
        )
    return True


# --- checking what a hook returned ---------------------------------------------------------


def _is_dataclass_type(obj: object) -> bool:
    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def _is_count(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1


def _own_method(cls: type, base: type, name: str) -> str | None:
    method = getattr(cls, name, None)
    if not callable(method):
        return f"its {name} is {_show(method)}, not a method"
    inherited = getattr(base, name, None)
    # classmethods are bound anew on each access: compare the functions behind them
    if getattr(method, "__func__", method) is getattr(inherited, "__func__", inherited):
        return f"it does not define {name}"
    return None


def _check_loss(cls: type, base: type) -> None:
    for name in ("discriminator_loss", "generator_loss"):
        problem = _own_method(cls, base, name)
        if problem:
            raise _Skip(problem)
    for name in ("regularizer", "probability", "from_options"):
        if not callable(getattr(cls, name, None)):
            raise _Skip(f"its {name} is not a method")
    steps = cls.DEFAULT_D_STEPS  # type: ignore[attr-defined]
    if not _is_count(steps):
        raise _Skip(f"DEFAULT_D_STEPS is {_show(steps)}; it must be a whole number >= 1")
    for flag in ("ALLOWS_BATCHNORM", "GENERATOR_NEEDS_REAL", "NEEDS_DOUBLE_BACKWARD"):
        value = getattr(cls, flag)
        if not isinstance(value, bool):
            raise _Skip(f"{flag} is {_show(value)}; it must be True or False")


def _check_model(cls: type) -> None:
    family = cls.FAMILY  # type: ignore[attr-defined]
    if not isinstance(family, str) or not NAME_PATTERN.fullmatch(family):
        raise _Skip(
            f"FAMILY is {_show(family)}; it must be the name of a registered family (see "
            "'gentool plugins', or one a plugin's gentool_register_families adds)"
        )
    sizes = cls.SUPPORTED_SIZES  # type: ignore[attr-defined]
    if not isinstance(sizes, (tuple, list)) or not all(_is_count(s) for s in sizes):
        raise _Skip(f"SUPPORTED_SIZES is {_show(sizes)}; it must be a tuple of image sizes")
    missing = {"image_size", "channels"} - {f.name for f in dataclasses.fields(cls.Config)}  # type: ignore[attr-defined]
    if missing:
        raise _Skip(
            f"its Config has no {' or '.join(sorted(missing))} field (subclass "
            "gentool.models.base.ModelConfig)"
        )
    options = cls.TEST_OPTIONS  # type: ignore[attr-defined]
    if not isinstance(options, dict):
        raise _Skip(f"TEST_OPTIONS is {_show(options)}; it must be a dict of model options")


def _check_family(cls: type, base: type) -> None:
    from gentool.family import USES

    problem = _own_method(cls, base, "trainer")
    if problem:
        raise _Skip(problem)
    uses = cls.USES  # type: ignore[attr-defined]
    if not isinstance(uses, (frozenset, set, tuple, list)) or not all(
        isinstance(u, str) and u in USES for u in uses
    ):
        raise _Skip(f"USES is {_show(uses)}; it must be a set of {', '.join(USES)}")
    takes = cls.TAKES_GAN_LOSS  # type: ignore[attr-defined]
    if not isinstance(takes, bool):
        raise _Skip(f"TAKES_GAN_LOSS is {_show(takes)}; it must be True or False")
    domains = cls.DOMAINS  # type: ignore[attr-defined]
    if domains not in (1, 2) or isinstance(domains, bool):
        raise _Skip(f"DOMAINS is {_show(domains)}; it must be 1 or 2")
    columns = cls.GRID_COLUMNS  # type: ignore[attr-defined]
    if columns is not None and (
        not isinstance(columns, tuple)
        or len(columns) != 3
        or not all(isinstance(c, str) for c in columns)
    ):
        raise _Skip(f"GRID_COLUMNS is {_show(columns)}; it must be None or three titles")
    if not isinstance(cls.TARGET_IS_FIXED, bool):  # type: ignore[attr-defined]
        raise _Skip("TARGET_IS_FIXED must be True or False")


def _check_metric(cls: type) -> None:
    from gentool.family import USES

    needs = cls.NEEDS  # type: ignore[attr-defined]
    if (
        not isinstance(needs, (frozenset, set, tuple, list))
        or not needs
        or not all(isinstance(u, str) and u in USES for u in needs)
    ):
        raise _Skip(f"NEEDS is {_show(needs)}; it must be a non-empty set of {', '.join(USES)}")
    from gentool.metrics.base import Metric, Weights

    problem = _own_method(cls, Metric, "compute")
    if problem:
        raise _Skip(problem)
    keys = cls.KEYS  # type: ignore[attr-defined]
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        raise _Skip(f"KEYS is {_show(keys)}; it must map each result key to its meaning")
    if not _is_count(cls.MIN_IMAGES):  # type: ignore[attr-defined]
        raise _Skip(f"MIN_IMAGES is {_show(cls.MIN_IMAGES)}; it must be a whole number >= 1")  # type: ignore[attr-defined]
    if not isinstance(cls.DRAWS_SAMPLES, bool):  # type: ignore[attr-defined]
        raise _Skip("DRAWS_SAMPLES must be True or False")
    for name in ("WEIGHTS", "OPTIONAL_WEIGHTS"):
        value = getattr(cls, name)
        if value is not None and not isinstance(value, Weights):
            raise _Skip(f"{name} is {_show(value)}; it must be None or a Weights")
    options = cls.OPTIONS  # type: ignore[attr-defined]
    if not isinstance(options, (frozenset, set, tuple)) or not all(
        isinstance(o, str) for o in options
    ):
        raise _Skip(f"OPTIONS is {_show(options)}; it must be a set of setting names")


def _check_dataset(cls: type, base: type) -> None:
    problem = _own_method(cls, base, "load")
    if problem:
        raise _Skip(problem)
    size = cls.DEFAULT_SIZE  # type: ignore[attr-defined]
    if size is not None and not _is_count(size):
        raise _Skip(f"DEFAULT_SIZE is {_show(size)}; it must be None or an image size")


def _check_class(kind: str, item: object, base: type) -> tuple[type, str, str]:
    """``(cls, name, description)`` for a usable plugin class; raises :class:`_Skip`."""
    # type(item), not isinstance: an object can fake its __class__, never its type.
    if not issubclass(type(item), type):
        if isinstance(item, base):
            raise _Skip(
                f"an instance of {type(item).__name__} instead of the class; return the class"
            )
        raise _Skip(f"{_show(item)} ({_kind_of(item)}), which is not a class")
    cls: type = item  # type: ignore[assignment]
    label = _label(cls)
    if not issubclass(cls, base):
        raise _Skip(f"{label}, which is not a {base.__name__} subclass")
    if cls is base:
        raise _Skip(f"the base class {base.__name__} itself; return your subclass")
    raw_name = cls.PLUGIN_NAME  # type: ignore[attr-defined]
    if not isinstance(raw_name, str):
        raise _Skip(
            f"{label} with PLUGIN_NAME {_show(raw_name)} ({_kind_of(raw_name)}); it must be a "
            "string, the name users type"
        )
    name = str.__str__(raw_name)
    if not name:
        raise _Skip(f"{label} without a PLUGIN_NAME")
    if not NAME_PATTERN.fullmatch(name):
        raise _Skip(
            f"{label} with PLUGIN_NAME {_show(name)}, which is not a name a user can type "
            "(letters, digits, '-', '_', '.'; at most 64 characters)"
        )
    raw_description = cls.DESCRIPTION  # type: ignore[attr-defined]
    if not isinstance(raw_description, str):
        raise _Skip(
            f"{kind} '{name}' ({label}) with DESCRIPTION {_show(raw_description)}; it must be "
            "a one-line string"
        )
    description = _one_line(str.__str__(raw_description), 200)
    if kind in ("model", "loss", "callback"):
        config = cls.Config  # type: ignore[attr-defined]
        if not _is_dataclass_type(config):
            raise _Skip(
                f"{kind} '{name}' ({label}) whose Config is {_show(config)}, not a dataclass"
            )
    try:
        if kind == "loss":
            _check_loss(cls, base)
        elif kind == "model":
            _check_model(cls)
        elif kind == "dataset":
            _check_dataset(cls, base)
        elif kind == "family":
            _check_family(cls, base)
        elif kind == "metric":
            _check_metric(cls)
        elif kind == "callback":
            pass  # every event has a default; the Config was checked above
        else:
            for method in ("train_step", "fit"):  # fit: a gentool.training.base.Trainer
                problem = _own_method(cls, base, method)
                if problem:
                    raise _Skip(problem)
    except _Skip as skip:
        raise _Skip(f"{kind} '{name}' ({label}): {skip}") from None
    return cls, name, description


def _collect(returned: object, hook: str) -> list[object]:
    """The items of a hook's result, which must be a list (or other iterable) of classes."""
    if returned is None:
        raise _Skip(f"{hook} returned None; it must return a list of classes")
    if issubclass(type(returned), type):
        raise _Skip(f"{hook} returned a bare class ({_show(returned)}); return a list: [TheClass]")
    if isinstance(returned, (str, bytes, bytearray, dict)) or not hasattr(
        type(returned), "__iter__"
    ):
        raise _Skip(
            f"{hook} returned {_show(returned)} ({_kind_of(returned)}); it must return a list "
            "of classes"
        )
    items = list(itertools.islice(iter(returned), MAX_CLASSES + 1))  # type: ignore[call-overload]
    if len(items) > MAX_CLASSES:
        raise _Skip(f"{hook} returned more than {MAX_CLASSES} classes")
    return items


def _register_classes(registry: Registry, kind: str, base: type) -> None:
    pm = registry.plugin_manager
    hook_name = HOOKS[kind]
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or "?"
        dist = registry.distributions.get(plugin_name, "unknown")
        source = f"plugin '{plugin_name}' ({dist})"
        try:
            with _contained(f"'{plugin_name}' ({dist})", registry.problems):
                items = _collect(impl.function(), hook_name)
        except KeyboardInterrupt:
            raise
        except _Skip as skip:
            registry.problems.append(f"{source}: {skip}; its {PLURALS[kind]} were skipped.")
            continue
        except BaseException as exc:
            registry.problems.append(
                f"{source} raised {_describe(exc)} in {hook_name}; its {PLURALS[kind]} were "
                "skipped."
            )
            continue
        for item in items:
            try:
                with _contained():
                    cls, name, description = _check_class(kind, item, base)
            except KeyboardInterrupt:
                raise
            except _Skip as skip:
                registry.problems.append(f"{source} registered {skip}; skipped.")
                continue
            except BaseException as exc:
                registry.problems.append(
                    f"{source} registered {_show(item)}, and reading its attributes raised "
                    f"{_describe(exc)}; skipped."
                )
                continue
            registry.add(
                PluginInfo(kind, name, cls, description, distribution=dist, source=plugin_name)
            )
            if kind == "loss":
                from gentool.losses.base import set_distribution

                set_distribution(cls, dist)


# --- building the registry -----------------------------------------------------------------


def build_registry(selection: str | None = None, *, use_env: bool = True) -> Registry:
    """Load built-in and external plugins into a fresh :class:`Registry`.

    Problems are collected in ``Registry.problems`` and each is also issued once as a
    :class:`PluginWarning`.
    """
    if use_env and selection is None:
        selection = os.environ.get(ENV_VAR)
    chosen = _selection(selection)
    registry = Registry()
    pm = registry.plugin_manager

    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        registry.distributions[module_name] = BUILTIN_DISTRIBUTION
    pm.check_pending()

    installed: list[tuple[str, str]] = []
    found, listing_problem = _entry_points() if chosen is None or chosen else ([], None)
    if listing_problem:
        registry.problems.append(listing_problem)
    for ep in found:
        ep_name, dist_name = _entry_point_names(ep)
        installed.append((ep_name, dist_name))
        if not _wanted(chosen, ep_name, dist_name):
            continue
        source = f"'{ep_name}' ({dist_name})"
        if ep_name in registry.distributions:
            registry.problems.append(
                f"plugin {source}: the entry-point name is already used by "
                f"{registry.distributions[ep_name]}; skipped."
            )
            continue
        try:
            with _contained(source, registry.problems):
                module = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            registry.problems.append(
                f"plugin {source} failed to load and was skipped: {_describe(exc)}"
            )
            continue
        if _register(pm, module, ep_name, dist_name, registry.problems):
            registry.distributions[ep_name] = dist_name

    if chosen:
        known = {_normalize(n) for pair in installed for n in pair}
        listed = ", ".join(f"{e} ({d})" for e, d in installed) or "none"
        for name in sorted(chosen - known):
            registry.problems.append(
                f"{ENV_VAR} names '{name}', which is not an installed gentool plugin "
                f"(installed: {listed}); ignored."
            )

    for kind, base in _base_classes().items():
        _register_classes(registry, kind, base)
    for problem in registry.problems:
        _warn(problem)
    return registry


_REGISTRY: Registry | None = None
_BUILDING = False


def get_registry(reload: bool = False) -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY, _BUILDING
    if _REGISTRY is None or reload:
        if _BUILDING:  # a plugin asked for the registry while being imported
            raise PluginError("the plugin registry was asked for while it was being built.")
        _BUILDING = True
        try:
            _REGISTRY = build_registry()
        finally:
            _BUILDING = False
    return _REGISTRY


def get_model_class(name: str) -> Any:
    return get_registry().get("model", name)


def get_loss_class(name: str) -> Any:
    return get_registry().get("loss", name)


def get_callback_class(name: str) -> Any:
    return get_registry().get("callback", name)


def get_dataset_class(name: str) -> Any:
    return get_registry().get("dataset", name)


def provenance(kind: str, cls: type) -> dict[str, str]:
    """Where plugin class ``cls`` comes from, for a checkpoint: its name, distribution and
    the distribution's version (``gentool`` and gentool's version for built-ins)."""
    from importlib.metadata import PackageNotFoundError, version

    dist = distribution_of(kind, cls) or "unknown"
    try:
        installed = version(dist)
    except (PackageNotFoundError, ValueError):
        installed = "unknown"
    return {
        "name": str(getattr(cls, "PLUGIN_NAME", "")),
        "distribution": dist,
        "version": installed,
    }


def _installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except (PackageNotFoundError, ValueError):
        return None


def get_recorded_class(kind: str, name: str, recorded: object, where: str) -> Any:
    """The class for ``name`` that a checkpoint at ``where`` used, checked against the
    ``recorded`` provenance (:func:`provenance`): a missing plugin is refused with the
    distribution to install (and says so when ``GENTOOL_PLUGINS`` filtered it out); a
    different distribution now serving the name is a warning."""
    info = recorded if isinstance(recorded, dict) else {}
    dist = info.get("distribution") if isinstance(info.get("distribution"), str) else None
    wanted = info.get("version") if isinstance(info.get("version"), str) else None
    registry = get_registry()
    if name not in registry.entries[kind] and (kind, name) not in registry.duplicates:
        if dist and dist not in (BUILTIN_DISTRIBUTION, "unknown"):
            if _installed_version(dist) is not None:
                selection = os.environ.get(ENV_VAR)
                raise PluginError(
                    f"{where} needs {kind} '{name}' from {dist}, which is installed but not "
                    f"loaded ({ENV_VAR}={selection!r}); add {dist} to {ENV_VAR}."
                )
            pin = f"=={wanted}" if wanted and wanted != "unknown" else ""
            raise PluginError(
                f"{where} needs {kind} '{name}' from the plugin {dist}, which is not "
                f"installed; install it with: pip install '{dist}{pin}'"
            )
        return registry.get(kind, name)  # the usual unknown-name message
    cls = registry.get(kind, name)
    serving = registry.distribution_of(kind, cls)
    if dist and dist != "unknown" and serving and serving != dist:
        _warn(
            f"{where} was made with {kind} '{name}' from {dist}, but {serving} provides "
            f"'{name}' now; results may differ."
        )
    return cls


def family_names(registry: Registry | None = None) -> list[str]:
    """Every family a model can name: the registered families, and the families of loops
    registered alone through the version-2 ``gentool_register_trainers``."""
    registry = registry or get_registry()
    return sorted(set(registry.names("family")) | set(registry.names("trainer")))


def get_family(name: str) -> Any:
    """The :class:`~gentool.family.Family` registered as ``name``. A loop registered alone
    through the version-2 ``gentool_register_trainers`` hook stands for a family of its own
    (:func:`gentool.family.legacy_family`)."""
    registry = get_registry()
    for kind in ("family", "trainer"):
        if name in registry.entries[kind] or (kind, name) in registry.duplicates:
            cls = registry.get(kind, name)
            if kind == "family":
                return cls
            from gentool.family import legacy_family

            return legacy_family(cls)
    known = ", ".join(family_names(registry)) or "none"
    raise PluginError(
        f"no model family '{name}' is registered (registered: {known}); install the plugin "
        "that provides it."
    )


def family_of_model(model: str | type) -> Any:
    """The family of a model, by its name or class."""
    cls: Any = get_model_class(model) if isinstance(model, str) else model
    return get_family(cls.FAMILY)


def get_trainer_class(family: str) -> Any:
    """The training loop of model family ``family``."""
    return get_family(family).trainer()


def plugin_at_fault(exc: BaseException) -> PluginInfo | None:
    """The third-party plugin whose code raised ``exc``: the innermost frame of its traceback
    that runs in the module (or package) of a registered class not shipped with gentool.

    ``None`` when the registry is not built, or no such frame is on the traceback (the fault
    is gentool's own, or a library's called by gentool).
    """
    registry = _REGISTRY
    if registry is None:
        return None
    owners: dict[str, PluginInfo] = {}  # module or package -> the first plugin class in it
    classes: dict[tuple[str, str], PluginInfo] = {}  # (module, class qualname) -> plugin
    for table in registry.entries.values():
        for info in table.values():
            if info.distribution == BUILTIN_DISTRIBUTION:
                continue
            module = getattr(info.cls, "__module__", "") or ""
            classes.setdefault((module, getattr(info.cls, "__qualname__", "")), info)
            owners.setdefault(module, info)
            package = module.partition(".")[0]
            if package and package != "gentool":
                owners.setdefault(package, info)
    if not owners:
        return None
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        module = str(frame.f_globals.get("__name__", ""))
        package = module.partition(".")[0]
        if module not in owners and (package not in owners or package == "gentool"):
            continue
        # the method's own class when it is a registered one (Fam.trainer -> family 'fam')
        parts = str(getattr(frame.f_code, "co_qualname", frame.f_code.co_name)).split(".")
        for end in range(len(parts) - 1, 0, -1):
            owner = classes.get((module, ".".join(parts[:end])))
            if owner is not None:
                return owner
        return owners.get(module) or owners[package]
    return None


def distribution_of(kind: str, cls: type) -> str | None:
    """The distribution that registered ``cls``, if the registry is built and has it."""
    registry = _REGISTRY
    return registry.distribution_of(kind, cls) if registry is not None else None


def named(kind: str, obj: object) -> str:
    """``'dcgan'`` for a built-in plugin object, ``'mine' (gentool-mine)`` for a third
    party's: how messages name the plugin of a model, loss or other ``kind``."""
    name = str(getattr(obj, "PLUGIN_NAME", type(obj).__name__))
    dist = distribution_of(kind, type(obj))
    shown = f" ({dist})" if dist and dist != BUILTIN_DISTRIBUTION else ""
    return f"'{name}'{shown}"


# --- commands ------------------------------------------------------------------------------

#: Commands each group received from plugins (so a second registration is not a clash).
_ADDED: weakref.WeakKeyDictionary[click.Group, dict[str, str]] = weakref.WeakKeyDictionary()


def _guard_command(command: click.Command, source: str) -> None:
    """Make a plugin command's own failures one line naming the plugin."""
    invoke = command.invoke

    def guarded_invoke(ctx: click.Context) -> Any:
        try:
            return invoke(ctx)
        except (KeyboardInterrupt, SystemExit, click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException:
            raise
        except (MemoryError, OSError):
            raise  # gentool's safety net words these better
        except BaseException as exc:
            if os.environ.get("GENTOOL_DEBUG") or type(exc).__name__ == "OutOfMemoryError":
                raise
            raise PluginError(
                f"command '{command.name}' from plugin {source} failed ({_describe(exc)}); "
                "this is a bug in the plugin: rerun with GENTOOL_DEBUG=1 for the traceback "
                "and report it to its authors."
            ) from None

    command.invoke = guarded_invoke  # type: ignore[method-assign]


def _check_command(key: object, command: object, group: click.Group) -> str | None:
    if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key):
        return f"a command named {_show(key)}, which is not a name a user can type"
    if not isinstance(command, click.Command):
        return f"command '{key}' as {_show(command)}, which is not a click command"
    if command is group:
        return f"command '{key}' as the gentool group itself"
    try:
        help_text = command.get_short_help_str(80)
        hidden = command.hidden
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return f"command '{key}' whose help cannot be shown ({_describe(exc)})"
    if not isinstance(help_text, str) or not isinstance(hidden, bool):
        return f"command '{key}' whose help or hidden flag is not usable"
    return None


def register_commands(group: click.Group, registry: Registry | None = None) -> list[str]:
    """Let plugins add commands to ``group`` (``gentool_register_commands``); returns problems.

    Each plugin's hook adds its commands to a scratch group first; only valid commands whose
    names are free are copied to ``group``, so a plugin can never replace a built-in command
    or another plugin's. Each problem is issued once as a :class:`PluginWarning`.
    """
    registry = registry if registry is not None else get_registry()
    pm = registry.plugin_manager
    problems: list[str] = []
    added = _ADDED.setdefault(group, {})
    for impl in pm.hook.gentool_register_commands.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or "?"
        dist = registry.distributions.get(plugin_name, "unknown")
        source = f"'{plugin_name}' ({dist})"
        scratch = click.Group(name=group.name)
        try:
            with _contained(source, problems):
                returned = impl.function(**{arg: scratch for arg in impl.argnames})
                offered = list(scratch.commands.items())
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            problems.append(
                f"plugin {source} raised {_describe(exc)} in gentool_register_commands; "
                "its commands were skipped."
            )
            continue
        if returned is not None:
            problems.append(
                f"plugin {source}: gentool_register_commands returned {_show(returned)}; it "
                "must add commands with cli.add_command(...) and return None (ignored)."
            )
        for key, command in offered:
            problem = _check_command(key, command, group)
            if problem is None and key in group.commands and added.get(key) != plugin_name:
                owner = added.get(key)
                problem = (
                    f"command '{key}', which is already "
                    + (f"added by plugin '{owner}'" if owner else "a built-in gentool command")
                    + "; the existing one is kept, this one"
                )
            if problem is not None:
                problems.append(f"plugin {source} registered {problem}; skipped.")
                continue
            assert isinstance(key, str) and isinstance(command, click.Command)
            _guard_command(command, source)
            group.add_command(command, key)
            added[key] = plugin_name
            registry.commands[key] = CommandInfo(
                key, plugin_name, dist, " ".join(command.get_short_help_str(80).split())
            )
    registry.problems.extend(p for p in problems if p not in registry.problems)
    for problem in problems:
        _warn(problem)
    return problems
