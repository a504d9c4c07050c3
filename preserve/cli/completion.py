"""Shell completion of names from the catalogue (collections, organisations, locations, package
ids), offered by :class:`preserve.cli.base.GivenText` for the parameters that name them.
Set up with ``eval "$(_PRESERVE_COMPLETE=bash_source preserve)"`` (see the README)."""

from __future__ import annotations

from click.shell_completion import CompletionItem


def complete(
    kind: str, incomplete: str, *, organisation: str | None = None
) -> list[CompletionItem]:
    """The ``kind`` names (collections, organisations, locations, packages) that start with
    ``incomplete``; nothing when the settings are invalid or the catalogue is out of reach.
    Collections are those of ``organisation``, else of the default organisation
    (PRESERVE_ORGANISATION), as the commands take them."""
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
        if kind == "collections":
            owner = organisation or application.settings.organisation
            names = completion.collection_names(application, incomplete, owner)
        else:
            names = lookups[kind](application, incomplete)
        return [CompletionItem(name) for name in names]
    finally:
        application.close()
