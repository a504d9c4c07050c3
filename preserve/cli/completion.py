"""Shell completion of names from the catalogue (collections, organisations, locations, package
ids), offered by :class:`preserve.cli.base.GivenText` for the parameters that name them.
Set up with ``eval "$(_PRESERVE_COMPLETE=bash_source preserve)"`` (see the README)."""

from __future__ import annotations

from click.shell_completion import CompletionItem


def complete(kind: str, incomplete: str) -> list[CompletionItem]:
    """The ``kind`` names (collections, organisations, locations, packages) that start with
    ``incomplete``; nothing when the settings are invalid or the catalogue is out of reach."""
    from preserve.bootstrap import bootstrap
    from preserve.config.settings import Settings
    from preserve.errors import PreserveError
    from preserve.services import completion

    lookups = {
        "collections": completion.collection_names,
        "organisations": completion.organisation_names,
        "locations": completion.location_names,
        "packages": completion.package_ids,
    }
    try:
        application = bootstrap(Settings.from_env())
    except PreserveError:
        return []
    try:
        return [CompletionItem(name) for name in lookups[kind](application, incomplete)]
    finally:
        application.close()
