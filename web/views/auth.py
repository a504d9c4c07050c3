"""Sign in and out (Flask-Login over our own accounts service; no Flask-SQLAlchemy)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, login_required, login_user, logout_user
from preserve.web.context import application, audit
from werkzeug.wrappers import Response

from preserve.services import accounts
from preserve.services.access import Principal

bp = Blueprint("auth", __name__)
login_manager = LoginManager()


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


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        result = accounts.authenticate(application(), username, password)
        if result is None:
            audit("sign_in.failed", username=username[:100])
            flash(_("Wrong user name or password, or the account is locked."), "error")
            return render_template("auth/sign_in.html", username=username), 401
        principal, epoch = result
        login_user(SignedIn(principal, epoch))
        audit("sign_in", object_type="user", object_id=principal.username)
        target = request.args.get("next", "")
        if not target.startswith("/") or target.startswith("//"):
            target = url_for("dashboard.index")
        return redirect(target)
    return render_template("auth/sign_in.html", username="")


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    audit("sign_out")
    logout_user()
    return redirect(url_for("auth.sign_in"))
