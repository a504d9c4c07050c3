"""Disposal (issue 12): the list of requests with what each party still has to approve, a
request's page with the approve and reject steps per party, its withdrawal, execution (now,
or queued for the workers), restore, and the dated declaration as a printable page and a
download. Each view is one call of :mod:`preserve.services.disposal`, which decides who may do
what and refuses with its reason (409 a refused step, 422 refused input, 403, 404); the service
writes the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, principal

from preserve.catalogue.disposal import DISPOSAL_STATES
from preserve.errors import Conflict, InvalidInput, OnHold, PermissionDenied
from preserve.services import disposal

bp = Blueprint("disposal", __name__)

#: The filters of the list page.
FILTERS = ("open", *DISPOSAL_STATES, "all")


def state_labels() -> dict[str, str]:
    return {
        "open": _("open"),
        "pending": _("pending"),
        "approved": _("approved"),
        "rejected": _("rejected"),
        "executing": _("executing"),
        "executed": _("executed"),
        "execution_failed": _("execution failed"),
        "restored": _("restored"),
        "permanently_deleted": _("permanently deleted"),
        "withdrawn": _("withdrawn"),
        "all": _("all"),
        "proposed": _("proposed"),
        "disposed": _("disposed"),
        "failed": _("failed"),
    }


def kind_labels() -> dict[str, str]:
    return {"scheduled": _("scheduled"), "adhoc": _("ad hoc"), "exit": _("exit")}


@bp.app_template_filter("disposal_state")
def disposal_state(state: str) -> str:
    return state_labels().get(state, state)


@bp.app_template_filter("disposal_kind")
def disposal_kind(kind: str) -> str:
    return kind_labels().get(kind, kind)


@bp.route("/disposal")
@login_required
def index() -> Any:
    state = request.args.get("state") or "open"
    if state not in FILTERS:
        raise InvalidInput(_("Unknown state %(state)s.", state=state))
    found = disposal.list_requests(
        application(), principal(), state=None if state == "all" else state
    )
    return render_template("disposal/index.html", requests=found, state=state, filters=FILTERS)


def _page(request_id: int, error: str = "", status: int = 200) -> Any:
    d = disposal.show(application(), principal(), request_id)
    return render_template("disposal/show.html", d=d, error=error), status


@bp.route("/disposal/<int:request_id>")
@login_required
def show(request_id: int) -> Any:
    return _page(request_id)


@bp.route("/disposal/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    """Propose the due packages (scheduled) or an ad-hoc deletion of named packages."""
    if request.method == "GET":
        return render_template("disposal/new.html", values=request.args, error="")
    f = request.form
    app, who = application(), principal()
    try:
        if f.get("kind") == "due":
            made = disposal.propose_due(
                app,
                who,
                agreement=f.get("agreement") or None,
                channel="web",
                remote_addr=request.remote_addr,
            )
        else:
            ids = [t for t in (f.get("packages") or "").replace(",", " ").split() if t]
            made = [
                disposal.propose(
                    app,
                    who,
                    ids,
                    kind="adhoc",
                    reason=f.get("reason", ""),
                    channel="web",
                    remote_addr=request.remote_addr,
                )
            ]
    except InvalidInput as exc:
        return render_template("disposal/new.html", values=f, error=str(exc)), 422
    for d in made:
        flash(_("Disposal %(id)s was proposed.", id=d.id), "success")
    return redirect(url_for("disposal.show", request_id=made[0].id))


def _step(request_id: int, do: Any, done: str) -> Any:
    """Run a step; a refused one shows the page again with the reason (its status code)."""
    try:
        do()
    except InvalidInput as exc:
        return _page(request_id, str(exc), 422)
    except (Conflict, OnHold) as exc:
        return _page(request_id, str(exc), 409)
    except PermissionDenied as exc:
        return _page(request_id, str(exc), 403)
    flash(done, "success")
    return redirect(url_for("disposal.show", request_id=request_id))


@bp.route("/disposal/<int:request_id>/approve", methods=["POST"])
@login_required
def approve(request_id: int) -> Any:
    party = request.form.get("party", "")
    return _step(
        request_id,
        lambda: disposal.approve(
            application(),
            principal(),
            request_id,
            party,
            comment=request.form.get("comment", ""),
            channel="web",
            remote_addr=request.remote_addr,
        ),
        _("%(party)s approved disposal %(id)s.", party=party, id=request_id),
    )


@bp.route("/disposal/<int:request_id>/reject", methods=["POST"])
@login_required
def reject(request_id: int) -> Any:
    party = request.form.get("party", "")
    return _step(
        request_id,
        lambda: disposal.reject(
            application(),
            principal(),
            request_id,
            party,
            request.form.get("comment", ""),
            channel="web",
            remote_addr=request.remote_addr,
        ),
        _("%(party)s rejected disposal %(id)s.", party=party, id=request_id),
    )


@bp.route("/disposal/<int:request_id>/withdraw", methods=["POST"])
@login_required
def withdraw(request_id: int) -> Any:
    return _step(
        request_id,
        lambda: disposal.withdraw(
            application(),
            principal(),
            request_id,
            request.form.get("reason", ""),
            channel="web",
            remote_addr=request.remote_addr,
        ),
        _("Disposal %(id)s was withdrawn.", id=request_id),
    )


@bp.route("/disposal/<int:request_id>/execute", methods=["POST"])
@login_required
def execute(request_id: int) -> Any:
    app, who = application(), principal()
    if request.form.get("mode") == "queue":
        return _step(
            request_id,
            lambda: disposal.queue_execution(
                app, who, request_id, channel="web", remote_addr=request.remote_addr
            ),
            _("Disposal %(id)s was queued for the workers.", id=request_id),
        )
    return _step(
        request_id,
        lambda: disposal.execute(
            app, who, request_id, channel="web", remote_addr=request.remote_addr
        ),
        _("Disposal %(id)s was executed.", id=request_id),
    )


@bp.route("/disposal/<int:request_id>/restore", methods=["POST"])
@login_required
def restore(request_id: int) -> Any:
    return _step(
        request_id,
        lambda: disposal.restore(
            application(),
            principal(),
            request_id,
            channel="web",
            remote_addr=request.remote_addr,
        ),
        _("Disposal %(id)s was restored.", id=request_id),
    )


@bp.route("/disposal/<int:request_id>/declaration")
@login_required
def declaration(request_id: int) -> Any:
    """The declaration as a printable page; ``?download=json`` or ``text`` as a file."""
    app, who = application(), principal()
    doc = disposal.declaration(app, who, request_id)
    wanted = request.args.get("download")
    if wanted in ("json", "text"):
        body = doc.json + "\n" if wanted == "json" else doc.text
        name = f"disposal-{request_id}-declaration.{'json' if wanted == 'json' else 'md'}"
        mime = "application/json" if wanted == "json" else "text/markdown; charset=utf-8"
        return Response(
            body,
            mimetype=mime,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    if wanted is not None:
        raise InvalidInput(_("Download json or text."))
    import json

    return render_template(
        "disposal/declaration.html",
        d=disposal.show(app, who, request_id),
        doc=json.loads(doc.json),
        sha256=doc.sha256,
    )
