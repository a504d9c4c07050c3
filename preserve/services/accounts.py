"""People and their roles: accounts, passwords (argon2id), memberships, sign-in.

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id, its recommended
parameters) and re-hashed on sign-in when those parameters change.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher

from preserve.bootstrap import Application
from preserve.catalogue.models import ROLES, Membership, Organisation, User
from preserve.errors import AlreadyExists, InvalidInput, NotFound
from preserve.services.access import Principal

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")
MIN_PASSWORD = 12


def _hasher() -> PasswordHasher:

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must be at least {MIN_PASSWORD} characters long")


def one_time_password() -> str:
    """A random password to hand over once (about 120 bits)."""
    return secrets.token_urlsafe(15)


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise InvalidInput(
            f"{username!r} is not a valid user name: use 1 to 100 lower-case letters, digits "
            "and . _ @ -, starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class CreatedUser:
    user_id: int
    username: str
    #: The one-time password made for the person (None when a password was given).
    one_time_password: str | None


def create_user(
    app: Application,
    username: str,
    *,
    password: str | None = None,
    display_name: str = "",
    email: str = "",
    is_admin: bool = False,
    locale: str | None = None,
    memberships: dict[str, str] | None = None,
) -> CreatedUser:
    """Make an account. Without ``password`` a one-time password is made and returned; the
    person must change it at the first sign-in. ``memberships``: organisation slug -> role."""
    name = normalise_username(username)
    generated = None
    if password is None:
        generated = password = one_time_password()
    else:
        check_password_strength(password)
    for role in (memberships or {}).values():
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    with app.uow() as uow:
        s = uow.session
        if s.scalar(sa.select(User.id).where(User.username == name)) is not None:
            raise AlreadyExists(f"a user named {name!r} already exists")
        user = User(
            username=name,
            display_name=display_name or name,
            email=email,
            password_hash=hash_password(password),
            is_admin=is_admin,
            locale=locale,
            must_change_password=generated is not None,
        )
        s.add(user)
        s.flush()
        for slug, role in (memberships or {}).items():
            org = uow.organisations.get_by_slug(slug)
            if org is None:
                raise NotFound(f"no organisation {slug!r}")
            s.add(Membership(user_id=user.id, organisation_id=org.id, role=role))
        uow.commit()
        return CreatedUser(user.id, name, generated)


def set_membership(app: Application, username: str, organisation: str, role: str | None) -> None:
    """Give a person ``role`` in an organisation (None: remove them from it)."""
    if role is not None and role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    with app.uow() as uow:
        s = uow.session
        user = s.scalar(sa.select(User).where(User.username == normalise_username(username)))
        if user is None:
            raise NotFound(f"no user {username!r}")
        org = uow.organisations.get_by_slug(organisation)
        if org is None:
            raise NotFound(f"no organisation {organisation!r}")
        membership = s.get(Membership, (user.id, org.id))
        if role is None:
            if membership is not None:
                s.delete(membership)
        elif membership is None:
            s.add(Membership(user_id=user.id, organisation_id=org.id, role=role))
        else:
            membership.role = role
        uow.commit()


def principal_for(app: Application, user_id: int, *, epoch: int | None = None) -> Principal | None:
    """The person as services see them, or None if the account is gone, deactivated, or (with
    ``epoch``) was signed out everywhere since the session was made."""
    with app.uow() as uow:
        s = uow.session
        user = s.get(User, user_id)
        if user is None or not user.active or (epoch is not None and epoch != user.session_epoch):
            return None
        roles = dict(
            s.execute(
                sa.select(Membership.organisation_id, Membership.role).where(
                    Membership.user_id == user.id
                )
            ).all()
        )
        return Principal(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            is_admin=user.is_admin,
            roles=roles,
            locale=user.locale,
        )


def organisation_names(app: Application) -> dict[int, str]:
    with app.uow() as uow:
        return dict(uow.session.execute(sa.select(Organisation.id, Organisation.name)).all())


def authenticate(app: Application, username: str, password: str) -> tuple[Principal, int] | None:
    """The person and their session epoch if the name and password are right and the account
    is active; None otherwise (no reason is given: it would tell which names exist)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        name = normalise_username(username)
    except InvalidInput:
        return None
    hasher = _hasher()
    with app.uow() as uow:
        s = uow.session
        user = s.scalar(sa.select(User).where(User.username == name))
        if user is None or not user.active or user.password_hash is None:
            hasher.hash(password)  # the same time whether or not the name exists
            return None
        try:
            hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        from preserve.catalogue.models import utcnow

        user.last_login_at = utcnow()
        epoch = user.session_epoch
        user_id = user.id
        uow.commit()
    principal = principal_for(app, user_id)
    return (principal, epoch) if principal else None
