"""The plugin manager: built-in plugins plus third-party entry points (group ``gentool``).

Built-ins are registered through the same hooks as anyone else's (see ``DEFAULT_PLUGINS``).
External plugins are loaded from the ``gentool`` entry-point group unless the environment
variable ``GENTOOL_PLUGINS`` restricts them:

* unset or ``all``: load every installed plugin;
* ``none`` (or empty): load built-ins only (the test suite does this);
* ``name1,name2``: load only these entry points (by entry-point or distribution name).

A plugin that fails to import, registers a misspelt hook, targets another hook-API version,
returns something that is not a plugin class, or claims a name already taken is reported
once as a warning; the rest keep working. Using a name claimed twice is an error naming both.
"""

from __future__ import annotations

import difflib
import importlib
import os
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

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
)

KINDS = ("model", "loss", "dataset")


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


@dataclass
class Registry:
    """Every registered plugin class, by kind and name."""

    entries: dict[str, dict[str, PluginInfo]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    duplicates: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    plugin_manager: pluggy.PluginManager = field(default_factory=lambda: make_plugin_manager())

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def info(self, kind: str, name: str) -> PluginInfo:
        if (kind, name) in self.duplicates:
            claims = self.duplicates[(kind, name)]
            who = " and ".join(f"{c.source} ({c.distribution})" for c in claims)
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
                f"{info.kind} '{info.name}' is claimed by both {first.source} "
                f"({first.distribution}) and {info.source} ({info.distribution}); "
                "using the name is an error until one is removed."
            )
            return
        table[info.name] = info


def _base_classes() -> dict[str, type]:
    from gentool.data.base import DatasetPlugin
    from gentool.losses.base import GanLoss
    from gentool.models.base import ModelPlugin

    return {"model": ModelPlugin, "loss": GanLoss, "dataset": DatasetPlugin}


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _check_api_version(module: Any, source: str) -> str | None:
    declared = getattr(module, "GENTOOL_API_VERSION", None)
    if declared is None or declared == hookspecs.HOOK_API_VERSION:
        return None
    return (
        f"plugin {source} was written for gentool hook API {declared}, but this gentool "
        f"provides hook API {hookspecs.HOOK_API_VERSION}; skipping it (upgrade the plugin "
        "or gentool)."
    )


def _wanted(selection: str | None, ep_name: str, dist_name: str) -> bool:
    if selection is None or selection.strip().lower() == "all":
        return True
    chosen = {s.strip() for s in selection.split(",") if s.strip()}
    if not chosen or chosen == {"none"}:
        return False
    return ep_name in chosen or dist_name in chosen


def _register(
    pm: pluggy.PluginManager, module: Any, name: str, distribution: str, problems: list[str]
) -> bool:
    version_problem = _check_api_version(module, name)
    if version_problem:
        problems.append(version_problem)
        return False
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except Exception as exc:
        if pm.is_registered(module):
            pm.unregister(module)
        problems.append(f"plugin {name} ({distribution}) is invalid and was skipped: {exc}")
        return False
    return True


def build_registry(selection: str | None = None, *, use_env: bool = True) -> Registry:
    """Load built-in and external plugins into a fresh :class:`Registry`."""
    if use_env and selection is None:
        selection = os.environ.get(ENV_VAR)
    registry = Registry()
    pm = registry.plugin_manager
    distributions: dict[str, str] = {}

    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        distributions[module_name] = BUILTIN_DISTRIBUTION
    pm.check_pending()

    for ep in entry_points(group=hookspecs.PROJECT_NAME):
        dist_name = ep.dist.name if ep.dist is not None else "unknown"
        if not _wanted(selection, ep.name, dist_name):
            continue
        source = f"'{ep.name}'"
        try:
            module = ep.load()
        except Exception as exc:
            registry.problems.append(
                f"plugin {source} ({dist_name}) failed to load and was skipped: "
                f"{type(exc).__name__}: {exc}"
            )
            continue
        if _register(pm, module, ep.name, dist_name, registry.problems):
            distributions[ep.name] = dist_name

    bases = _base_classes()
    hooks = {
        "model": pm.hook.gentool_register_models,
        "loss": pm.hook.gentool_register_losses,
        "dataset": pm.hook.gentool_register_datasets,
    }
    for kind, hook in hooks.items():
        for impl in hook.get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or "?"
            dist = distributions.get(plugin_name, "unknown")
            try:
                returned: Any = impl.function()
            except Exception as exc:
                registry.problems.append(
                    f"plugin {plugin_name} ({dist}) raised while registering {kind}s: "
                    f"{type(exc).__name__}: {exc}"
                )
                continue
            for cls in list(returned or []):
                if not (isinstance(cls, type) and issubclass(cls, bases[kind])):
                    registry.problems.append(
                        f"plugin {plugin_name} ({dist}) returned {cls!r} from its {kind} hook, "
                        f"which is not a {bases[kind].__name__} subclass; skipped."
                    )
                    continue
                name = getattr(cls, "PLUGIN_NAME", "")
                if not name:
                    registry.problems.append(
                        f"plugin {plugin_name} ({dist}) registered {cls.__name__} without a "
                        "PLUGIN_NAME; skipped."
                    )
                    continue
                registry.add(
                    PluginInfo(
                        kind=kind,
                        name=name,
                        cls=cls,
                        description=(getattr(cls, "DESCRIPTION", "") or "").strip(),
                        distribution=dist,
                        source=plugin_name,
                    )
                )
    for problem in registry.problems:
        warnings.warn(problem, PluginWarning, stacklevel=2)
    return registry


_REGISTRY: Registry | None = None


def get_registry(reload: bool = False) -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        _REGISTRY = build_registry()
    return _REGISTRY


def get_model_class(name: str) -> Any:
    return get_registry().get("model", name)


def get_loss_class(name: str) -> Any:
    return get_registry().get("loss", name)


def get_dataset_class(name: str) -> Any:
    return get_registry().get("dataset", name)
