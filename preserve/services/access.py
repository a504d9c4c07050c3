"""Who may see and do what: a person's roles per organisation, as every adapter checks them.

A person sees only the collections (and their packages, jobs, transfers) of the organisations
they belong to; a repository admin sees everything. Roles, weakest first: ``viewer`` (see,
download), ``archivist`` (also ingest, describe, run fixity, export), ``admin`` (also manage the
organisation's collections and people). Something a person may not see is reported as
:class:`~preserve.errors.NotFound`, exactly as if it did not exist; something they may see but
not change is :class:`~preserve.errors.PermissionDenied`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from preserve.errors import NotFound, PermissionDenied

ROLE_ORDER = {"viewer": 0, "archivist": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """A signed-in person (web, API token, or ``--as`` on the command line)."""

    user_id: int
    username: str
    display_name: str = ""
    #: A repository administrator: every organisation, locations, people, the audit log.
    is_admin: bool = False
    #: organisation id -> role ("viewer", "archivist", "admin").
    roles: Mapping[int, str] = field(default_factory=dict)
    locale: str | None = None

    @property
    def label(self) -> str:
        """How the person is named in events and the audit log."""
        return self.username

    def role_in(self, organisation_id: int) -> str | None:
        if self.is_admin:
            return "admin"
        return self.roles.get(organisation_id)

    def can_view(self, organisation_id: int) -> bool:
        return self.role_in(organisation_id) is not None

    def can(self, organisation_id: int, role: str = "archivist") -> bool:
        """Whether the person holds ``role`` (or a stronger one) in the organisation."""
        held = self.role_in(organisation_id)
        return held is not None and ROLE_ORDER[held] >= ROLE_ORDER[role]

    def visible_organisations(self) -> frozenset[int] | None:
        """The organisations whose objects the person sees; None: all (a repository admin)."""
        return None if self.is_admin else frozenset(self.roles)

    def organisations_where(self, role: str) -> frozenset[int] | None:
        """The organisations where the person holds ``role`` or more; None: all."""
        if self.is_admin:
            return None
        return frozenset(o for o, r in self.roles.items() if ROLE_ORDER[r] >= ROLE_ORDER[role])


def require_view(principal: Principal, organisation_id: int, what: str) -> None:
    """Raise NotFound (never PermissionDenied: no existence leak) unless the person sees it."""
    if not principal.can_view(organisation_id):
        raise NotFound(f"{what} not found")


def require_role(principal: Principal, organisation_id: int, role: str, what: str) -> None:
    """Raise NotFound if the person cannot see the object, PermissionDenied if they see it but
    do not hold ``role`` in its organisation."""
    require_view(principal, organisation_id, what)
    if not principal.can(organisation_id, role):
        raise PermissionDenied(f"you need the {role} role in this organisation to do that")


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("only a repository administrator may do that")
