"""Every interface message has a non-empty Chinese translation, and the catalogues are current."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from web.i18n import TRANSLATIONS, compile_catalogues

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)s")
pytestmark = pytest.mark.req("URS-WEB-003", "CN-6")


def catalogue(lang: str, kind: str = "po"):
    path = TRANSLATIONS / lang / "LC_MESSAGES" / f"messages.{kind}"
    with path.open("rb") as handle:
        return read_po(handle, locale=lang) if kind == "po" else read_mo(handle)


def extracted_ids() -> set[str]:
    ids: set[str] = set()
    mapping = [("web/**.py", "python"), ("forms/**.py", "python"), ("bpmn/**.py", "python"),
               ("web/templates/**.html", "jinja2"), ("forms/templates/**.html", "jinja2")]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.do"},
               "forms/templates/**.html": {"extensions": "jinja2.ext.do"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=mapping, options_map=options, keywords=keywords):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_chinese_message_is_translated_and_not_fuzzy():
    zh = catalogue("zh")
    problems = [m.id for m in zh if m.id and (not m.string or not str(m.string).strip() or m.fuzzy)]
    assert problems == [], f"untranslated, empty or fuzzy Chinese messages: {problems}"


def test_placeholders_survive_translation():
    bad = [m.id for m in catalogue("zh") if m.id and set(PLACEHOLDER.findall(m.id)) != set(PLACEHOLDER.findall(m.string))]
    assert bad == []


def test_catalogue_holds_every_message_in_the_code():
    missing = sorted(extracted_ids() - {m.id for m in catalogue("zh") if m.id})
    assert missing == [], f"messages not in the Chinese catalogue (run pybabel extract/update, see docs/web.md): {missing}"


def test_compiled_catalogue_matches_the_po(tmp_path):
    compiled = {m.id: m.string for m in catalogue("zh", "mo") if m.id}
    source = {m.id: m.string for m in catalogue("zh") if m.id}
    assert compiled == source
    copy = tmp_path / "zh" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    (copy / "messages.po").write_bytes((TRANSLATIONS / "zh/LC_MESSAGES/messages.po").read_bytes())
    assert compile_catalogues(tmp_path) == [copy / "messages.mo"]
    assert compile_catalogues(tmp_path) == []


def test_every_refusal_of_the_installed_gates_is_translated():
    """The gates of the product's runtime (engine and process library): each refusal template
    has a Chinese translation with the same placeholders."""
    from bpmn.glue import install

    zh = {m.id: m.string for m in catalogue("zh") if m.id}
    templates = {template for gate in install().gates.all() for template in gate.codes.values()}
    assert templates and sorted(t for t in templates if not zh.get(t)) == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_message_is_in_the_catalogue_once(lang):
    """A merge that keeps both sides of a catalogue adds entries twice; Babel keeps one silently (which one is
    an accident when they differ), msgfmt refuses the file."""
    text = (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    twice = []
    for match in re.finditer(r'^msgid ((?:".*"\n)+)msgstr', text, re.M):
        message = "".join(re.findall(r'^"(.*)"$', match.group(1), re.M))
        if message and message in seen:
            twice.append(message[:80])
        seen[message] = seen.get(message, 0) + 1
    assert twice == [], f"messages listed twice in {lang}/messages.po (keep one): {twice}"
