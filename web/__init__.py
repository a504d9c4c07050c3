"""The web catalogue (issue 11): a thin Flask adapter over the services in ``preserve``.

``create_app(settings)`` builds the app: one :class:`~preserve.bootstrap.Application` per process
(``current_app.extensions["preserve"]``), sign-in (Flask-Login), CSRF (Flask-WTF), languages
(Flask-Babel), security headers, and one blueprint per subject, each in ``web/views/`` (pages)
or ``web/api/`` (``/api/v1``). Views turn a request into one service call and its result or
error into a page or a JSON body; no SQL, hashing or storage calls live here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from flask import Flask
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap

HERE = Path(__file__).resolve().parent

#: The modules whose ``bp`` blueprint is registered, in this order.
BLUEPRINTS = (
    "preserve.web.views.auth",
    "preserve.web.views.dashboard",
    "preserve.web.views.collections",
    "preserve.web.views.packages",
    "preserve.web.views.package",
    "preserve.web.views.ingest",
    "preserve.web.tus",
    "preserve.web.views.jobs",
    "preserve.web.views.locations",
    "preserve.web.views.agreements",
    "preserve.web.views.holds",
    "preserve.web.views.disposal",
    "preserve.web.views.compliance",
    "preserve.web.views.admin",
    "preserve.web.views.tokens",
    "preserve.web.api",
)


def create_app(settings: Settings | None = None) -> Flask:
    """The web catalogue for ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(
        "preserve.web",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="preserve_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.cookies_secure,
        # forms stay valid as long as the session (a long description typed before lunch)
        WTF_CSRF_TIME_LIMIT=None,
        # a form or JSON body is small; uploads go through the tus endpoint in chunks
        MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024,
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
        JSON_SORT_KEYS=False,
    )
    app.extensions["preserve"] = bootstrap(settings)
    app.extensions["preserve.settings"] = settings

    from preserve.web import errors, i18n, security

    security.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        init = getattr(module, "init_app", None)
        if init is not None:
            init(app)
        app.register_blueprint(module.bp)
    # templates link only to pages that exist (the nav of base.html)
    app.jinja_env.globals["view_functions"] = app.view_functions
    return app
