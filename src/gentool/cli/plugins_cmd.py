"""``gentool plugins``: what is installed."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--kind",
    type=click.Choice(["model", "loss", "dataset"]),
    default=None,
    help="Only list this kind.",
)
def plugins(kind: str | None) -> None:
    """List every installed model, GAN loss and dataset, with the distribution providing it.

    \b
    Example:
      gentool plugins --kind loss
    Set GENTOOL_PLUGINS=none to load built-ins only, or a comma list of plugin names.
    Plugins that could not be used are listed after the table, with the reason.
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
            family = str(getattr(info.cls, "FAMILY", "")) if k == "model" else ""
            table.add_row(k, name, family, info.distribution, info.description)
    if kind is None:
        for name, command in sorted(registry.commands.items()):
            table.add_row("command", name, "", command.distribution, command.help)
    console = Console()
    console.print(table)
    # Loud, not silent: what was skipped, and why, is part of what is installed.
    if registry.problems:
        console.print(f"[yellow]{len(registry.problems)} plugin problem(s), skipped:[/]")
        for problem in registry.problems:
            console.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
