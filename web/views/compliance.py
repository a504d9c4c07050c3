"""The compliance dashboard (issue 12; retention-agreements.md 5.3, dashboards 2 and 3): every
agreement in force and every organisation the person may see, one agreement (with its exit and
its restore tests) or one organisation, as tables; the same as CSV and as a printable page.
Each view is one call of :mod:`preserve.services.compliance` (and :mod:`~preserve.services.exits`
and :mod:`~preserve.services.restore_tests` for an agreement's page), which decide what the
person may see (404 for what they may not)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, principal

from preserve.errors import InvalidInput
from preserve.services import compliance, exits, restore_tests

bp = Blueprint("compliance", __name__)


def post_exit_labels() -> dict[str, str]:
    return {
        "waiting": _("waiting for the receiving party's confirmation"),
        "pending": _("confirmed; post-exit action pending"),
        "done": _("confirmed; post-exit action done"),
    }


@bp.app_template_filter("share")
def share(value: float | None) -> str:
    """A share as a percentage ("–" when nothing was assessed)."""
    return "–" if value is None else f"{value * 100:.1f} %"


@bp.app_template_filter("post_exit")
def post_exit(state: str | None) -> str:
    return "–" if state is None else post_exit_labels().get(state, state)


def _scope() -> dict[str, str | None]:
    """?agreement=REF or ?organisation=ORG (not both) of the CSV and the printable page."""
    agreement = request.args.get("agreement") or None
    organisation = request.args.get("organisation") or None
    if agreement and organisation:
        raise InvalidInput(_("Give an agreement or an organisation, not both."))
    return {"agreement": agreement, "organisation": organisation}


@bp.route("/compliance")
@login_required
def index() -> Any:
    report = compliance.report(application(), principal())
    return render_template("compliance/index.html", report=report, scope={})


@bp.route("/compliance/agreements/<reference>")
@login_required
def agreement(reference: str) -> Any:
    app, who = application(), principal()
    report = compliance.report(app, who, agreement=reference)
    status = exits.status(app, who, reference)
    tests = restore_tests.history(app, agreement=reference, limit=20)
    return render_template(
        "compliance/agreement.html",
        report=report,
        row=report.agreements[0],
        status=status,
        tests=tests,
        scope={"agreement": reference},
    )


@bp.route("/compliance/organisations/<slug>")
@login_required
def organisation(slug: str) -> Any:
    report = compliance.report(application(), principal(), organisation=slug)
    return render_template("compliance/index.html", report=report, scope={"organisation": slug})


@bp.route("/compliance.csv")
@login_required
def export_csv() -> Any:
    scope = _scope()
    report = compliance.report(
        application(),
        principal(),
        agreement=scope["agreement"],
        organisation=scope["organisation"],
    )
    name = scope["agreement"] or scope["organisation"] or "all"
    return Response(
        compliance.to_csv(report),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="compliance-{name}.csv"'},
    )


@bp.route("/compliance/print")
@login_required
def printable() -> Any:
    scope = _scope()
    report = compliance.report(
        application(),
        principal(),
        agreement=scope["agreement"],
        organisation=scope["organisation"],
    )
    return render_template("compliance/print.html", report=report, scope=scope)
