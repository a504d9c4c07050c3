"""Personal API tokens: how a script acts as a person on ``/api/v1`` and the tus uploads.

A token is ``pst_`` followed by 40 random URL-safe characters (240 bits). Only its SHA-256 is
kept in the catalogue, with its first characters to tell tokens apart; the token itself is
shown once, when it is made. A token acts as its person with that person's current roles; it
stops working when it is revoked, when it expires, or when the person is deactivated.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import ApiToken, User
from preserve.errors import InvalidInput, NotFound
from preserve.services.access import Principal
from preserve.services.accounts import deactivated, no_such_user, person_named, principal_for

log = logging.getLogger(__name__)

#: What every token starts with, so a leaked one is recognisable (secret scanners, logs).
PREFIX = "pst_"
#: Random characters after the prefix (URL-safe base64: 6 bits each, 240 bits in all).
SECRET_LENGTH = 40
#: How many characters of the token are kept in the clear to tell tokens apart.
SHOWN = 12
#: ``last_used_at`` is written at most this often per token (a busy script costs no writes).
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME = 100


@dataclass(frozen=True)
class TokenInfo:
    """A token as its person sees it (never the token itself)."""

    id: int
    name: str
    #: The token's first characters (``pst_`` and 8 more).
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    username: str = ""

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= _now(now):
            return "expired"
        return "active"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite keeps no offset
        return value.replace(tzinfo=UTC)
    return value


def token_hash(token_text: str) -> str:
    return hashlib.sha256(token_text.encode("utf-8")).hexdigest()


def _info(token: ApiToken, username: str = "") -> TokenInfo:
    return TokenInfo(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=_utc(token.created_at) or token.created_at,
        last_used_at=_utc(token.last_used_at),
        expires_at=_utc(token.expires_at),
        revoked_at=_utc(token.revoked_at),
        username=username,
    )


def check_name(name: str) -> str:
    """A token's name: 1 to 100 printable characters (what the person will recognise it by)."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise InvalidInput("give the token a name, e.g. the script or machine that will use it")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"a token's name is at most {MAX_NAME} characters long")
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise InvalidInput("a token's name cannot contain control characters")
    return cleaned


def create_token(
    app: Application,
    principal: Principal,
    name: str,
    expires_at: datetime | None = None,
    *,
    now: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """Make a token for ``principal``: the token (to show once) and what is kept of it."""
    name = check_name(name)
    at = _now(now)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("the expiry must be a time with its time zone (UTC)")
        if expires_at <= at:
            raise InvalidInput("the expiry must be in the future")
    text = PREFIX + secrets.token_urlsafe(SECRET_LENGTH)[:SECRET_LENGTH]
    with app.uow() as uow:
        s = uow.session
        user = s.get(User, principal.user_id)
        if user is None:
            raise no_such_user(principal.username)
        if not user.active:
            raise deactivated(principal.username)
        token = ApiToken(
            user_id=user.id,
            name=name,
            token_hash=token_hash(text),
            prefix=text[:SHOWN],
            created_at=at,
            expires_at=expires_at,
        )
        s.add(token)
        s.flush()
        info = _info(token, user.username)
        uow.commit()
    log.info("api token %s (%s) made for %s", info.id, info.prefix, principal.username)
    return text, info


def list_tokens(app: Application, principal: Principal) -> list[TokenInfo]:
    """The person's tokens, newest first (revoked and expired ones too, marked as such)."""
    with app.uow() as uow:
        rows = uow.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == principal.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()
        return [_info(t, principal.username) for t in rows]


def revoke_token(
    app: Application, principal: Principal, token_id: int, *, now: datetime | None = None
) -> TokenInfo:
    """Revoke one of the person's own tokens (another person's token: NotFound). Revoking a
    revoked token again changes nothing."""
    with app.uow() as uow:
        token = uow.session.get(ApiToken, token_id)
        if token is None or token.user_id != principal.user_id:
            raise NotFound(f"no token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = _now(now)
        info = _info(token, principal.username)
        uow.commit()
    log.info("api token %s (%s) of %s revoked", info.id, info.prefix, principal.username)
    return info


def principal_for_token(
    app: Application, token_text: str, *, now: datetime | None = None
) -> Principal | None:
    """The person a token acts for, or None when it is unknown, revoked, expired, or its person
    was deactivated (no reason is given). Records when it was last used (once a minute)."""
    if (
        not token_text
        or not token_text.startswith(PREFIX)
        or len(token_text) != len(PREFIX) + SECRET_LENGTH
    ):
        return None
    at = _now(now)
    with app.uow() as uow:
        token = uow.session.scalar(
            sa.select(ApiToken).where(ApiToken.token_hash == token_hash(token_text))
        )
        if token is None or token.revoked_at is not None:
            return None
        expires = _utc(token.expires_at)
        if expires is not None and expires <= at:
            return None
        user_id = token.user_id
        last = _utc(token.last_used_at)
        if last is None or at - last >= LAST_USED_RESOLUTION:
            token.last_used_at = at
            uow.commit()
    return principal_for(app, user_id)


def principal_for_username(app: Application, username: str) -> Principal:
    """The active person named ``username`` (``preserve tokens ... --as NAME``):
    :func:`preserve.services.accounts.person_named`."""
    return person_named(app, username)
