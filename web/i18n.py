"""Interface languages: English and Simplified Chinese gettext catalogues (Flask-Babel).

The language is chosen per user (stored preference), else per session, else the site
default (`GMP_DEFAULT_LANGUAGE`). Catalogues live in web/translations/<lang>/LC_MESSAGES;
the compiled .mo files are committed, and compiled at start only if one is missing or
its messages differ from its .po (a checkout's file times say nothing). Data is stored as entered; only the interface is translated.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, session
from flask_babel import Babel

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"en": "English", "zh": "简体中文"}
HTML_LANG = {"en": "en", "zh": "zh-CN"}


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every messages.po whose messages.mo is missing or stale; return those compiled."""
    from babel.messages.mofile import read_mo, write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        with po.open("rb") as handle:
            catalog = read_po(handle)
        if mo.exists():
            with mo.open("rb") as handle:
                current = read_mo(handle)
            wanted = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
            if {m.id: m.string for m in current if m.id} == wanted:
                continue
        partial = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")  # several processes may start at once
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        os.replace(partial, mo)  # readers see the old file or the new one, never half of one
        compiled.append(mo)
    return compiled


def select_language() -> str:
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return str(user.language)
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return str(current_app.extensions["gmp.settings"].default_language)


def current_language() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return "zh" if locale is not None and locale.language == "zh" else "en"


def refusal_text(refusal: Any) -> str:
    """A refusal (an error, or a gate's engine.gates.Refusal) worded for the reader in their
    language: web.wording, the one place where refusals are worded."""
    from web.wording import refusal_text as worded

    return worded(refusal)


def error_text(exc: BaseException) -> str:
    """The message of an error for the user (see `refusal_text`)."""
    return refusal_text(exc)


def init_app(app: Flask) -> None:
    try:
        compile_catalogues()
    except OSError:  # read-only install: the committed .mo files are used as they are
        pass
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = app.extensions["gmp.settings"].default_language
    app.config["BABEL_DEFAULT_TIMEZONE"] = "UTC"
    Babel(app, locale_selector=select_language)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language,
                                 html_lang=lambda: HTML_LANG[current_language()], refusal_text=refusal_text)
