"""Collective retention agreements in the catalogue (issue 12): the list with what awaits the
signed-in person, a version's page (parties, state and history, terms, documents, packages),
the editor of a draft (one form per section) and the steps of the lifecycle.

Each view is one call of :mod:`preserve.services.agreements` (or
:mod:`preserve.services.agreement_view` for what a page shows): the service decides who may do
what and refuses with its reason, shown as it is (409 for a refused step, 422 for refused input,
403 for no right). The editor turns its forms into the same description (``spec``) that
``preserve agreements create|edit --from FILE`` reads.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, cast

from flask import Blueprint, Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required
from preserve.web.context import application, audit, principal
from werkzeug.datastructures import MultiDict

from preserve.catalogue.agreements import (
    ACCESS_ACTIONS,
    ACCESS_GROUPS,
    AGREEMENT_KINDS,
    AUTHORITIES,
    COMPONENTS,
    DOCUMENT_KINDS,
    EXIT_ACTIONS,
    EXIT_FORMATS,
    PARTY_ROLES,
    PERIOD_UNITS,
    RESTRICTIONS,
    RETENTION_ACTIONS,
    RETENTION_TRIGGERS,
    RIGHTS_ACTS,
    SCOPE_OPERATORS,
    SIGNATURE_METHODS,
    STATES,
)
from preserve.errors import InvalidInput
from preserve.services import agreement_view
from preserve.services import agreements as service

bp = Blueprint("agreements", __name__)

#: The sections of the editor, each one form and one ``edit_draft`` call.
SECTIONS = (
    "general",
    "parties",
    "scope",
    "retention",
    "service_level",
    "formats",
    "rights",
    "access",
    "exit",
)
#: Empty rows offered below the filled ones (parties, metadata rules, access conditions).
SPARE_ROWS = 3


def ident(reference: str, version: int) -> str:
    return f"{reference}/v{version}"


def _audit(action: str, detail: service.AgreementDetail, **extra: Any) -> None:
    audit(f"agreement.{action}", object_type="agreement", object_id=detail.label, **extra)


# ------------------------------------------------------------------------------- form -> spec


def _blank(value: str | None) -> str | None:
    """A form value, None when left empty (the service then says what is required)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _words(text: str | None) -> list[str]:
    return [w for w in (text or "").replace(",", " ").split() if w]


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _rows(form: MultiDict[str, str], prefix: str) -> list[int]:
    """The row numbers of fields named ``{prefix}{n}_...`` in the form, in order."""
    found = set()
    for key in form:
        if key.startswith(prefix) and "_" in key:
            number = key[len(prefix) :].split("_", 1)[0]
            if number.isdigit():
                found.add(int(number))
    return sorted(found)


def general_spec(form: MultiDict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for name in ("title", "kind", "component"):
        if name in form:
            spec[name] = form.get(name, "").strip()
    for name in ("summary", "legal_basis", "rights_statement", "licence", "parent"):
        if name in form:
            spec[name] = form.get(name, "").strip()
    for name in ("effective_from", "effective_until", "next_review_on"):
        if name in form:
            spec[name] = _blank(form.get(name))
    for name in ("review_interval_months", "notice_period_days"):
        if name in form:
            spec[name] = _blank(form.get(name))
    return spec


def parties_spec(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    parties = []
    for n in _rows(form, "p"):
        org = _blank(form.get(f"p{n}_organisation"))
        if org is None:
            continue
        signatures = _blank(form.get(f"p{n}_required_signatures"))
        parties.append(
            {
                "organisation": org,
                "roles": form.getlist(f"p{n}_roles"),
                "authorities": form.getlist(f"p{n}_authorities"),
                "required_signatures": 1 if signatures is None else signatures,
                "represented_by": _blank(form.get(f"p{n}_represented_by")),
            }
        )
    return parties


def scope_spec(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    scope: list[dict[str, Any]] = [{"collection": c} for c in _lines(form.get("collections"))]
    for n in _rows(form, "m"):
        element = _blank(form.get(f"m{n}_element"))
        value = _blank(form.get(f"m{n}_value"))
        if element is None and value is None:
            continue
        scope.append(
            {
                "metadata": {
                    "element": element,
                    "operator": form.get(f"m{n}_operator") or "equals",
                    "value": value,
                }
            }
        )
    return scope


def retention_spec(form: MultiDict[str, str]) -> dict[str, Any] | None:
    names = ("retention_action", "trigger", "period_value", "motivation", "legal_basis")
    if not any(_blank(form.get(n)) for n in names):
        return None
    action = _blank(form.get("retention_action"))
    period_value = _blank(form.get("period_value"))
    spec: dict[str, Any] = {
        "action": action,
        "trigger": _blank(form.get("trigger")),
        "bound": form.get("bound") or "minimum",
        "motivation": _blank(form.get("motivation")),
        "legal_basis": _blank(form.get("legal_basis")),
    }
    if not (action == "keep_permanently" and period_value is None):
        spec["period"] = {"value": period_value, "unit": _blank(form.get("period_unit"))}
    return spec


def service_level_spec(form: MultiDict[str, str]) -> dict[str, Any] | None:
    names = (
        "min_copies",
        "min_distinct_sites",
        "allowed_regions",
        "fixity_interval_days",
        "restore_test_interval_days",
    )
    if not any(_blank(form.get(n)) for n in names) and "offline_copy_required" not in form:
        return None
    spec: dict[str, Any] = {
        "min_copies": _blank(form.get("min_copies")),
        "allowed_regions": _words(form.get("allowed_regions")),
        "offline_copy_required": "offline_copy_required" in form,
        "fixity_interval_days": _blank(form.get("fixity_interval_days")),
        "restore_test_interval_days": _blank(form.get("restore_test_interval_days")),
    }
    sites = _blank(form.get("min_distinct_sites"))
    if sites is not None:
        spec["min_distinct_sites"] = sites
    return spec


def formats_spec(form: MultiDict[str, str]) -> dict[str, Any]:
    return {
        "accepted": _words(form.get("accepted")),
        "preferred": _words(form.get("preferred")),
    }


def rights_spec(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    grants = []
    for act in RIGHTS_ACTS:
        restriction = _blank(form.get(f"r_{act}_restriction"))
        if restriction is None:
            continue
        grant: dict[str, Any] = {"act": act, "restriction": restriction}
        for key in ("start", "end"):
            grant[key] = _blank(form.get(f"r_{act}_{key}"))
        grant["note"] = form.get(f"r_{act}_note", "").strip()
        grants.append(grant)
    return grants


def access_spec(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    conditions = []
    for n in _rows(form, "a"):
        action, group = _blank(form.get(f"a{n}_action")), _blank(form.get(f"a{n}_group"))
        if action is None and group is None:
            continue
        condition: dict[str, Any] = {
            "action": action,
            "group": group,
            "embargo_until": _blank(form.get(f"a{n}_embargo_until")),
            "note": form.get(f"a{n}_note", "").strip(),
        }
        if group == "organisation":
            condition["organisation"] = _blank(form.get(f"a{n}_organisation"))
        conditions.append(condition)
    return conditions


def exit_spec(form: MultiDict[str, str]) -> dict[str, Any] | None:
    names = ("recipient", "deadline_days", "post_exit_action", "retain_until")
    if not any(_blank(form.get(n)) for n in names):
        return None
    return {
        "recipient": _blank(form.get("recipient")),
        "package_format": form.get("package_format") or "bagit_premis",
        "deadline_days": _blank(form.get("deadline_days")),
        "post_exit_action": _blank(form.get("post_exit_action")),
        "retain_until": _blank(form.get("retain_until")),
    }


SECTION_SPECS: dict[str, Callable[[MultiDict[str, str]], Any]] = {
    "general": general_spec,
    "parties": parties_spec,
    "scope": scope_spec,
    "retention": retention_spec,
    "service_level": service_level_spec,
    "formats": formats_spec,
    "rights": rights_spec,
    "access": access_spec,
    "exit": exit_spec,
}


def section_spec(section: str, form: MultiDict[str, str]) -> dict[str, Any]:
    """The part of a draft's description one section's form gives."""
    made = SECTION_SPECS[section](form)
    return made if section == "general" else {section: made}


# ------------------------------------------------------------------------------- vocabularies


def vocabulary() -> dict[str, Any]:
    """The choices of the forms (stored values; their labels are translated in the templates)."""
    return {
        "kinds": AGREEMENT_KINDS,
        "components": COMPONENTS,
        "roles": PARTY_ROLES,
        "authorities": AUTHORITIES,
        "operators": SCOPE_OPERATORS,
        "retention_actions": RETENTION_ACTIONS,
        "triggers": RETENTION_TRIGGERS,
        "units": PERIOD_UNITS,
        "acts": RIGHTS_ACTS,
        "restrictions": RESTRICTIONS,
        "access_actions": ACCESS_ACTIONS,
        "groups": ACCESS_GROUPS,
        "exit_actions": EXIT_ACTIONS,
        "exit_formats": EXIT_FORMATS,
        "document_kinds": DOCUMENT_KINDS,
        "methods": SIGNATURE_METHODS,
        "states": STATES,
        "spare": SPARE_ROWS,
    }


# ------------------------------------------------------------------------------- pages


@bp.route("/agreements")
@login_required
def index() -> Any:
    app, who = application(), principal()
    state = request.args.get("state") or None
    organisation = request.args.get("organisation") or None
    if state is not None and state not in STATES:
        raise InvalidInput(_("Unknown state %(state)s.", state=state))
    found = service.list_agreements(app, who, state=state, organisation=organisation)
    return render_template(
        "agreements/index.html",
        agreements=found,
        awaiting=agreement_view.awaiting(app, who),
        state=state or "",
        organisation=organisation or "",
        organisations=agreement_view.party_choices(app),
        states=STATES,
        can_create=who.is_admin or bool(who.organisations_where("archivist")),
    )


@bp.route("/agreements/<reference>")
@login_required
def newest(reference: str) -> Any:
    detail = service.show(application(), reference, principal())
    return redirect(url_for("agreements.show", reference=reference, version=detail.version_no))


@bp.route("/agreements/<reference>/v<int:version>")
@login_required
def show(reference: str, version: int) -> Any:
    app, who = application(), principal()
    name = ident(reference, version)
    detail = service.show(app, name, who)
    return render_template(
        "agreements/show.html",
        a=detail,
        versions=service.versions(app, reference, who),
        actions=agreement_view.actions(app, who, name),
        packages=agreement_view.packages_under(app, who, name, page=_page()),
        v=vocabulary(),
    )


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(_("page must be a whole number from 1"))
    return int(raw)


def _render_new(values: MultiDict[str, str], error: str = "", status: int = 200) -> Any:
    return render_template(
        "agreements/new.html", values=values, error=error, v=vocabulary()
    ), status


@bp.route("/agreements/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    app, who = application(), principal()
    if not (who.is_admin or who.organisations_where("archivist")):
        from preserve.errors import PermissionDenied

        raise PermissionDenied(
            _("Preparing an agreement needs the archivist or admin role in an organisation.")
        )
    if request.method == "GET":
        return _render_new(MultiDict())
    spec = {"reference": request.form.get("reference", "").strip(), **general_spec(request.form)}
    try:
        detail = service.create_draft(app, who, spec)
    except InvalidInput as exc:
        return _render_new(request.form, str(exc), 422)
    _audit("create", detail, state=detail.state)
    flash(_("%(label)s was created as a draft.", label=detail.label), "success")
    return redirect(url_for("agreements.edit", reference=detail.reference, version=1))


def _render_edit(
    detail: service.AgreementDetail,
    *,
    failed: str = "",
    error: str = "",
    form: MultiDict[str, str] | None = None,
    status: int = 200,
) -> Any:
    app, who = application(), principal()
    body = render_template(
        "agreements/edit.html",
        a=detail,
        failed=failed,
        error=error,
        form=form if form is not None else MultiDict(),
        organisations=agreement_view.party_choices(app),
        actions=agreement_view.actions(app, who, detail.label.replace(" v", "/v")),
        v=vocabulary(),
    )
    return body, status


@bp.route("/agreements/<reference>/v<int:version>/edit")
@login_required
def edit(reference: str, version: int) -> Any:
    app, who = application(), principal()
    name = ident(reference, version)
    detail = service.show(app, name, who)
    if detail.state != "draft":
        from preserve.catalogue.agreements import frozen_message
        from preserve.errors import Conflict

        raise Conflict(frozen_message(cast(Any, detail), detail.state))
    if not agreement_view.actions(app, who, name).can("edit"):
        from preserve.errors import PermissionDenied

        raise PermissionDenied(
            _(
                "Editing %(label)s needs the archivist or admin role in one of its parties.",
                label=detail.label,
            )
        )
    return _render_edit(detail)


@bp.route(
    "/agreements/<reference>/v<int:version>/edit/<any(" + ", ".join(SECTIONS) + "):section>",
    methods=["POST"],
)
@login_required
def edit_section(reference: str, version: int, section: str) -> Any:
    app, who = application(), principal()
    name = ident(reference, version)
    spec = section_spec(section, request.form)
    try:
        detail = service.edit_draft(app, who, name, spec)
    except InvalidInput as exc:
        return _render_edit(
            service.show(app, name, who),
            failed=section,
            error=str(exc),
            form=request.form,
            status=422,
        )
    _audit("edit", detail, sections=sorted(spec))
    flash(_("%(label)s: the changes were saved.", label=detail.label), "success")
    return redirect(
        url_for("agreements.edit", reference=reference, version=version) + f"#{section}"
    )


@bp.route("/agreements/<reference>/v<int:version>/documents", methods=["POST"])
@login_required
def attach(reference: str, version: int) -> Any:
    app, who = application(), principal()
    name = ident(reference, version)
    upload = request.files.get("document")
    kind = request.form.get("kind", "main_text")
    back = request.form.get("back") == "edit"
    try:
        if upload is None or not upload.filename:
            raise InvalidInput(_("Choose a document to upload."))
        with TemporaryDirectory(prefix="preserve-agreement-") as folder:
            safe = Path(upload.filename.replace("\\", "/")).name or "document"
            target = Path(folder) / "upload"
            upload.save(target)
            doc = service.attach_document(app, who, name, target, kind=kind, name=safe)
    except InvalidInput as exc:
        detail = service.show(app, name, who)
        if back and detail.state == "draft":
            return _render_edit(detail, failed="documents", error=str(exc), status=422)
        return _render_show(detail, error=str(exc), status=422)
    audit(
        "agreement.attach",
        object_type="agreement",
        object_id=name,
        name=doc.name,
        kind=doc.kind,
        sha256=doc.sha256,
    )
    flash(_("%(name)s was attached (SHA-256 %(sha)s).", name=doc.name, sha=doc.sha256), "success")
    if back:
        return redirect(url_for("agreements.edit", reference=reference, version=version))
    return redirect(url_for("agreements.show", reference=reference, version=version))


def _render_show(detail: service.AgreementDetail, *, error: str = "", status: int = 200) -> Any:
    app, who = application(), principal()
    name = detail.label.replace(" v", "/v")
    body = render_template(
        "agreements/show.html",
        a=detail,
        versions=service.versions(app, detail.reference, who),
        actions=agreement_view.actions(app, who, name),
        packages=agreement_view.packages_under(app, who, name),
        v=vocabulary(),
        error=error,
    )
    return body, status


@bp.route("/agreements/<reference>/v<int:version>/documents/<int:document_id>")
@login_required
def document(reference: str, version: int, document_id: int) -> Response:
    found = agreement_view.document_file(
        application(), principal(), ident(reference, version), document_id
    )
    return document_response(found)


def document_response(found: agreement_view.DocumentFile) -> Response:
    """The document as a download: always an attachment, never rendered by the browser."""
    # read at once (at most 25 MiB): no file left open when a client drops the response
    response = send_file(
        io.BytesIO(found.path.read_bytes()),
        mimetype=found.info.media_type,  # text/plain gets "; charset=utf-8" from Flask
        as_attachment=True,
        download_name=found.info.name,
        etag=found.info.sha256,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ------------------------------------------------------------------------------- the steps


def _text(name: str) -> str:
    return request.form.get(name, "")


#: step -> (service call with the form's fields, the message when done)
STEP_CALLS: dict[str, Callable[[Any, Any, str], service.AgreementDetail]] = {
    "propose": lambda app, who, name: service.propose(app, who, name),
    "agree": lambda app, who, name: service.agree(
        app, who, name, _text("party"), comment=_text("comment")
    ),
    "send_back": lambda app, who, name: service.send_back(
        app, who, name, _text("party"), _text("comment")
    ),
    "sign": lambda app, who, name: service.sign(
        app,
        who,
        name,
        _text("party"),
        capacity=_text("capacity"),
        method=_text("signature_method") or "digital",
        document_sha256=_blank(_text("document_sha256")),
    ),
    "activate": lambda app, who, name: service.activate(app, who, name),
    "suspend": lambda app, who, name: service.suspend(app, who, name, _text("reason")),
    "resume": lambda app, who, name: service.resume(app, who, name, comment=_text("comment")),
    "amend": lambda app, who, name: service.amend(app, who, name, _text("reason")),
    "give_notice": lambda app, who, name: service.give_notice(
        app, who, name, _text("party"), _text("reason")
    ),
    "start_exit": lambda app, who, name: service.start_exit(app, who, name),
    "close": lambda app, who, name: service.close(app, who, name, _text("evidence")),
    "withdraw": lambda app, who, name: service.withdraw(app, who, name, _text("reason")),
    "confirm_review": lambda app, who, name: service.confirm_review(app, who, name),
}


def step_message(step: str, d: service.AgreementDetail) -> str:
    state = state_label(d.state)
    return {
        "propose": _("%(label)s was proposed to its parties.", label=d.label),
        "agree": _("Agreed. %(label)s is %(state)s.", label=d.label, state=state),
        "send_back": _("%(label)s was sent back to draft.", label=d.label),
        "sign": _("Signed. %(label)s is %(state)s.", label=d.label, state=state),
        "activate": _("%(label)s is active.", label=d.label),
        "suspend": _("%(label)s is suspended: new ingest is refused.", label=d.label),
        "resume": _("%(label)s is active again.", label=d.label),
        "amend": _("%(label)s was drafted as an amendment.", label=d.label),
        "give_notice": _("Notice was given on %(label)s.", label=d.label),
        "start_exit": _("%(label)s is exiting.", label=d.label),
        "close": _("%(label)s is closed.", label=d.label),
        "withdraw": _("%(label)s was withdrawn.", label=d.label),
        "confirm_review": _("The review of %(label)s was confirmed.", label=d.label),
    }[step]


def state_label(state: str) -> str:
    return {
        "draft": _("draft"),
        "proposed": _("proposed"),
        "pending_signature": _("pending signature"),
        "signed": _("signed"),
        "active": _("active"),
        "under_review": _("under review"),
        "suspended": _("suspended"),
        "notice_given": _("notice given"),
        "exiting": _("exiting"),
        "expired": _("expired"),
        "closed": _("closed"),
        "withdrawn": _("withdrawn"),
        "superseded": _("superseded"),
    }.get(state, state)


def _step_view(step: str) -> Callable[..., Any]:
    def view(reference: str, version: int) -> Any:
        app, who = application(), principal()
        name = ident(reference, version)
        try:
            detail = STEP_CALLS[step](app, who, name)
        except InvalidInput as exc:
            return _render_show(service.show(app, name, who), error=str(exc), status=422)
        extra = {k: request.form[k] for k in ("party", "capacity") if request.form.get(k)}
        _audit(step, detail, state=detail.state, **extra)
        flash(step_message(step, detail), "success")
        if step == "amend":
            return redirect(
                url_for("agreements.edit", reference=reference, version=detail.version_no)
            )
        return redirect(url_for("agreements.show", reference=reference, version=version))

    view.__name__ = step
    view.__doc__ = f"The {step.replace('_', ' ')} step of an agreement version."
    return view


for _step in STEP_CALLS:
    bp.add_url_rule(
        f"/agreements/<reference>/v<int:version>/{_step.replace('_', '-')}",
        endpoint=_step,
        view_func=login_required(_step_view(_step)),
        methods=["POST"],
    )


@bp.app_template_filter("agreement_state")
def agreement_state(state: str) -> str:
    return state_label(state)


@bp.app_template_filter("vocab")
def vocab(value: str | None) -> str:
    """A stored value of the agreements' vocabularies in the person's language."""
    if value is None:
        return "–"
    return vocabulary_labels().get(value, value.replace("_", " "))


@bp.app_template_filter("history_action")
def history_action(action: str) -> str:
    """An agreement history step (stored in English, as the CLI shows it) in the person's
    language."""
    return history_labels().get(action, action.replace("_", " "))


def history_labels() -> dict[str, str]:
    return {
        "create": _("created"),
        "edit": _("edited"),
        "attach": _("document attached"),
        "propose": _("proposed"),
        "agree": _("agreed"),
        "send_back": _("sent back"),
        "all_agreed": _("all agreed"),
        "sign": _("signed"),
        "all_signed": _("all signed"),
        "activate": _("activated"),
        "suspend": _("suspended"),
        "resume": _("resumed"),
        "amend": _("amended"),
        "amendment_started": _("amendment started"),
        "supersede": _("superseded"),
        "review_due": _("review due"),
        "review_confirmed": _("review confirmed"),
        "give_notice": _("notice given"),
        "notice_ended": _("notice period ended"),
        "start_exit": _("exit started"),
        "exit_export": _("exit export"),
        "exit_confirm": _("exit confirmed"),
        "expire": _("expired"),
        "close": _("closed"),
        "withdraw": _("withdrawn"),
    }


#: :func:`preserve.services.retention.rule_text` and :func:`preserve.services.disposal.rule_text`
#: ("destroy 10 years after ingest_date (minimum)"), read back to be said in the person's language.
_RULE_TEXT = re.compile(
    r"^(?P<action>[a-z_ ]+?) (?P<value>\d+) (?P<unit>day|week|month|year)s? after "
    r"(?P<trigger>\S+) \((?P<bound>minimum|maximum)\)$"
)


@bp.app_template_filter("period")
def period(value: int, unit: str) -> str:
    """A rule's period (``10``, ``years``) in the person's language, singular or plural."""
    units = {
        "day": ngettext("%(num)s day", "%(num)s days", value),
        "week": ngettext("%(num)s week", "%(num)s weeks", value),
        "month": ngettext("%(num)s month", "%(num)s months", value),
        "year": ngettext("%(num)s year", "%(num)s years", value),
    }
    return units.get(unit.removesuffix("s"), f"{value} {unit}")


@bp.app_template_filter("rule_words")
def rule_words(text: str | None) -> str:
    """A retention rule's one-line text in the person's language (the text as it is when it is
    not one of the shapes the services write)."""
    if not text:
        return "–"
    if text == "keep permanently":
        return _("keep permanently")
    m = _RULE_TEXT.match(text)
    if m is None:
        return text
    return _(
        "%(action)s %(period)s after %(trigger)s (%(bound)s)",
        action=vocab(m["action"].replace(" ", "_")),
        period=period(int(m["value"]), m["unit"]),
        trigger=vocab(m["trigger"]),
        bound=vocab(m["bound"]),
    )


#: Event texts the services write from known parts (preserve.services.disposal and exits), read
#: back so that a page says them in the person's language; anything else (free text a person
#: typed, a shape not listed) is shown as stored.
_EVENT_TEXTS = (
    (
        "deleted",
        re.compile(
            r"^disposed of by disposal (?P<id>\d+) \((?P<kind>\w+)\): (?P<objects>\d+) objects "
            r"on (?P<locations>\d+) locations moved to the restore bin \((?P<bin>[^)]*)\) until "
            r"the restore window ends$"
        ),
    ),
    (
        "restored",
        re.compile(r"^disposal (?P<id>\d+) restored within its restore window$"),
    ),
    ("moved_back", re.compile(r"^(?P<objects>\d+) objects moved back from the restore bin$")),
    (
        "deletion",
        re.compile(
            r"^disposal (?P<id>\d+): agreement (?P<agreement>\S+ v\d+), rule (?P<rule>.+?)"
            r"(?:; reason: (?P<reason>.*))?$",
            re.DOTALL,
        ),
    ),
    (
        "deletion_no_agreement",
        re.compile(r"^disposal (?P<id>\d+): no agreement(?:; reason: (?P<reason>.*))?$", re.DOTALL),
    ),
    (
        "exported",
        re.compile(
            r"^(?P<packages>\d+) packages? and (?P<documents>\d+) documents? exported to "
            r"(?P<target>.+); (?P<manifest>\S+) sha256 (?P<sha>[0-9a-f]+)$",
            re.DOTALL,
        ),
    ),
)


@bp.app_template_filter("event_words")
def event_words(text: str | None) -> str:
    """An event's detail, or an agreement history comment, in the person's language when the
    services built it from known parts; else as stored."""
    if not text:
        return ""
    for shape, pattern in _EVENT_TEXTS:
        m = pattern.match(text)
        if m is not None:
            return _event_text(shape, m)
    return text


def _event_text(shape: str, m: re.Match[str]) -> str:
    kinds = {"scheduled": _("scheduled"), "adhoc": _("ad hoc"), "exit": _("exit")}
    reason = _("; reason: %(reason)s", reason=m["reason"]) if m.groupdict().get("reason") else ""
    if shape == "deleted":
        return _(
            "disposed of by disposal %(id)s (%(kind)s): %(objects)s on %(locations)s moved to "
            "the restore bin (%(bin)s) until the restore window ends",
            id=m["id"],
            kind=kinds.get(m["kind"], m["kind"]),
            objects=ngettext("%(num)s object", "%(num)s objects", int(m["objects"])),
            locations=ngettext("%(num)s location", "%(num)s locations", int(m["locations"])),
            bin=m["bin"],
        )
    if shape == "restored":
        return _("disposal %(id)s restored within its restore window", id=m["id"])
    if shape == "moved_back":
        return ngettext(
            "%(num)s object moved back from the restore bin",
            "%(num)s objects moved back from the restore bin",
            int(m["objects"]),
        )
    if shape == "deletion":
        return (
            _(
                "disposal %(id)s: agreement %(agreement)s, rule %(rule)s",
                id=m["id"],
                agreement=m["agreement"],
                rule=rule_words(m["rule"]),
            )
            + reason
        )
    if shape == "deletion_no_agreement":
        return _("disposal %(id)s: no agreement", id=m["id"]) + reason
    return _(
        "%(packages)s and %(documents)s exported to %(target)s; %(manifest)s sha256 %(sha)s",
        packages=ngettext("%(num)s package", "%(num)s packages", int(m["packages"])),
        documents=ngettext("%(num)s document", "%(num)s documents", int(m["documents"])),
        target=m["target"],
        manifest=m["manifest"],
        sha=m["sha"],
    )


@bp.app_template_filter("retention_state")
def retention_state(state: str) -> str:
    """A package's retention state in the person's language."""
    return {
        "unscheduled": _("unscheduled"),
        "scheduled": _("scheduled"),
        "retention_error": _("retention error"),
        "in_retention": _("in retention"),
        "due": _("due"),
        "under_review": _("under review"),
        "disposal_proposed": _("disposal proposed"),
        "disposal_approved": _("disposal approved"),
        "disposing": _("being disposed of"),
        "disposed": _("disposed of"),
        "disposal_failed": _("disposal failed"),
        "restored": _("restored"),
        "permanently_deleted": _("permanently deleted"),
    }.get(state, state.replace("_", " "))


def vocabulary_labels() -> dict[str, str]:
    return {
        # kinds
        "collaboration": _("collaboration"),
        "service": _("service"),
        "management": _("management"),
        "deposit": _("deposit"),
        "submission": _("submission"),
        "data_processing": _("data processing"),
        "escrow": _("escrow"),
        "main": _("main agreement"),
        "annex": _("annex"),
        "addendum": _("addendum"),
        # roles and authorities
        "owner_depositor": _("owner or depositor"),
        "creator_rights_holder": _("creator or rights holder"),
        "submitting_agent": _("submitting agent"),
        "custodian": _("custodian"),
        "storage_node": _("storage node"),
        "umbrella_representative": _("umbrella representative"),
        "successor": _("successor"),
        "approve_disposal": _("approve disposal"),
        "approve_deletion": _("approve deletion"),
        "approve_access_change": _("approve access change"),
        "approve_amendment": _("approve amendment"),
        # retention
        "keep_permanently": _("keep permanently"),
        "review": _("review"),
        "destroy": _("destroy"),
        "transfer": _("transfer"),
        "return_to_depositor": _("return to depositor"),
        "keep_sample": _("keep a sample"),
        "ingest_date": _("ingest date"),
        "creation_date": _("creation date"),
        "days": _("days"),
        "weeks": _("weeks"),
        "months": _("months"),
        "years": _("years"),
        "minimum": _("minimum"),
        "maximum": _("maximum"),
        "equals": _("equals"),
        "contains": _("contains"),
        "starts_with": _("starts with"),
        # rights and access
        "replicate": _("replicate"),
        "migrate": _("migrate"),
        "modify": _("modify"),
        "use": _("use"),
        "disseminate": _("disseminate"),
        "delete": _("delete"),
        "allow": _("allow"),
        "disallow": _("disallow"),
        "conditional": _("conditional"),
        "consult": _("consult"),
        "download": _("download"),
        "public": _("everyone signed in"),
        "owner": _("the owner's members"),
        "parties": _("the parties' members"),
        "organisation": _("one organisation"),
        # exit and documents
        "delete_with_certificate": _("delete with a certificate"),
        "retain_until": _("keep until a date"),
        "bagit": _("BagIt"),
        "bagit_premis": _("BagIt with PREMIS"),
        "e_ark_aip": _("E-ARK AIP"),
        "main_text": _("main text"),
        "signed_copy": _("signed copy"),
        "other": _("other"),
        "digital": _("digital"),
        "paper": _("paper"),
        "agree": _("agreed"),
        "send_back": _("sent back"),
    }
