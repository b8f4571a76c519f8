from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from gentool import hookspecs, plugins
from gentool.errors import PluginError
from gentool.hookspecs import hookimpl
from gentool.losses.base import GanLoss


def test_builtins_register_through_hooks() -> None:
    registry = plugins.build_registry("none")
    assert {"dcgan"} <= set(registry.names("model"))
    assert {"bce", "ls", "wgan-gp", "hinge"} <= set(registry.names("loss"))
    assert "digits" in registry.names("dataset")
    assert registry.info("loss", "ls").distribution == "gentool"
    assert registry.problems == []


def test_unknown_name_lists_choices_and_close_match() -> None:
    registry = plugins.build_registry("none")
    with pytest.raises(PluginError) as err:
        registry.get("loss", "lss")
    message = err.value.message
    assert "Did you mean 'ls'" in message
    assert "bce" in message and "\n" not in message


class _FakeDist:
    def __init__(self, name: str) -> None:
        self.name = name


def _entry_point(name: str, module: str, dist: str) -> Any:
    ep = EntryPoint(name=name, value=module, group="gentool")
    return ep._for(_FakeDist(dist))  # type: ignore[attr-defined]


def _install(monkeypatch: pytest.MonkeyPatch, *eps: Any) -> None:
    def fake_entry_points(group: str) -> list[Any]:
        return list(eps) if group == "gentool" else []

    monkeypatch.setattr(plugins, "entry_points", fake_entry_points)


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return module


@dataclass
class _MarginConfig:
    margin: float = 1.0


class _ExternalLoss(GanLoss):
    PLUGIN_NAME = "external"
    DESCRIPTION = "a loss from elsewhere"
    Config = _MarginConfig

    def discriminator_loss(self, real_scores: Any, fake_scores: Any) -> Any:
        return (fake_scores - real_scores).mean()

    def generator_loss(self, fake_scores: Any, real_scores: Any = None) -> Any:
        return -fake_scores.mean()


def test_external_plugin_is_loaded_with_its_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def gentool_register_losses() -> list[type[GanLoss]]:
        return [_ExternalLoss]

    _module("fake_external_loss", gentool_register_losses=gentool_register_losses)
    _install(monkeypatch, _entry_point("external", "fake_external_loss", "gentool-external"))
    registry = plugins.build_registry("all")
    info = registry.info("loss", "external")
    assert info.distribution == "gentool-external"
    assert info.cls is _ExternalLoss
    # The environment switch keeps it out.
    assert "external" not in plugins.build_registry("none").names("loss")
    assert "external" in plugins.build_registry("gentool-external").names("loss")


def test_broken_plugins_are_reported_and_the_rest_work(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def gentool_register_losses() -> list[Any]:
        return [object]

    @hookimpl
    def gentool_register_modles() -> list[Any]:  # misspelt hook
        return []

    class Clash(_ExternalLoss):
        PLUGIN_NAME = "ls"

    @hookimpl
    def clash_losses() -> list[type[GanLoss]]:
        return [Clash]

    _module("fake_not_a_class", gentool_register_losses=gentool_register_losses)
    _module("fake_misspelt", gentool_register_modles=gentool_register_modles)
    _module("fake_clash", gentool_register_losses=clash_losses)
    _module("fake_old_api", GENTOOL_API_VERSION=hookspecs.HOOK_API_VERSION + 1)
    _install(
        monkeypatch,
        _entry_point("missing", "fake_module_that_does_not_exist", "gentool-missing"),
        _entry_point("notclass", "fake_not_a_class", "gentool-notclass"),
        _entry_point("misspelt", "fake_misspelt", "gentool-misspelt"),
        _entry_point("clash", "fake_clash", "gentool-clash"),
        _entry_point("oldapi", "fake_old_api", "gentool-oldapi"),
    )
    with pytest.warns(plugins.PluginWarning):
        registry = plugins.build_registry("all")
    text = "\n".join(registry.problems)
    assert "failed to load" in text and "'missing'" in text
    assert "not a GanLoss subclass" in text
    assert "misspelt" in text and "invalid" in text
    assert f"hook API {hookspecs.HOOK_API_VERSION + 1}" in text
    assert "claimed by both" in text
    # Built-ins still work; the clashing name is an error naming both claimants.
    assert registry.get("loss", "bce").PLUGIN_NAME == "bce"
    with pytest.raises(PluginError, match="more than one plugin"):
        registry.get("loss", "ls")
