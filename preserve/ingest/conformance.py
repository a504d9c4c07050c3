"""After receive, before anything is stored: a delivery to a collection that requires a BagIt
profile must be a bag that conforms to it.

A collection's profile is kept in the catalogue (``collections.bagit_profile``, the JSON
document itself, so it cannot change under the collection when a file is edited). A delivery
that is not a bag, or breaks the profile, is refused with every breach listed
(:class:`~preserve.errors.InvalidBag`); one that conforms gets a PREMIS validation event saying
so. The bag's own RFC 8493 validation has run in receive already.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from preserve import premis
from preserve.bagit.profiles import Profile, check_profile, parse_profile, serialisation_type
from preserve.errors import InvalidBag
from preserve.ingest.model import Delivery, event
from preserve.text import plural
from preserve.values import Problem

if TYPE_CHECKING:
    from preserve.bootstrap import Application

__all__ = [
    "RequiredProfile",
    "check_delivery",
    "collection_profile",
    "invalid_bag",
    "required_profile",
]

log = logging.getLogger(__name__)

#: how many of an invalid bag's problems its one-line error spells out (the others follow it)
SHOWN = 20


def collection_profile(app: Application, organisation: str, collection: str) -> Profile | None:
    """The profile the collection requires of its deliveries, or None."""
    from preserve.services.admin import require_collection

    with app.uow() as uow:
        document = require_collection(uow, organisation, collection).bagit_profile
    if document is None:
        return None
    return parse_profile(document, f"the BagIt profile of collection {organisation}/{collection}")


@dataclass(frozen=True)
class RequiredProfile:
    """The profile a delivery must follow, and who requires it (``collection org/slug``)."""

    profile: Profile
    required_by: str


def required_profile(
    app: Application, organisation: str, collection: str
) -> RequiredProfile | None:
    """The profile the collection requires of its deliveries, with whom to name, or None."""
    profile = collection_profile(app, organisation, collection)
    if profile is None:
        return None
    return RequiredProfile(profile, f"collection {organisation}/{collection}")


def invalid_bag(
    source: Path, root: Path, errors: Sequence[Problem], required: RequiredProfile | None
) -> InvalidBag:
    """The error that refuses the bag at ``root`` (delivered as ``source``), which breaks RFC
    8493 with ``errors``: when a profile is ``required``, every breach of it is listed too, so
    the producer fixes the bag once."""
    shown = "; ".join(str(p) for p in errors[:SHOWN]) + (" ..." if len(errors) > SHOWN else "")
    if required is None:
        return InvalidBag(
            f"{source}: invalid bag ({plural(len(errors), 'problem')}): {shown}", errors
        )
    breaches = check_profile(
        root,
        required.profile,
        serialised=serialisation_type(source) if source.is_file() else None,
    )
    if not breaches:
        against = f"it conforms to BagIt profile {required.profile.title}"
    else:
        against = (
            f"{plural(len(breaches), 'breach', 'breaches')} of BagIt profile "
            f"{required.profile.title}, which {required.required_by} requires"
        )
    return InvalidBag(
        f"{source}: invalid bag ({plural(len(errors), 'problem')}; {against}): {shown}",
        [*errors, *breaches],
    )


def bag_root(delivery: Delivery) -> Path | None:
    """The folder of the bag the delivery is (as given or unpacked), or None when it is not
    one: receive took its payload from ``data/`` and kept its tag files, bagit.txt among them."""
    root = delivery.payload_root
    if root is None or root.name != "data" or not (root.parent / "bagit.txt").is_file():
        return None
    if not any(name == "bagit.txt" for name, _ in delivery.submission):
        return None
    return root.parent


def check_delivery(delivery: Delivery, profile: Profile, required_by: str) -> None:
    """Raise :class:`InvalidBag` listing every breach of ``profile`` (which ``required_by``
    requires); record a validation event when the delivery conforms."""
    source = delivery.source
    root = bag_root(delivery)
    if root is None:
        raise InvalidBag(
            f"{source}: not a BagIt bag, and {required_by} takes only bags that follow BagIt "
            f"profile {profile.title}: make one with `preserve bag make` (adding "
            f"--bagit-profile-identifier {profile.identifier} and what the profile requires)",
            [Problem("profile-not-a-bag", "", "the delivery is not a BagIt bag")],
        )
    serialised = serialisation_type(source) if source.is_file() else None
    breaches = check_profile(root, profile, serialised=serialised)
    if breaches:
        raise InvalidBag(
            f"{source}: does not conform to BagIt profile {profile.title}, which {required_by} "
            f"requires ({plural(len(breaches), 'breach', 'breaches')})",
            breaches,
        )
    log.info("%s conforms to BagIt profile %s", source, profile.identifier)
    delivery.events.append(
        event(
            premis.VALIDATION,
            "success",
            f"conforms to BagIt profile {profile.identifier} version {profile.version} "
            f"(bagit-profiles {profile.spec_version}), which {required_by} requires",
        )
    )
