"""Holds (issue 12): the list (active or lifted), a hold's page with its targets, placing a hold
on packages or collections, and lifting it whole or target by target. Each view is one call of
:mod:`preserve.services.holds`, which decides who may place and lift (the archivist role in the
organisation of each target) and refuses with its reason (422 for refused input, 403, 404)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal
from werkzeug.datastructures import MultiDict

from preserve.catalogue.holds import HOLD_KINDS
from preserve.errors import InvalidInput
from preserve.services import holds

bp = Blueprint("holds", __name__)


def kind_labels() -> dict[str, str]:
    return {
        "legal": _("legal"),
        "dispute": _("dispute"),
        "audit": _("audit"),
        "gdpr_request": _("GDPR request"),
        "rights_challenge": _("rights challenge"),
        "other": _("other"),
    }


@bp.app_template_filter("hold_kind")
def hold_kind(kind: str) -> str:
    return kind_labels().get(kind, kind)


def _targets(text: str | None) -> list[str]:
    return [t for t in (text or "").replace(",", " ").split() if t]


@bp.route("/holds")
@login_required
def index() -> Any:
    state = request.args.get("state") or "active"
    if state not in holds.STATES:
        raise InvalidInput(_("Unknown state %(state)s.", state=state))
    found = holds.list_holds(
        application(),
        principal(),
        state=state,
        package=request.args.get("package") or None,
        collection=request.args.get("collection") or None,
    )
    return render_template("holds/index.html", holds=found, state=state, states=holds.STATES)


@bp.route("/holds/<int:hold_id>")
@login_required
def show(hold_id: int) -> Any:
    return render_template("holds/show.html", h=holds.show(application(), principal(), hold_id))


def _render_new(values: MultiDict[str, str], error: str = "", status: int = 200) -> Any:
    body = render_template("holds/new.html", values=values, error=error, kinds=HOLD_KINDS)
    return body, status


@bp.route("/holds/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    app, who = application(), principal()
    if request.method == "GET":
        return _render_new(request.args)
    f = request.form
    try:
        made = holds.place(
            app,
            who,
            kind=f.get("kind", ""),
            title=f.get("title", ""),
            reason=f.get("reason", ""),
            mandate=f.get("mandate") or None,
            packages=_targets(f.get("packages")),
            collections=_targets(f.get("collections")),
            channel="web",
            remote_addr=request.remote_addr,
        )
    except InvalidInput as exc:
        return _render_new(f, str(exc), 422)
    audit(
        "hold.place",
        object_type="hold",
        object_id=str(made.id),
        kind=made.kind,
        targets=[t.label for t in made.targets],
    )
    flash(_("Hold %(id)s was placed.", id=made.id), "success")
    return redirect(url_for("holds.show", hold_id=made.id))


@bp.route("/holds/<int:hold_id>/lift", methods=["POST"])
@login_required
def lift(hold_id: int) -> Any:
    app, who = application(), principal()
    target = request.form.get("target", "")
    kind, _sep, value = target.partition(":")
    try:
        lifted = holds.lift(
            app,
            who,
            hold_id,
            reason=request.form.get("reason", ""),
            package=value if kind == "package" else None,
            collection=value if kind == "collection" else None,
            channel="web",
            remote_addr=request.remote_addr,
        )
    except InvalidInput as exc:
        body = render_template("holds/show.html", h=holds.show(app, who, hold_id), error=str(exc))
        return body, 422
    audit("hold.lift", object_type="hold", object_id=str(hold_id), target=target or "all")
    if lifted.state == "lifted":
        flash(_("Hold %(id)s was lifted.", id=hold_id), "success")
    else:
        flash(_("Hold %(id)s was lifted from %(target)s.", id=hold_id, target=value), "success")
    return redirect(url_for("holds.show", hold_id=hold_id))
