"""People and their roles: accounts, passwords (argon2id), memberships, sign-in.

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id, its recommended
parameters) and re-hashed on sign-in when those parameters change. Sign-in counts failures in a
row in the catalogue (``users.failed_logins``), so a lockout holds across server processes; a
refusal never says why (a wrong name, a wrong password and a locked account look the same).

Managing people: a repository admin manages everyone; an organisation admin manages the people
of the organisations where they are admin (someone outside them is reported as not found), but
never a repository admin, and changes only memberships of their own organisations.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from preserve.bootstrap import Application
from preserve.catalogue.models import (
    LOCALES,
    ROLES,
    ApiToken,
    Membership,
    Organisation,
    User,
    utcnow,
)
from preserve.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from preserve.names import suggestions
from preserve.services.access import Principal

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password must be at most {MAX_PASSWORD} characters long")


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


def check_email(email: str) -> str:
    email = email.strip()
    if email and (len(email) > 255 or not EMAIL.fullmatch(email)):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    return email


def check_display_name(name: str) -> str:
    name = name.strip()
    if len(name) > 255:
        raise InvalidInput("the display name must be at most 255 characters long")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("the display name must not contain control characters")
    return name


def check_locale(locale: str | None) -> str | None:
    if locale in (None, "", "browser"):
        return None
    if locale not in LOCALES:
        raise InvalidInput(f"unknown language {locale!r}: use one of {', '.join(LOCALES)}")
    return locale


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


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
    display_name = check_display_name(display_name)
    email = check_email(email)
    locale = check_locale(locale)
    generated = None
    if password is None:
        generated = password = one_time_password()
    else:
        check_password_strength(password)
    for role in (memberships or {}).values():
        check_role(role)
    with app.uow() as uow:
        s = uow.session
        if s.scalar(sa.select(User.id).where(User.username == name)) is not None:
            raise AlreadyExists(f"a user named {name!r} already exists")
        orgs = {}
        for slug in memberships or {}:
            org = uow.organisations.get_by_slug(slug)
            if org is None:
                raise NotFound(f"no organisation {slug!r}")
            orgs[slug] = org.id
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
            s.add(Membership(user_id=user.id, organisation_id=orgs[slug], role=role))
        uow.commit()
        return CreatedUser(user.id, name, generated)


def set_membership(app: Application, username: str, organisation: str, role: str | None) -> None:
    """Give a person ``role`` in an organisation (None: remove them from it)."""
    if role is not None:
        check_role(role)
    with app.uow() as uow:
        s = uow.session
        user = s.scalar(sa.select(User).where(User.username == normalise_username(username)))
        if user is None:
            raise no_such_user(username)
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


def no_such_user(name: str, known: Iterable[str] = ()) -> NotFound:
    """The one error for a person named who does not exist (exit 3, HTTP 404); with ``known``
    (user names), "did you mean ...?" with the closest of them. Only the operator of the
    command line is given ``known``: a web or API response never names other people."""
    close = suggestions(name, known)
    hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
    return NotFound(f"no user {name!r}{hint} (people are made with: preserve users create)")


def deactivated(name: str) -> PermissionDenied:
    """The one error for a person named who exists but is deactivated (exit 77, HTTP 403)."""
    return PermissionDenied(
        f"user {name!r} is deactivated (an administrator reactivates them: "
        f"preserve users reactivate {name})"
    )


def person_named(app: Application, username: str) -> Principal:
    """The active person ``username`` names (``--as USER``): :func:`no_such_user` for nobody
    (an invalid name too), with the closest user names (every user, the deactivated too: the
    operator of the command line may know them all; no web view calls this),
    :func:`deactivated` for a deactivated person."""
    name = username.strip()
    if not name:
        raise InvalidInput("--as names nobody (an empty value: an unset variable in a script?)")
    with app.uow() as uow:
        try:
            name = normalise_username(name)
        except InvalidInput:
            raise no_such_user(name, uow.session.scalars(sa.select(User.username))) from None
        user = uow.session.scalar(sa.select(User).where(User.username == name))
        if user is None:
            raise no_such_user(name, uow.session.scalars(sa.select(User.username)))
        user_id, active = user.id, user.active
    found = principal_for(app, user_id) if active else None
    if found is None:
        raise deactivated(name)
    return found


def organisation_names(app: Application) -> dict[int, str]:
    with app.uow() as uow:
        return dict(uow.session.execute(sa.select(Organisation.id, Organisation.name)).all())


# ---------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: ``principal`` is None when it was refused (``reason``:
    "refused", or "locked" when the account is locked or this failure locked it; the person is
    told neither, the audit log records it)."""

    principal: Principal | None
    epoch: int = 0
    must_change_password: bool = False
    reason: str | None = None
    #: The user name the attempt was for (normalised when valid), for the audit log.
    username: str = ""


def authenticate(
    app: Application,
    username: str,
    password: str,
    *,
    attempts: int | None = None,
    lockout_minutes: int | None = None,
    now: datetime | None = None,
) -> SignIn:
    """Check a name and password. ``attempts`` failures in a row lock the account for
    ``lockout_minutes`` (default: the settings); a locked account refuses even the right
    password until then. A refusal does the same work (one argon2 hash) whatever the reason, so
    its timing does not tell which names exist."""
    from argon2.exceptions import InvalidHashError, VerificationError

    attempts = attempts or app.settings.login_attempts
    minutes = lockout_minutes if lockout_minutes is not None else app.settings.lockout_minutes
    now = now or utcnow()
    hasher = _hasher()
    try:
        name = normalise_username(username)
    except InvalidInput:
        hasher.hash(password[:MAX_PASSWORD])
        return SignIn(None, reason="refused", username=username.strip()[:100])
    if len(password) > MAX_PASSWORD:  # a refusal without hashing megabytes
        password = password[:MAX_PASSWORD] + "\x00"
    with app.uow() as uow:
        s = uow.session
        user = s.scalar(sa.select(User).where(User.username == name))
        if user is None or not user.active or user.password_hash is None:
            hasher.hash(password)  # the same time whether or not the name exists
            return SignIn(None, reason="refused", username=name)
        if user.locked_until is not None and user.locked_until > now:
            hasher.hash(password)
            return SignIn(None, reason="locked", username=name)
        try:
            hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            # a lock that ran out starts a new count
            failed = 1 if user.locked_until is not None else user.failed_logins + 1
            user.locked_until = None
            user.failed_logins = failed
            reason = "refused"
            if failed >= attempts:
                user.locked_until = now + timedelta(minutes=minutes)
                user.failed_logins = 0
                reason = "locked"
            uow.commit()
            return SignIn(None, reason=reason, username=name)
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        epoch = user.session_epoch
        must_change = user.must_change_password
        user_id = user.id
        uow.commit()
    principal = principal_for(app, user_id)
    if principal is None:
        return SignIn(None, reason="refused", username=name)
    return SignIn(principal, epoch, must_change, username=name)


def _revoke_tokens(s: Session, user_id: int) -> int:
    """Revoke every API token of the person that is not revoked yet; how many. A new password
    or a deactivation must not leave a token working that was made with the old one (and a
    reactivation must not bring it back)."""
    result = s.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def change_password(app: Application, user_id: int, current: str, new: str) -> int:
    """Set a new password after checking the current one; every other session ends (the
    session epoch is raised) and the person's API tokens are revoked. Returns the new epoch,
    for the session that made the change."""
    from argon2.exceptions import InvalidHashError, VerificationError

    check_password_strength(new)
    if new == current:
        raise InvalidInput("the new password must differ from the current one")
    hasher = _hasher()
    with app.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None or not user.active:
            raise NotFound("account not found")
        try:
            hasher.verify(user.password_hash or "", current[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            raise InvalidInput("the current password is not right") from None
        user.password_hash = hasher.hash(new)
        user.must_change_password = False
        user.session_epoch += 1
        epoch = user.session_epoch
        _revoke_tokens(uow.session, user.id)
        uow.commit()
        return epoch


def sign_out_everywhere(app: Application, user_id: int) -> None:
    """End every session of the person (the browser they use now included)."""
    with app.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("account not found")
        user.session_epoch += 1
        uow.commit()


@dataclass(frozen=True)
class Profile:
    user_id: int
    username: str
    display_name: str
    email: str
    locale: str | None
    must_change_password: bool
    last_login_at: datetime | None


def profile(app: Application, principal: Principal) -> Profile:
    with app.uow() as uow:
        user = uow.session.get(User, principal.user_id)
        if user is None:
            raise NotFound("account not found")
        return Profile(
            user.id,
            user.username,
            user.display_name,
            user.email,
            user.locale,
            user.must_change_password,
            user.last_login_at,
        )


def must_change_password(app: Application, user_id: int) -> bool:
    with app.uow() as uow:
        return bool(
            uow.session.scalar(sa.select(User.must_change_password).where(User.id == user_id))
        )


def update_profile(
    app: Application,
    principal: Principal,
    *,
    display_name: str | None = None,
    email: str | None = None,
    locale: str | None = None,
    set_locale: bool = False,
) -> list[str]:
    """Change the person's own display name, e-mail and language (``set_locale``: ``locale``
    None means the browser's). Returns the names of the fields that changed."""
    changes: dict[str, str | None] = {}
    if display_name is not None:
        changes["display_name"] = check_display_name(display_name) or principal.username
    if email is not None:
        changes["email"] = check_email(email)
    if set_locale:
        changes["locale"] = check_locale(locale)
    changed = []
    with app.uow() as uow:
        user = uow.session.get(User, principal.user_id)
        if user is None:
            raise NotFound("account not found")
        for key, value in changes.items():
            if getattr(user, key) != value:
                setattr(user, key, value)
                changed.append(key)
        uow.commit()
    return changed


# ---------------------------------------------------------------------------- managing people


@dataclass(frozen=True)
class MembershipView:
    organisation_id: int
    organisation_slug: str
    organisation_name: str
    role: str


@dataclass(frozen=True)
class UserSummary:
    user_id: int
    username: str
    display_name: str
    email: str
    is_admin: bool
    active: bool
    locked: bool
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime
    memberships: tuple[MembershipView, ...]


def _memberships(s: Session, user_ids: list[int]) -> dict[int, list[MembershipView]]:
    found: dict[int, list[MembershipView]] = {i: [] for i in user_ids}
    if not user_ids:
        return found
    rows = s.execute(
        sa.select(
            Membership.user_id,
            Organisation.id,
            Organisation.slug,
            Organisation.name,
            Membership.role,
        )
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.user_id.in_(user_ids))
        .order_by(Organisation.slug)
    ).all()
    for user_id, org_id, slug, name, role in rows:
        found[user_id].append(MembershipView(org_id, slug, name, role))
    return found


def _summary(user: User, memberships: list[MembershipView], now: datetime) -> UserSummary:
    return UserSummary(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        is_admin=user.is_admin,
        active=user.active,
        locked=user.locked_until is not None and user.locked_until > now,
        must_change_password=user.must_change_password,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
        memberships=tuple(memberships),
    )


def managed_organisations(principal: Principal) -> frozenset[int] | None:
    """The organisations whose people ``principal`` manages (None: all); PermissionDenied if
    none (not an admin anywhere)."""
    managed = principal.organisations_where("admin")
    if managed is not None and not managed:
        raise PermissionDenied("only an administrator may manage people")
    return managed


def list_users(app: Application, principal: Principal) -> list[UserSummary]:
    """Everyone (repository admin) or the people of the organisations where the principal is
    admin, by user name."""
    managed = managed_organisations(principal)
    with app.uow() as uow:
        s = uow.session
        stmt = sa.select(User).order_by(User.username)
        if managed is not None:
            stmt = stmt.where(
                User.id.in_(
                    sa.select(Membership.user_id).where(Membership.organisation_id.in_(managed))
                )
            )
        users = s.scalars(stmt).all()
        ms = _memberships(s, [u.id for u in users])
        now = utcnow()
        return [_summary(u, ms[u.id], now) for u in users]


def _managed_user(s: Session, principal: Principal, user_id: int, *, change: bool = True) -> User:
    """The user if the principal manages them: NotFound if outside their organisations,
    PermissionDenied when an organisation admin would change a repository admin."""
    managed = managed_organisations(principal)
    user = s.get(User, user_id)
    if user is None:
        raise NotFound("person not found")
    if managed is None:
        return user
    theirs = set(
        s.scalars(sa.select(Membership.organisation_id).where(Membership.user_id == user.id))
    )
    if not theirs & managed:
        raise NotFound("person not found")
    if change and user.is_admin:
        raise PermissionDenied(
            "only a repository administrator may change a repository administrator"
        )
    return user


def get_user(app: Application, principal: Principal, user_id: int) -> UserSummary:
    with app.uow() as uow:
        s = uow.session
        user = _managed_user(s, principal, user_id, change=False)
        return _summary(user, _memberships(s, [user.id])[user.id], utcnow())


def find_user_id(app: Application, username: str) -> int:
    name = normalise_username(username)
    with app.uow() as uow:
        found = uow.session.scalar(sa.select(User.id).where(User.username == name))
        if found is None:
            raise no_such_user(name)
        return found


def create_user_as(
    app: Application,
    principal: Principal,
    username: str,
    *,
    display_name: str = "",
    email: str = "",
    is_admin: bool = False,
    organisation_id: int | None = None,
    role: str | None = None,
) -> CreatedUser:
    """An admin makes an account with a one-time password. An organisation admin must put the
    person in one of their organisations and cannot make a repository admin."""
    managed = managed_organisations(principal)
    if is_admin and not principal.is_admin:
        raise PermissionDenied(
            "only a repository administrator may make a repository administrator"
        )
    if managed is not None and organisation_id is None:
        raise InvalidInput("choose the organisation the person belongs to")
    memberships = {}
    if organisation_id is not None:
        if managed is not None and organisation_id not in managed:
            raise NotFound("organisation not found")
        if role is None:
            raise InvalidInput("choose the person's role in the organisation")
        with app.uow() as uow:
            org = uow.session.get(Organisation, organisation_id)
            if org is None:
                raise NotFound("organisation not found")
            memberships[org.slug] = check_role(role)
    return create_user(
        app,
        username,
        display_name=display_name,
        email=email,
        is_admin=is_admin,
        memberships=memberships,
    )


def edit_user(
    app: Application,
    principal: Principal,
    user_id: int,
    *,
    display_name: str,
    email: str,
    is_admin: bool | None = None,
) -> list[str]:
    """Change a person's display name, e-mail and (repository admins only) admin flag; the
    names of the fields that changed."""
    display_name = check_display_name(display_name)
    email = check_email(email)
    with app.uow() as uow:
        user = _managed_user(uow.session, principal, user_id)
        changes: dict[str, str | bool] = {
            "display_name": display_name or user.username,
            "email": email,
        }
        if is_admin is not None and is_admin != user.is_admin:
            if not principal.is_admin:
                raise PermissionDenied(
                    "only a repository administrator may make a repository administrator"
                )
            if user.id == principal.user_id:
                raise InvalidInput("you cannot take away your own administrator rights")
            changes["is_admin"] = is_admin
        changed = []
        for key, value in changes.items():
            if getattr(user, key) != value:
                setattr(user, key, value)
                changed.append(key)
        if "is_admin" in changed:
            user.session_epoch += 1  # sessions carry their rights; make them sign in again
        uow.commit()
        return changed


def set_role(
    app: Application, principal: Principal, user_id: int, organisation_id: int, role: str | None
) -> str | None:
    """Give the person ``role`` in the organisation (None: take them out of it); the principal
    must be admin there. Returns the previous role."""
    if role is not None:
        check_role(role)
    with app.uow() as uow:
        s = uow.session
        user = _managed_user(s, principal, user_id)
        if not principal.can(organisation_id, "admin"):
            raise NotFound("organisation not found")
        if s.get(Organisation, organisation_id) is None:
            raise NotFound("organisation not found")
        if user.id == principal.user_id and not principal.is_admin and role != "admin":
            raise InvalidInput("you cannot take away your own administrator role")
        membership = s.get(Membership, (user.id, organisation_id))
        before = membership.role if membership else None
        if role is None:
            if membership is not None:
                s.delete(membership)
        elif membership is None:
            s.add(Membership(user_id=user.id, organisation_id=organisation_id, role=role))
        else:
            membership.role = role
        uow.commit()
        return before


def set_active(app: Application, principal: Principal | None, user_id: int, active: bool) -> bool:
    """Deactivate (every session ends, API tokens are revoked, sign-in refused) or reactivate
    an account; whether it changed. ``principal`` None: the command line, which may do anything."""
    with app.uow() as uow:
        s = uow.session
        user = s.get(User, user_id) if principal is None else _managed_user(s, principal, user_id)
        if user is None:
            raise NotFound("person not found")
        if principal is not None and user.id == principal.user_id and not active:
            raise InvalidInput("you cannot deactivate your own account")
        if user.active == active:
            return False
        user.active = active
        if not active:
            user.session_epoch += 1
            _revoke_tokens(s, user.id)
        else:
            user.failed_logins = 0
            user.locked_until = None
        uow.commit()
        return True


def reset_password(app: Application, principal: Principal | None, user_id: int) -> str:
    """A new one-time password for the person (shown once; they must change it at sign-in);
    their sessions end, their API tokens are revoked and a lockout is lifted. ``principal``
    None: the command line."""
    password = one_time_password()
    with app.uow() as uow:
        s = uow.session
        user = s.get(User, user_id) if principal is None else _managed_user(s, principal, user_id)
        if user is None:
            raise NotFound("person not found")
        user.password_hash = hash_password(password)
        user.must_change_password = True
        user.session_epoch += 1
        user.failed_logins = 0
        user.locked_until = None
        _revoke_tokens(s, user.id)
        uow.commit()
    return password


def organisation_choices(app: Application, principal: Principal) -> list[tuple[int, str, str]]:
    """(id, slug, name) of the organisations where the principal manages people."""
    managed = principal.organisations_where("admin")
    with app.uow() as uow:
        stmt = sa.select(Organisation.id, Organisation.slug, Organisation.name).order_by(
            Organisation.slug
        )
        if managed is not None:
            stmt = stmt.where(Organisation.id.in_(managed or {-1}))
        return [(i, slug, name) for i, slug, name in uow.session.execute(stmt).all()]
