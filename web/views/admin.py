"""Admin pages: people (accounts, memberships, one-time passwords), organisations and the audit
log. A repository admin manages everything; an organisation admin the people and details of
their own organisations (someone else's is not found). Every change is audited; the services in
``preserve.services.accounts``, ``organisations_admin`` and ``audit`` enforce who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal
from werkzeug.wrappers import Response

from preserve.catalogue.models import ROLES
from preserve.errors import AlreadyExists, InvalidInput
from preserve.services import accounts, organisations_admin
from preserve.services import audit as audit_service
from preserve.services.accounts import UserSummary

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 50


@bp.before_request
@login_required
def signed_in() -> None:
    """Every admin page needs a signed-in person (the services check the rest)."""


def _role_names() -> dict[str, str]:
    return {"viewer": _("Viewer"), "archivist": _("Archivist"), "admin": _("Administrator")}


def _audit_organisation(user: UserSummary) -> int | None:
    """The organisation an entry about ``user`` is filed under (so its admins see it)."""
    managed = principal().organisations_where("admin")
    for m in user.memberships:
        if managed is None or m.organisation_id in managed:
            return m.organisation_id
    return None


def _no_store(response: Response) -> Response:
    """A page with a one-time password: never kept by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------- people


@bp.route("/people")
def users() -> str:
    people = accounts.list_users(application(), principal())
    return render_template("admin/users.html", people=people, role_names=_role_names())


def _user_form_errors(form: Any, *, new: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if new:
        try:
            accounts.normalise_username(form.get("username", ""))
        except InvalidInput:
            errors["username"] = _(
                "Use 1 to 100 lower-case letters, digits and . _ @ -, starting with a letter "
                "or digit."
            )
    try:
        accounts.check_display_name(form.get("display_name", ""))
    except InvalidInput:
        errors["display_name"] = _("Use at most 255 characters, without control characters.")
    try:
        accounts.check_email(form.get("email", ""))
    except InvalidInput:
        errors["email"] = _("Enter an e-mail address such as name@example.org, or nothing.")
    return errors


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@bp.route("/people/new", methods=["GET", "POST"])
def user_new() -> Any:
    me = principal()
    accounts.managed_organisations(me)  # 403 for someone who manages nobody
    choices = accounts.organisation_choices(application(), me)
    errors: dict[str, str] = {}
    values: Any = {"role": "archivist"}
    if request.method == "POST":
        values = request.form
        errors = _user_form_errors(values, new=True)
        organisation_id = _int_or_none(values.get("organisation"))
        role = values.get("role", "")
        if values.get("organisation") and organisation_id not in {c[0] for c in choices}:
            errors["organisation"] = _("Choose one of the organisations offered.")
        if not me.is_admin and organisation_id is None:
            errors["organisation"] = _("Choose the organisation the person belongs to.")
        if organisation_id is not None and role not in ROLES:
            errors["role"] = _("Choose one of the roles offered.")
        if not errors:
            try:
                created = accounts.create_user_as(
                    application(),
                    me,
                    values.get("username", ""),
                    display_name=values.get("display_name", ""),
                    email=values.get("email", ""),
                    is_admin=me.is_admin and values.get("is_admin") == "on",
                    organisation_id=organisation_id,
                    role=role if organisation_id is not None else None,
                )
            except AlreadyExists:
                errors["username"] = _("Someone has this user name already.")
            else:
                audit(
                    "user.create",
                    object_type="user",
                    object_id=created.username,
                    organisation_id=organisation_id,
                    is_admin=me.is_admin and values.get("is_admin") == "on",
                    role=role if organisation_id is not None else None,
                )
                return _no_store(
                    make_response(
                        render_template(
                            "admin/password_shown.html",
                            username=created.username,
                            user_id=created.user_id,
                            password=created.one_time_password,
                            new=True,
                        )
                    )
                )
    return render_template(
        "admin/user_new.html",
        errors=errors,
        values=values,
        choices=choices,
        role_names=_role_names(),
    ), (400 if errors else 200)


def _user_page(user_id: int, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    me = principal()
    person = accounts.get_user(application(), me, user_id)
    choices = accounts.organisation_choices(application(), me)
    member_of = {m.organisation_id for m in person.memberships}
    values = (
        request.form
        if errors
        else {
            "display_name": person.display_name,
            "email": person.email,
        }
    )
    return render_template(
        "admin/user.html",
        person=person,
        values=values,
        errors=errors or {},
        manageable={c[0] for c in choices},
        addable=[c for c in choices if c[0] not in member_of],
        role_names=_role_names(),
        may_change=me.is_admin or not person.is_admin,
    ), status


@bp.route("/people/<int:user_id>")
def user(user_id: int) -> Any:
    return _user_page(user_id)


@bp.route("/people/<int:user_id>/edit", methods=["POST"])
def user_edit(user_id: int) -> Any:
    me = principal()
    errors = _user_form_errors(request.form, new=False)
    if errors:
        accounts.get_user(application(), me, user_id)  # 404 before any message
        return _user_page(user_id, errors, 400)
    try:
        changed = accounts.edit_user(
            application(),
            me,
            user_id,
            display_name=request.form.get("display_name", ""),
            email=request.form.get("email", ""),
            is_admin=(request.form.get("is_admin") == "on") if me.is_admin else None,
        )
    except InvalidInput:
        return _user_page(
            user_id, {"is_admin": _("You cannot take away your own administrator rights.")}, 400
        )
    person = accounts.get_user(application(), me, user_id)
    if changed:
        audit(
            "user.edit",
            object_type="user",
            object_id=person.username,
            organisation_id=_audit_organisation(person),
            fields=changed,
        )
    flash(_("Saved."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/people/<int:user_id>/role", methods=["POST"])
def user_role(user_id: int) -> Any:
    me = principal()
    person = accounts.get_user(application(), me, user_id)
    organisation_id = _int_or_none(request.form.get("organisation"))
    role = request.form.get("role", "")
    if organisation_id is None:
        return _user_page(user_id, {"organisation": _("Choose an organisation.")}, 400)
    if role not in (*ROLES, "none"):
        return _user_page(user_id, {"role": _("Choose one of the roles offered.")}, 400)
    try:
        before = accounts.set_role(
            application(), me, user_id, organisation_id, None if role == "none" else role
        )
    except InvalidInput:
        return _user_page(
            user_id, {"role": _("You cannot take away your own administrator role.")}, 400
        )
    audit(
        "user.role",
        object_type="user",
        object_id=person.username,
        organisation_id=organisation_id,
        before=before,
        after=None if role == "none" else role,
    )
    flash(_("Saved."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/people/<int:user_id>/active", methods=["POST"])
def user_active(user_id: int) -> Any:
    me = principal()
    active = request.form.get("active") == "1"
    try:
        changed = accounts.set_active(application(), me, user_id, active)
    except InvalidInput:
        return _user_page(user_id, {"active": _("You cannot deactivate your own account.")}, 400)
    person = accounts.get_user(application(), me, user_id)
    if changed:
        audit(
            "user.reactivate" if active else "user.deactivate",
            object_type="user",
            object_id=person.username,
            organisation_id=_audit_organisation(person),
        )
    flash(
        _("The account is active.")
        if active
        else _("The account is deactivated and its API tokens are revoked."),
        "success",
    )
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/people/<int:user_id>/password", methods=["POST"])
def user_password(user_id: int) -> Any:
    me = principal()
    password = accounts.reset_password(application(), me, user_id)
    person = accounts.get_user(application(), me, user_id)
    audit(
        "user.password_reset",
        object_type="user",
        object_id=person.username,
        organisation_id=_audit_organisation(person),
    )
    return _no_store(
        make_response(
            render_template(
                "admin/password_shown.html",
                username=person.username,
                user_id=user_id,
                password=password,
                new=False,
            )
        )
    )


# ---------------------------------------------------------------------------- organisations


def _organisation_errors(form: Any, *, new: bool) -> dict[str, str]:
    errors = {}
    if new:
        from preserve.services.admin import SLUG

        if not SLUG.match(form.get("slug", "").strip()):
            errors["slug"] = _(
                "Use 1 to 63 lower-case letters, digits and . _ -, starting with a letter or digit."
            )
    if not form.get("name", "").strip():
        errors["name"] = _("Enter the organisation's full name.")
    elif "\n" in form.get("name", "") or len(form.get("name", "")) > 255:
        errors["name"] = _("Use one line of at most 255 characters.")
    if "\n" in form.get("contact_name", ""):
        errors["contact_name"] = _("Use one line.")
    try:
        accounts.check_email(form.get("contact_email", ""))
    except InvalidInput:
        errors["contact_email"] = _("Enter an e-mail address such as name@example.org, or nothing.")
    return errors


@bp.route("/organisations", methods=["GET", "POST"])
def organisations() -> Any:
    me = principal()
    rows = organisations_admin.list_organisations(application(), me)
    errors: dict[str, str] = {}
    values: Any = {}
    if request.method == "POST":
        if not me.is_admin:
            abort(403)
        values = request.form
        errors = _organisation_errors(values, new=True)
        if not errors:
            try:
                organisation_id = organisations_admin.create(
                    application(),
                    me,
                    values["slug"],
                    name=values["name"],
                    address=values.get("address", ""),
                    contact_name=values.get("contact_name", ""),
                    contact_email=values.get("contact_email", ""),
                )
            except AlreadyExists as exc:
                key = "slug" if "already exists" in str(exc) else "name"
                errors[key] = (
                    _("An organisation has this short name already.")
                    if key == "slug"
                    else _("Another organisation has this full name.")
                )
            else:
                audit(
                    "organisation.create",
                    object_type="organisation",
                    object_id=values["slug"].strip(),
                    organisation_id=organisation_id,
                )
                flash(_("The organisation is added."), "success")
                return redirect(url_for("admin.organisation", organisation_id=organisation_id))
    return render_template("admin/organisations.html", rows=rows, errors=errors, values=values), (
        400 if errors else 200
    )


@bp.route("/organisations/<int:organisation_id>", methods=["GET", "POST"])
def organisation(organisation_id: int) -> Any:
    me = principal()
    page = organisations_admin.show(application(), me, organisation_id)
    errors: dict[str, str] = {}
    values: Any = {
        "name": page.summary.name,
        "address": page.summary.address,
        "contact_name": page.summary.contact_name,
        "contact_email": page.summary.contact_email,
    }
    if request.method == "POST":
        values = request.form
        errors = _organisation_errors(values, new=False)
        if not errors:
            try:
                changed = organisations_admin.edit(
                    application(),
                    me,
                    organisation_id,
                    name=values.get("name", ""),
                    address=values.get("address", ""),
                    contact_name=values.get("contact_name", ""),
                    contact_email=values.get("contact_email", ""),
                )
            except AlreadyExists:
                errors["name"] = _("Another organisation has this full name.")
            else:
                if changed:
                    audit(
                        "organisation.edit",
                        object_type="organisation",
                        object_id=page.summary.slug,
                        organisation_id=organisation_id,
                        fields=changed,
                    )
                flash(_("Saved."), "success")
                return redirect(url_for("admin.organisation", organisation_id=organisation_id))
    return render_template(
        "admin/organisation.html",
        page=page,
        values=values,
        errors=errors,
        role_names=_role_names(),
    ), (400 if errors else 200)


# ---------------------------------------------------------------------------- audit log


def _date(value: str, field: str, errors: dict[str, str]) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        errors[field] = _("Enter a date as YYYY-MM-DD.")
        return None
    return datetime.combine(day, time(), tzinfo=UTC)


@bp.route("/audit", endpoint="audit")
def audit_log() -> Any:
    me = principal()
    args = request.args
    errors: dict[str, str] = {}
    since = _date(args.get("from", ""), "from", errors)
    until = _date(args.get("to", ""), "to", errors)
    if until is not None:
        until += timedelta(days=1)  # the whole last day
    if since and until and until <= since:
        errors["to"] = _("The end of the period must come after its start.")
    page_number = _int_or_none(args.get("page")) or 1
    organisation_id = _int_or_none(args.get("organisation"))
    if args.get("organisation") and organisation_id is None:
        errors["organisation"] = _("Choose one of the organisations offered.")
    if errors:
        accounts.managed_organisations(me)
        found = None
    else:
        found = audit_service.entries(
            application(),
            me,
            person=args.get("person", ""),
            action=args.get("action", ""),
            organisation_id=organisation_id,
            since=since,
            until=until,
            page=page_number,
            per_page=PER_PAGE,
        )
    query = {k: v for k, v in args.items() if k != "page" and v}
    return render_template(
        "admin/audit.html",
        found=found,
        errors=errors,
        values=args,
        query=query,
        actions=audit_service.actions(application()),
        choices=accounts.organisation_choices(application(), me),
    ), (400 if errors else 200)
