"""``gentool plugins``: what is installed."""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option(
    "--kind",
    type=click.Choice(["model", "loss", "dataset"]),
    default=None,
    help="Only list this kind.",
)
@click.pass_obj
def plugins(app: Any, kind: str | None) -> None:
    """List every installed model, GAN loss and dataset, with the distribution providing it.

    \b
    Example:
      gentool plugins --kind loss
    Set GENTOOL_PLUGINS=none to load built-ins only, or a comma list of plugin names.
    """
    from rich.console import Console
    from rich.table import Table

    from gentool.plugins import KINDS, get_registry

    registry = get_registry()
    table = Table(title="gentool plugins")
    table.add_column("kind")
    table.add_column("name", style="bold")
    table.add_column("family/info")
    table.add_column("distribution")
    table.add_column("description")
    for k in KINDS:
        if kind and k != kind:
            continue
        for name in registry.names(k):
            info = registry.entries[k][name]
            family = getattr(info.cls, "FAMILY", "") if k == "model" else ""
            table.add_row(k, name, family, info.distribution, info.description)
    Console().print(table)
    for (k, name), claims in registry.duplicates.items():
        who = ", ".join(c.distribution for c in claims)
        app.console.print(
            f"[yellow]duplicate {k} '{name}' claimed by {who}: unusable until resolved[/]"
        )
