"""Sign in and out, the account page and the language switch (Flask-Login over our own
accounts service; no Flask-SQLAlchemy).

Sign-in refusals all look the same (a wrong name, a wrong password, a locked or deactivated
account); the audit log tells them apart. Failed sign-ins are limited per address by
Flask-Limiter (``settings.ratelimit_storage_url``: memory, or Redis when several processes serve)
and per account by the lockout counter in the catalogue.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from preserve.web.context import application, audit, principal, settings
from preserve.web.i18n import LOCALES
from werkzeug.wrappers import Response

from preserve.catalogue.models import LOCALES as STORED_LOCALES
from preserve.errors import InvalidInput
from preserve.services import accounts
from preserve.services.access import Principal

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

#: Failed sign-ins allowed per address (Flask-Limiter notation); a successful one is not counted.
SIGN_IN_LIMIT = "10 per minute"
#: The cookie that keeps an anonymous visitor's language.
LANGUAGE_COOKIE = "preserve_lang"
#: The session key that sends a person with a one-time password to the password page.
MUST_CHANGE = "must_change_password"


class SignedIn(UserMixin):
    """The session's person: ``get_id`` carries the session epoch, so raising the epoch (a new
    password, a deactivated account) signs them out everywhere."""

    def __init__(self, principal: Principal, epoch: int) -> None:
        self.principal = principal
        self.epoch = epoch

    def get_id(self) -> str:
        return f"{self.principal.user_id}:{self.epoch}"


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = ""
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load(session_id: str) -> SignedIn | None:
        user_id, _sep, epoch = session_id.partition(":")
        if not user_id.isdigit() or not epoch.isdigit():
            return None
        found = accounts.principal_for(application(), int(user_id), epoch=int(epoch))
        return SignedIn(found, int(epoch)) if found else None

    # one limiter per app (its own counters); only refused sign-ins count
    app.config.setdefault("SIGN_IN_LIMIT", SIGN_IN_LIMIT)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.extensions["preserve.settings"].ratelimit_storage_url,
        default_limits=[],
        headers_enabled=True,
    )
    app.extensions["preserve.limiter"] = limiter
    app.register_error_handler(429, too_many)


def too_many(error: Exception) -> tuple[str, int]:
    return render_template(
        "error.html",
        status=429,
        title=_("Too many sign-in attempts"),
        detail=_(
            "Too many sign-ins failed from your address. Wait a minute, then try again. "
            "If you forgot your password, ask an administrator for a new one."
        ),
    ), 429


@bp.route("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page links to: send them to the icon (no
    sign-in needed, like the other static files)."""
    response = redirect(url_for("static", filename="img/favicon.svg"), code=301)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.before_app_request
def one_time_password_first() -> Response | None:
    """A person signed in with a one-time password goes to the password page first."""
    if not session.get(MUST_CHANGE) or not current_user.is_authenticated:
        return None
    if request.endpoint in (
        "auth.change_password",
        "auth.sign_out",
        "auth.sign_in",
        "auth.language",
        "auth.favicon",
        "static",
    ):
        return None
    if request.path.startswith("/api/"):
        return None
    return redirect(url_for("auth.change_password"))


def local_target(target: str | None, default: str) -> str:
    """``next`` only to a path on this site (never ``//host``, ``/\\host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def _home() -> str:
    return url_for("dashboard.index") if "dashboard.index" in current_app.view_functions else "/"


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    next_page = request.values.get("next", "")
    if request.method == "POST":
        with current_app.extensions["preserve.limiter"].limit(
            lambda: str(current_app.config["SIGN_IN_LIMIT"]),
            deduct_when=lambda response: response.status_code != 302,
            scope="sign-in",
        ):
            pass  # raises RateLimitExceeded (429) once the address used up its attempts
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        result = accounts.authenticate(application(), username, password)
        if result.principal is None:
            # one row per try, naming the account tried (a locked one: sign_in.locked only)
            audit(
                "sign_in.locked" if result.reason == "locked" else "sign_in.failed",
                object_type="user",
                object_id=result.username or None,
                username=result.username,
            )
            # the same words for everyone, so they do not tell which names exist
            minutes = application().settings.lockout_minutes
            flash(
                ngettext(
                    "Wrong user name or password, or the account is locked for a while after too"
                    " many attempts: wait %(num)d minute or ask an administrator.",
                    "Wrong user name or password, or the account is locked for a while after too"
                    " many attempts: wait %(num)d minutes or ask an administrator.",
                    minutes,
                ),
                "error",
            )
            return render_template("auth/sign_in.html", username=username, next_page=next_page), 401
        session.clear()  # a new session for the signed-in person (no fixation)
        login_user(SignedIn(result.principal, result.epoch))
        audit("sign_in", object_type="user", object_id=result.principal.username)
        if result.must_change_password:
            session[MUST_CHANGE] = True
            return redirect(url_for("auth.change_password"))
        return redirect(local_target(next_page, _home()))
    # a signed-in person sees the page too (tests and scripts read its CSRF token there)
    return render_template("auth/sign_in.html", username="", next_page=next_page)


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    audit("sign_out", object_type="user", object_id=principal().username)
    logout_user()
    session.clear()
    flash(_("You are signed out."), "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere() -> Response:
    me = principal()
    accounts.sign_out_everywhere(application(), me.user_id)
    audit("sign_out.everywhere", object_type="user", object_id=me.username)
    logout_user()
    session.clear()
    flash(_("You are signed out on every device."), "success")
    return redirect(url_for("auth.sign_in"))


def _password_errors(current: str, new: str, repeat: str) -> dict[str, str]:
    errors = {}
    if not current:
        errors["current"] = _("Enter your current password.")
    if len(new) < accounts.MIN_PASSWORD:
        errors["new"] = _("Use at least %(count)d characters.", count=accounts.MIN_PASSWORD)
    elif len(new) > accounts.MAX_PASSWORD:
        errors["new"] = _("Use at most %(count)d characters.", count=accounts.MAX_PASSWORD)
    elif new == current:
        errors["new"] = _("The new password must differ from the current one.")
    if new != repeat:
        errors["repeat"] = _("The two new passwords differ.")
    return errors


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    me = principal()
    forced = bool(session.get(MUST_CHANGE))
    errors: dict[str, str] = {}
    if request.method == "POST":
        current = request.form.get("current", "")
        new = request.form.get("new", "")
        errors = _password_errors(current, new, request.form.get("repeat", ""))
        if not errors:
            try:
                epoch = accounts.change_password(application(), me.user_id, current, new)
            except InvalidInput:
                errors["current"] = _("The current password is not right.")
            else:
                audit("password.change", object_type="user", object_id=me.username)
                session.pop(MUST_CHANGE, None)
                login_user(SignedIn(me, epoch))  # this session stays; the others end
                flash(
                    _(
                        "Your password is changed. Other sessions are signed out and your"
                        " API tokens are revoked."
                    ),
                    "success",
                )
                return redirect(url_for("auth.account") if not forced else _home())
        status = 400
    else:
        status = 200
    return render_template("auth/password.html", errors=errors, forced=forced), status


def _profile_errors(display_name: str, email: str, locale: str) -> dict[str, str]:
    errors = {}
    try:
        accounts.check_display_name(display_name)
    except InvalidInput:
        errors["display_name"] = _("Use at most 255 characters, without control characters.")
    try:
        accounts.check_email(email)
    except InvalidInput:
        errors["email"] = _("Enter an e-mail address such as name@example.org, or nothing.")
    if locale not in (*STORED_LOCALES, "browser"):
        errors["locale"] = _("Choose one of the languages offered.")
    return errors


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Any:
    me = principal()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = request.form
        display_name = form.get("display_name", "")
        email = form.get("email", "")
        locale = form.get("locale", "browser")
        errors = _profile_errors(display_name, email, locale)
        if not errors:
            changed = accounts.update_profile(
                application(),
                me,
                display_name=display_name,
                email=email,
                locale=None if locale == "browser" else locale,
                set_locale=True,
            )
            if changed:
                audit("account.edit", object_type="user", object_id=me.username, fields=changed)
            flash(_("Your account is saved."), "success")
            return redirect(url_for("auth.account"))
        status = 400
    found = accounts.profile(application(), me)
    values = (
        request.form
        if errors
        else {
            "display_name": found.display_name,
            "email": found.email,
            "locale": found.locale or "browser",
        }
    )
    return render_template("auth/account.html", profile=found, values=values, errors=errors), status


@bp.route("/language", methods=["POST"])
def language() -> Response:
    """The header's language switch: a cookie for everyone, and the saved preference of a
    signed-in person."""
    chosen = request.form.get("language", "")
    if chosen not in (*LOCALES, "browser"):
        chosen = "browser"
    response = redirect(local_target(request.form.get("next"), _home()))
    if current_user.is_authenticated:
        accounts.update_profile(
            application(),
            principal(),
            locale=None if chosen == "browser" else chosen,
            set_locale=True,
        )
    if chosen == "browser":
        response.delete_cookie(LANGUAGE_COOKIE)
    else:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=settings().cookies_secure,
        )
    return response
