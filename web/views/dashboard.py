"""(placeholder: filled in by issue 11's work on this subject)"""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index() -> str:
    from flask import redirect, url_for
    from flask_login import current_user

    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in"))  # type: ignore[return-value]
    return "dashboard"
