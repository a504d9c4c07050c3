"""Settings: ``preserve config`` shows the settings in force and where each came from."""

from __future__ import annotations

import click

from preserve.cli.base import cli
from preserve.cli.output import emit_json


@cli.command(
    "config",
    epilog="\b\nExamples:\n  preserve config\n  preserve config --json\n"
    "  PRESERVE_CONFIG=/etc/preserve/preserve.toml preserve config",
)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config(as_json: bool) -> None:
    """Show every setting in force, its value (passwords and secrets hidden) and where it came
    from: the environment variable, the settings file or the default. The last line says
    whether the catalogue exists and answers. Works before `preserve init`, and creates nothing.

    Each setting is read from its environment variable PRESERVE_<NAME>, else from the settings
    file (TOML, key <name> in lower case: $PRESERVE_CONFIG, else preserve.toml in your user
    config folder, if there is one), else its default.
    """
    from preserve.catalogue.database import catalogue_status
    from preserve.config.settings import Settings, settings_file_location

    settings = Settings.from_env()
    shown = settings.report()
    path, named = settings_file_location()
    status = catalogue_status(settings.database_url)
    if as_json:
        emit_json(
            {
                "settings": [
                    {
                        "name": s.name,
                        "variable": s.variable,
                        "value": s.data,
                        "source": s.source,
                        "file": s.file,
                    }
                    for s in shown
                ],
                "settings_file": {
                    "path": str(path),
                    "read": settings.settings_file is not None,
                    "named_by": "PRESERVE_CONFIG" if named else None,
                },
                "catalogue": {
                    "state": status.state,
                    "where": status.where,
                    "revision": status.revision,
                    "head": status.head,
                    "message": status.message,
                },
            }
        )
        return
    rows = [("setting", "value", "source")] + [
        (s.variable, s.value or "(none)", f"file {s.file}" if s.file else s.source) for s in shown
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for variable, value, source in rows:
        click.echo(f"{variable:<{widths[0]}}  {value:<{widths[1]}}  {source}")
    if settings.settings_file is not None:
        click.echo(f"settings file: {path}")
    else:
        click.echo(f"settings file: none ({path} does not exist; it is optional)")
    click.echo(status.message)
