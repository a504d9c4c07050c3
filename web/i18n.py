"""Languages: English, Dutch and French (Flask-Babel), chosen by the person's preference, else
the browser's; dates, numbers and sizes formatted for the locale."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, request
from flask_babel import Babel, format_datetime, format_decimal, get_locale
from flask_login import current_user

LOCALES = ("en", "nl", "fr")
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "fr": "Français"}


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.principal.locale:
        return str(current_user.principal.locale)
    chosen = request.cookies.get("preserve_lang")
    if chosen in LOCALES:
        return str(chosen)
    return request.accept_languages.best_match(LOCALES) or "en"


def format_size(size: int | None) -> str:
    """Bytes in the locale's number format with a binary unit (``1,5 GiB`` in Dutch), joined
    by a no-break space so that "527.5 KiB" never wraps between number and unit."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{format_decimal(int(value))}\u00a0B"
            return f"{format_decimal(round(value, 1))}\u00a0{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)

    def when(value: datetime | None, style: str = "medium") -> str:
        return "–" if value is None else format_datetime(value, style)

    app.jinja_env.filters["size"] = format_size
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["number"] = lambda n: "–" if n is None else format_decimal(n)
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
