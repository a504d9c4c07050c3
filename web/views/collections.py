"""Collections: the list with their holdings, and creating and editing them (admins of the
organisation) through :mod:`preserve.services.collections_view`, which calls what
``preserve collections add/edit`` and ``preserve fixity schedule`` call."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required
from preserve.web.context import application, audit, principal

from preserve.services import collections_view
from preserve.services.collections_view import CollectionFormErrors, CollectionInput

bp = Blueprint("collections", __name__)


def _form() -> CollectionInput:
    f = request.form
    return CollectionInput(
        slug=f.get("slug", ""),
        title=f.get("title", ""),
        description=f.get("description", "").replace("\r\n", "\n"),
        organisation=f.get("organisation", ""),
        locations=tuple(dict.fromkeys(f.getlist("locations"))),
        fixity_interval_days=f.get("fixity_interval_days", ""),
    )


@bp.route("/collections")
@login_required
def index() -> Any:
    app, who = application(), principal()
    return render_template(
        "collections/index.html",
        collections=collections_view.list_collections(app, who),
        can_create=bool(collections_view.editable_organisations(app, who)),
    )


def _render_form(
    form: CollectionInput, errors: dict[str, str], *, new: bool, status: int = 200
) -> Any:
    app, who = application(), principal()
    body = render_template(
        "collections/form.html",
        form=form,
        errors=errors,
        new=new,
        organisations=collections_view.editable_organisations(app, who),
        locations=collections_view.location_choices(app),
    )
    return body, status


@bp.route("/collections/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    app, who = application(), principal()
    organisations = collections_view.editable_organisations(app, who)
    if not organisations:
        from preserve.errors import PermissionDenied

        raise PermissionDenied(_("You need the admin role in an organisation to add collections."))
    if request.method == "GET":
        first = organisations[0][0] if len(organisations) == 1 else ""
        return _render_form(CollectionInput(organisation=first), {}, new=True)
    form = _form()
    try:
        row = collections_view.create_collection(app, who, form)
    except CollectionFormErrors as exc:
        return _render_form(form, exc.fields, new=True, status=400)
    audit(
        "collection.create",
        object_type="collection",
        object_id=f"{row.organisation}/{row.slug}",
        organisation_id=row.organisation_id,
        title=row.title,
        locations=list(row.locations),
        fixity_interval_days=row.fixity_interval_days,
    )
    flash(_("Collection %(title)s was created.", title=row.title), "success")
    return redirect(url_for("collections.index"))


@bp.route("/collections/<organisation>/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(organisation: str, slug: str) -> Any:
    app, who = application(), principal()
    row = collections_view.get_collection(app, who, organisation, slug)
    if not row.can_edit:
        from preserve.errors import PermissionDenied

        raise PermissionDenied(_("You need the admin role in this organisation to do that."))
    if request.method == "GET":
        form = CollectionInput(
            slug=row.slug,
            title=row.title,
            description=row.description,
            organisation=row.organisation,
            locations=row.locations,
            fixity_interval_days=str(row.fixity_interval_days or ""),
        )
        return _render_form(form, {}, new=False)
    form = _form()
    form = CollectionInput(
        slug=row.slug,
        title=form.title,
        description=form.description,
        organisation=row.organisation,
        locations=form.locations,
        fixity_interval_days=form.fixity_interval_days,
    )
    try:
        change = collections_view.edit_collection(app, who, organisation, slug, form)
    except CollectionFormErrors as exc:
        return _render_form(form, exc.fields, new=False, status=400)
    if change.changes:
        audit(
            "collection.edit",
            object_type="collection",
            object_id=f"{organisation}/{slug}",
            organisation_id=row.organisation_id,
            changes=[list(c) for c in change.changes],
            replications_queued=change.queued,
        )
        message = _("Collection %(title)s was changed.", title=change.collection.title)
        if change.queued:
            message += " " + ngettext(
                "%(num)s copy to make on the new locations was queued.",
                "%(num)s copies to make on the new locations were queued.",
                change.queued,
            )
        flash(message, "success")
    else:
        flash(_("Nothing was changed."), "success")
    return redirect(url_for("collections.index"))
