"""Rendering a form to accessible HTML on the server, and reading the HTML form back.

No Flask here: plain Jinja2. Every input has a visible label (the field's title in the
reader's language, never its key); help text, unit, limits and errors are tied to the
input with ``aria-describedby``; an input in error carries ``aria-invalid`` and its
message sits next to it. Browser-side checks are only a convenience:
``validate_submission`` decides.

Input names (PATH is a field path such as ``lot`` or ``dispensing.2.net``):
  ``f:PATH`` value · ``exc:PATH`` exception comment (values outside limits)
  ``ovr:PATH`` override reason · ``ovv:PATH`` override value (equipment fields)
  ``cap:PATH`` the stored equipment reading a row's captured value comes from
  ``r:ROWS.N`` marks row N of a repeating group (so an empty row still exists)
Rows are added and removed in the browser (web/static/js/form-rows.js): a new row is a copy
of the group's ``<template>`` with ``__INDEX__`` replaced by the next free number.
Equipment and calculated fields are displayed, never submitted: the server takes them
from the captures and the calculation. Row numbers sent by the browser may have gaps
(rows removed): they are renumbered in order.
"""
from __future__ import annotations

import json
from collections import ChainMap
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from forms.errors import FORM_LEVEL, N_, ExpressionError, FieldError, FormInvalid, Term
from forms.keywords import (
    COMMENT_MAX_LENGTH,
    ROW_PLACEHOLDER,
    FieldSpec,
    FormDefinition,
    Limits,
    calculation_order,
    join_path,
    load_definition,
    split_path,
)
from forms.numbers import decimal_places, format_decimal, parse_decimal, quantize, reading_decimal, to_decimal
from forms.rows_from import fill_presets
from forms.validation import CapturedValue, FormResult, after_rows, calculated_value, resolve_name, validate_submission

Gettext = Callable[[str], str]
INDEX = ROW_PLACEHOLDER
NUMBER = "__NUMBER__"
PREFIXES = ("f", "exc", "ovr", "ovv", "cap", "r")


def _identity(text: str) -> str:
    return text


def display(value: Any) -> str:
    """A stored value as a person reads it: exact decimals in plain notation."""
    if value is None:
        return ""
    if isinstance(value, (Decimal, float)):
        return format_decimal(value)
    return str(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("forms", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.do"])
    env.filters["num"] = display
    return env


@dataclass(frozen=True)
class Submission:
    """What an HTML form post means, ready for ``validate_submission``.

    ``data`` holds the typed values (rows as lists); ``raw`` the text as typed for every
    field (so a page shown again keeps what was typed, even text that is not a number);
    ``errors`` the values that could not be read (their field keeps its text and its error,
    every other field keeps its value); ``captures`` field path -> id of the stored reading.
    """

    data: dict[str, Any] = field(default_factory=dict)
    exceptions: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    captures: dict[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)


def parse_html_submission(schema: dict[str, Any], ui_schema: dict[str, Any] | None,
                          form: Mapping[str, str]) -> Submission:
    """Turn posted strings into typed values. Never raises for what a person typed: a value that is
    not of its field's type is left out of ``data``, kept in ``raw`` and reported in ``errors``."""
    definition = load_definition(schema, ui_schema)
    parser = _Parser(definition)
    return parser.parse(form)


class _Parser:
    def __init__(self, definition: FormDefinition) -> None:
        self.definition = definition
        self.errors: list[FieldError] = []

    def parse(self, form: Mapping[str, str]) -> Submission:
        entries: list[tuple[str, list[Any], str]] = []
        rows_seen: dict[tuple[Any, ...], set[int]] = {}
        for key, raw in _items(form):
            prefix, _, path = key.partition(":")
            if prefix not in PREFIXES or not path:
                continue  # other inputs of the page (CSRF token, signature dialog) are not form data
            parts = split_path(path)
            spec = self.resolve(parts, rows_seen, marker=prefix == "r")
            if spec is None:
                self.errors.append(FieldError(FORM_LEVEL, "unknown_field", N_("%(field)s is not a field of this form."),
                                              {"field": path}))
                continue
            entries.append((prefix, parts, raw if isinstance(raw, str) else ""))
        renumber = {k: {old: new for new, old in enumerate(sorted(v))} for k, v in rows_seen.items()}
        data: dict[str, Any] = {}
        result = Submission(data=data)
        nonempty: set[str] = set()
        for prefix, parts, raw in entries:
            new_parts = self.renumbered(parts, renumber)
            path = join_path(*new_parts)
            if prefix == "r":
                _ensure_row(data, self.definition, new_parts)
                continue
            text = raw.strip()
            spec = self.definition.spec_at(new_parts)
            assert spec is not None
            if text:
                nonempty.add(_row_of(self.definition, new_parts))
            if prefix == "exc":
                if text:
                    result.exceptions[path] = text
                continue
            if prefix == "ovr":
                if text:
                    result.overrides[path] = text
                continue
            if prefix == "cap":
                if text:
                    result.captures[path] = text
                continue
            if len(new_parts) > 1:
                _ensure_row(data, self.definition, new_parts[:-1])
            if prefix == "f" and spec.fixed and text and self.preset_changed(spec, new_parts, text):
                self.errors.append(FieldError(path, "preset_changed",
                                              N_("This value is set by the form and cannot be changed.")))
                continue
            if prefix == "f" and (spec.equipment_tag is not None or spec.calculated is not None or spec.fixed):
                continue  # display-only copies: the server takes these values itself
            result.raw[path] = raw
            if not text:
                continue
            value = self.coerce(spec, path, text)
            if value is not None:
                _put(data, new_parts, value)
        self.fill_booleans(self.definition.fields, data, "")
        self.drop_empty_rows(self.definition.fields, data, "", nonempty, result)
        fill_presets(self.definition.fields, data)  # rows carry their preset columns (never posted)
        return replace(result, errors=self.errors)

    def preset(self, spec: FieldSpec, parts: list[Any]) -> Any:
        """The value the form sets for the fixed field at ``parts`` (its row's preset, else its default)."""
        if len(parts) >= 3 and isinstance(parts[-2], int):
            rows = self.definition.spec_at(parts[:-2])
            if rows is not None and parts[-2] < len(rows.default_rows):
                return rows.default_rows[parts[-2]].get(spec.name, spec.schema.get("default"))
        return spec.schema.get("default")

    def preset_changed(self, spec: FieldSpec, parts: list[Any], text: str) -> bool:
        """Whether a posted copy of a fixed value differs from the value the form sets (a tampered page)."""
        preset = self.preset(spec, parts)
        if spec.type in ("number", "integer"):
            number = parse_decimal(text)
            return number is None or not isinstance(preset, (int, float, Decimal)) or isinstance(preset, bool) \
                or number != Decimal(repr(preset) if isinstance(preset, float) else preset)
        return display(preset) != text

    def resolve(self, parts: list[Any], rows_seen: dict[tuple[Any, ...], set[int]], marker: bool) -> FieldSpec | None:
        """The field ``parts`` names (a row, for an ``r:`` marker), noting every row number on the way; or None."""
        spec = self.definition.spec_at(parts)
        wanted = "rows" if marker else "scalar"
        if spec is None or spec.kind != wanted or (marker and not isinstance(parts[-1], int)) or \
                any(isinstance(p, str) and p == ROW_PLACEHOLDER for p in parts):
            return None
        for i, part in enumerate(parts):
            if isinstance(part, int):
                rows_seen.setdefault(tuple(parts[:i]), set()).add(part)
        return spec

    @staticmethod
    def renumbered(parts: list[Any], renumber: dict[tuple[Any, ...], dict[int, int]]) -> list[Any]:
        result = list(parts)
        for i, part in enumerate(parts):
            if isinstance(part, int):
                result[i] = renumber.get(tuple(parts[:i]), {}).get(part, part)
        return result

    def coerce(self, spec: FieldSpec, path: str, text: str) -> Any:
        if spec.options:
            for option in spec.options:
                if display(option.value) == text or str(option.value) == text:
                    return option.value
            self.errors.append(FieldError(path, "enum", N_("Choose one of: %(choices)s."),
                                          {"choices": ", ".join(o.title for o in spec.options)}))
            return None
        if spec.type == "boolean":
            if text.lower() in ("on", "true", "1", "yes"):
                return True
            if text.lower() in ("off", "false", "0", "no"):
                return False
            self.errors.append(FieldError(path, "type", N_("Enter %(kind)s."), {"kind": Term(N_("yes or no"))}))
            return None
        if spec.type == "integer":
            number = parse_decimal(text)
            if number is None or number != number.to_integral_value() or "." in text:
                self.errors.append(FieldError(path, "type", N_("Enter %(kind)s."), {"kind": Term(N_("a whole number"))}))
                return None
            return int(number)
        if spec.type == "number":
            number = parse_decimal(text)
            if number is None:
                if "," in text and parse_decimal(text.replace(",", ".", 1)) is not None:
                    self.errors.append(FieldError(path, "decimal_comma", N_("Use a point for decimals (10.5, not 10,5).")))
                else:
                    self.errors.append(FieldError(path, "type", N_("Enter %(kind)s."), {"kind": Term(N_("a number"))}))
                return None
            return number
        return text

    def fill_booleans(self, specs: tuple[FieldSpec, ...], data: dict[str, Any], prefix: str) -> None:
        """An unticked checkbox is not posted: it means 'no' (at the top and in every row shown)."""
        for spec in specs:
            if spec.kind == "scalar":
                if spec.type == "boolean" and not spec.readonly and not spec.options and spec.name not in data:
                    data[spec.name] = False
            elif spec.kind == "group" and isinstance(data.get(spec.name), dict):
                self.fill_booleans(spec.children, data[spec.name], join_path(prefix, spec.name))
            elif spec.kind == "rows" and isinstance(data.get(spec.name), list):
                for index, row in enumerate(data[spec.name]):
                    self.fill_booleans(spec.children, row, join_path(prefix, spec.name, index))

    def drop_empty_rows(self, specs: tuple[FieldSpec, ...], data: dict[str, Any], prefix: str, nonempty: set[str],
                        result: Submission) -> None:
        """A row of a table that may grow, in which nothing was typed or chosen, is not a row."""
        for spec in specs:
            inner = data.get(spec.name)
            path = join_path(prefix, spec.name)
            if spec.kind == "group" and isinstance(inner, dict):
                self.drop_empty_rows(spec.children, inner, path, nonempty, result)
            if spec.kind != "rows" or not isinstance(inner, list):
                continue
            keep_fixed = len(spec.default_rows)
            for index in range(len(inner) - 1, -1, -1):
                row_path = join_path(path, index)
                if index < keep_fixed or row_path in nonempty or any(
                        isinstance(v, bool) and v for v in inner[index].values()):
                    continue
                _remove_row(result, data, split_path(row_path))
            for index, row in enumerate(inner):
                self.drop_empty_rows(spec.children, row, join_path(path, index), nonempty, result)


def _items(form: Mapping[str, Any]) -> list[tuple[str, Any]]:
    getlist = getattr(form, "getlist", None)
    if getlist is not None:
        return [(key, value) for key in form for value in getlist(key)[:1]]
    return list(form.items())


def _row_of(definition: FormDefinition, parts: list[Any]) -> str:
    """Path of the innermost row holding ``parts``, or '' at the top."""
    for i in range(len(parts) - 1, -1, -1):
        if isinstance(parts[i], int):
            return join_path(*parts[: i + 1])
    return ""


def _ensure_row(data: dict[str, Any], definition: FormDefinition, parts: list[Any]) -> None:
    """Make sure the containers on ``parts`` exist (rows as lists padded with empty rows)."""
    node: Any = data
    for i, part in enumerate(parts):
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        if isinstance(part, int):
            while len(node) <= part:
                node.append({})
            node = node[part]
            continue
        spec = definition.spec_at(parts[: i + 1])
        if spec is None or spec.kind == "scalar":
            return
        if spec.kind == "rows":
            node = node.setdefault(part, [])
            if nxt is None:
                return
        else:
            node = node.setdefault(part, {})


def _put(data: dict[str, Any], parts: list[Any], value: Any) -> None:
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(part, int):
            while len(node) <= part:
                node.append({})
            node = node[part]
        else:
            nxt = parts[i + 1]
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    node[parts[-1]] = value


def _remove_row(submission: Submission, data: dict[str, Any], row_parts: list[Any]) -> None:
    """Remove one row from the data and renumber every side input of the rows after it."""
    node: Any = data
    for part in row_parts[:-2]:
        node = node[part]
    rows = node.get(row_parts[-2]) if isinstance(node, dict) else None
    index = row_parts[-1]
    if not isinstance(rows, list) or index >= len(rows):
        return
    del rows[index]
    prefix = join_path(*row_parts[:-1])
    for mapping in (submission.exceptions, submission.overrides, submission.raw, submission.captures):
        moved = {}
        for path in list(mapping):
            parts = split_path(path)
            if join_path(*parts[: len(row_parts) - 1]) != prefix or len(parts) < len(row_parts):
                continue
            number = parts[len(row_parts) - 1]
            if not isinstance(number, int) or number < index:
                continue
            value = mapping.pop(path)
            if number > index:
                parts[len(row_parts) - 1] = number - 1
                moved[join_path(*parts)] = value
        mapping.update(moved)


def check_html_submission(schema: dict[str, Any], ui_schema: dict[str, Any] | None, submission: Submission, *,
                          captured: Mapping[str, CapturedValue] | None = None, entered_by: str | None = None,
                          verified_by: str | None = None) -> FormResult:
    """Validate a parsed HTML submission: the errors of reading it and of validating it together.

    A field whose text could not be read keeps that error only (not also "required"); every
    other field is validated as usual. Raises FormInvalid (``.submission`` set) or returns the result."""
    from forms.validation import ordered

    definition = load_definition(schema, ui_schema)
    unreadable = {e.field for e in submission.errors}
    try:
        result = validate_submission(schema, ui_schema, submission.data, exceptions=submission.exceptions,
                                     overrides=submission.overrides, captured=captured, entered_by=entered_by,
                                     verified_by=verified_by)
    except FormInvalid as exc:
        errors = list(submission.errors) + [e for e in exc.field_errors if e.field not in unreadable]
        invalid = FormInvalid(ordered(definition, errors))
        invalid.submission = submission
        raise invalid from None
    if submission.errors:
        invalid = FormInvalid(ordered(definition, list(submission.errors)))
        invalid.submission = submission
        raise invalid
    return result


# ---------------------------------------------------------------- rendering
def render_form(
    schema: dict[str, Any],
    ui_schema: dict[str, Any] | None = None,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormInvalid | list[FieldError] | None = None,
    captured: Mapping[str, CapturedValue] | None = None,
    exceptions: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    calculated: Mapping[str, Any] | None = None,
    readonly: bool = False,
    gettext: Gettext | None = None,
    id_prefix: str = "",
    language: str | None = None,
    submission: Submission | None = None,
    capture_buttons: bool = False,
) -> Markup:
    """Render the form's fields (not the <form> element or buttons) as accessible HTML.

    values       the data (nested: groups as objects, repeating groups as lists of rows)
    submission   a parsed submission shown again: its data, the text as typed, comments, overrides
    captured     field path -> CapturedValue (top-level fields and rows)
    language     the reader's language: labels, help and choices from x-gmp-i18n, else the titles
    capture_buttons  a "Capture" button beside each equipment field of a row (the page handles gmp_capture)
    """
    definition = load_definition(schema, ui_schema)
    _ = gettext or _identity
    if submission is not None:
        values = submission.data if values is None else values
        exceptions = submission.exceptions if exceptions is None else exceptions
        overrides = submission.overrides if overrides is None else overrides
    renderer = _Renderer(definition, _, language, id_prefix, readonly, values or {}, captured or {},
                         exceptions or {}, overrides or {}, submission.raw if submission else {},
                         submission.captures if submission else {}, capture_buttons)
    field_errors = list(errors.field_errors if isinstance(errors, FormInvalid) else errors or [])
    for error in field_errors:
        renderer.by_field.setdefault(error.field, []).append(error.translated(_, renderer.label))
        renderer.codes.setdefault(error.field, []).append(error.code)
    if calculated is None:
        calculated = preview_calculations(definition, values or {}, captured or {})
    renderer.calculated = dict(calculated)
    views = renderer.objects(definition.fields, values or {}, "", [])
    summary = [{"label": renderer.label(e.field) if e.field != FORM_LEVEL else "",
                "message": e.translated(_, renderer.label), "anchor": renderer.anchor(e.field)}
               for e in field_errors]
    template = environment().get_template("form.html")
    return Markup(template.render(fields=views, summary=summary, readonly=readonly,
                                  title=definition.label(language), description=definition.text("description", language),
                                  _=_, id_prefix=id_prefix))


class _Renderer:
    def __init__(self, definition: FormDefinition, gettext: Gettext, language: str | None, id_prefix: str,
                 readonly: bool, values: Mapping[str, Any], captured: Mapping[str, CapturedValue],
                 exceptions: Mapping[str, str], overrides: Mapping[str, str], raw: Mapping[str, str],
                 captures: Mapping[str, str], capture_buttons: bool) -> None:
        self.definition, self._, self.language, self.id_prefix = definition, gettext, language, id_prefix
        self.readonly, self.values, self.captured = readonly, values, captured
        self.exceptions, self.overrides, self.raw, self.captures = exceptions, overrides, raw, captures
        self.capture_buttons = capture_buttons
        self.by_field: dict[str, list[str]] = {}
        self.codes: dict[str, list[str]] = {}
        self.calculated: dict[str, Any] = {}
        self.placed: set[str] = set()

    def label(self, path: str) -> str:
        return self.definition.label_of(path, self.language, lambda n: self._("row %(number)s") % {"number": n})

    def element_id(self, path: str) -> str:
        return f"{self.id_prefix}f-{path.replace('.', '-')}"

    def anchor(self, path: str) -> str:
        if path == FORM_LEVEL:
            return ""
        spec = self.definition.spec_at(path)
        return self.element_id(path) + ("-field" if spec is not None and spec.kind == "scalar" else "")

    def objects(self, specs: tuple[FieldSpec, ...], values: Mapping[str, Any], prefix: str,
                chain: list[Mapping[str, Any]], template: bool = False) -> list[dict[str, Any]]:
        views = []
        for spec in specs:
            path = join_path(prefix, spec.name)
            if spec.kind == "scalar":
                views.append(self.scalar(spec, path, values, chain, template))
            elif spec.kind == "group":
                inner = values.get(spec.name) if isinstance(values.get(spec.name), Mapping) else {}
                views.append({"kind": "group", "spec": spec, "id": self.element_id(path), "path": path,
                              "label": spec.label(self.language), "help": spec.text("help", self.language),
                              "errors": self.errors_at(path),
                              "children": self.objects(spec.children, inner, path, [values, *chain], template)})
            else:
                views.append(self.rows(spec, path, values, chain, template))
        return views

    def errors_at(self, path: str) -> list[str]:
        self.placed.add(path)
        return self.by_field.get(path, [])

    def rows(self, spec: FieldSpec, path: str, values: Mapping[str, Any], chain: list[Mapping[str, Any]],
             template: bool) -> dict[str, Any]:
        given = values.get(spec.name)
        rows = list(given) if isinstance(given, list) else []
        if not rows and not template:
            count = max(len(spec.default_rows), spec.min_rows, 1)
            rows = [{} for _ in range(count)]
        row_views = []
        for index, row in enumerate(rows if not template else []):
            row_path = join_path(path, index)
            row_values = row if isinstance(row, Mapping) else {}
            preset = spec.default_rows[index] if index < len(spec.default_rows) else {}
            row_views.append({
                "index": index, "number": index + 1, "path": row_path, "id": self.element_id(row_path),
                "title": self.row_title(spec, str(index + 1)), "errors": self.errors_at(row_path),
                "removable": spec.removable and not self.readonly and index >= len(spec.default_rows),
                "children": self.objects(spec.children, _with_preset(row_values, preset), row_path,
                                         [values, *chain]),
            })
        template_path = join_path(path, INDEX)
        template_view = None
        if spec.addable and not self.readonly:
            template_view = {"index": INDEX, "number": NUMBER, "path": template_path, "id": self.element_id(template_path),
                             "title": self.row_title(spec, NUMBER), "errors": [], "removable": True,
                             "children": self.objects(spec.children, {}, template_path, [values, *chain], template=True)}
        return {"kind": "rows", "spec": spec, "id": self.element_id(path), "path": path,
                "label": spec.label(self.language), "help": spec.text("help", self.language),
                "errors": self.errors_at(path), "rows": row_views, "template": template_view,
                "add_label": spec.text("addLabel", self.language) or self._("Add a row"),
                "row_title": self.row_title(spec, "%(number)s"),
                "addable": spec.addable and not self.readonly, "min_rows": spec.min_rows, "max_rows": spec.max_rows,
                "columns": [c.label(self.language) for c in spec.children]}

    def formula(self, spec: FieldSpec, path: str) -> str:
        """The calculation as a person reads it: field labels instead of field names."""
        import re

        assert spec.calculated is not None
        names = spec.calculated.names

        def label(match: "re.Match[str]") -> str:
            name = match.group(0)
            return self.name_label(path, name) if name in names else name

        return re.sub(r"[A-Za-z_][A-Za-z0-9_]*", label, spec.calculated.source)

    def name_label(self, path: str, name: str) -> str:
        """The label of the field a calculation at ``path`` calls ``name``."""
        found = self.definition.spec_at(self.resolve_name(path, name))
        return found.label(self.language) if found is not None else name

    def resolve_name(self, path: str, name: str) -> str:
        """Path of the field a calculation at ``path`` names: its own row or group first, then outwards."""
        return resolve_name(self.definition, path, name)

    def row_title(self, spec: FieldSpec, number: str) -> str:
        pattern = spec.text("rowTitle", self.language)
        if not pattern or "%(number)s" not in pattern:
            pattern = self._("Row %(number)s")
        return pattern.replace("%(number)s", number)

    def scalar(self, spec: FieldSpec, path: str, values: Mapping[str, Any], chain: list[Mapping[str, Any]],
               template: bool) -> dict[str, Any]:
        errors = [] if template else self.errors_at(path)
        codes = self.codes.get(path, [])
        value = values.get(spec.name)
        if spec.fixed:
            value = value if value is not None else spec.schema.get("default")
            number = to_decimal(value) if spec.type == "number" and spec.decimals is not None else None
            if number is not None and decimal_places(number) <= spec.decimals:
                value = quantize(number, spec.decimals)  # shown as it is recorded: 50.000 kg
        capture = None if template else self.captured.get(path)
        capture_text = ""
        if capture is not None:
            number = reading_decimal(capture.value) if spec.type == "number" else None
            if number is not None and spec.decimals is not None:
                number = quantize(number, spec.decimals)
            capture_text = display(number) if number is not None else display(capture.value)
        if path in self.raw and not template:
            text = self.raw[path]
        elif spec.equipment_tag is not None and path in self.overrides:
            text = display(value)
        else:
            text = display(value)
        limits = spec.limits
        limits_text = None
        low = high = None
        if limits is not None:
            scope = ChainMap(dict(values), *chain)
            try:
                low, high = limits.bounds(scope)
                limits_text = Limits(low, high).describe()
            except ExpressionError:
                names = sorted(limits.names)
                limits_text = self._("calculated from %(fields)s") % {
                    "fields": ", ".join(self.name_label(path, n) for n in names)}
            if spec.unit and limits_text and (low is not None or high is not None):
                limits_text = f"{limits_text} {spec.unit}"
        calculated_value = None
        calc_for = ""
        live = {}  # what the browser needs to preview calculations and calculated limits while typing
        names = set(spec.calculated.names if spec.calculated else ()) | set(limits.names if limits else ())
        mapping: dict[str, Any] = {n: self.element_id(self.resolve_name(path, n)) for n in sorted(names)}
        if spec.calculated is not None:
            for group, column in sorted(spec.calculated.columns):
                mapping[f"{group}.{column}"] = {"rows": self.element_id(self.resolve_name(path, group)), "column": column}
            for group in sorted(spec.calculated.counted):
                mapping[group] = {"rows": self.element_id(self.resolve_name(path, group))}
        if mapping:
            live["names"] = json.dumps(mapping)
        if spec.calculated is not None:
            live["expression"] = spec.calculated.source
        if limits is not None and not limits.static:
            live["low"] = getattr(limits.min, "source", "" if limits.min is None else display(limits.min))
            live["high"] = getattr(limits.max, "source", "" if limits.max is None else display(limits.max))
        if spec.calculated is not None:
            calculated_value = None if template else self.calculated.get(path)
            calc_for = " ".join(self.element_id(self.resolve_name(path, n)) for n in sorted(spec.calculated.names))
        element = self.element_id(path)
        described = []
        help_text = spec.text("help", self.language)
        if help_text:
            described.append(element + "-help")
        if spec.unit:
            described.append(element + "-unit")
        if limits_text:
            described.append(element + "-limits")
        if spec.equipment_tag:
            described.append(element + "-source")
        if spec.critical:
            described.append(element + "-critical")
        if errors:
            described.append(element + "-error")
        options = [{"value": display(o.value), "label": o.label(self.language),
                    "selected": value is not None and display(o.value) == display(value)} for o in spec.options]
        exception = "" if template else self.exceptions.get(path, "")
        override = "" if template else self.overrides.get(path, "")
        return {
            "kind": "scalar", "spec": spec, "path": path, "id": element, "label": spec.label(self.language),
            "help": help_text, "placeholder": spec.text("placeholder", self.language),
            "value": value, "text": text, "errors": errors, "capture": capture, "capture_text": capture_text,
            "reading": self.captures.get(path, "") if not template else "",
            "calculated_value": calculated_value, "calc_for": calc_for, "exception": exception, "live": live,
            "formula": self.formula(spec, path) if spec.calculated is not None else "", "override": override,
            "limits": limits_text, "low": display(low) if low is not None else "",
            "high": display(high) if high is not None else "", "options": options,
            "out_of_limits": "out_of_limits" in codes or bool(exception),
            "described": " ".join(described), "max_length": spec.max_length, "comment_max": COMMENT_MAX_LENGTH,
            "in_row": any(isinstance(p, int) for p in split_path(path)) or INDEX in path,
            "capture_button": self.capture_buttons and spec.equipment_tag is not None and not self.readonly
                              and (INDEX in path or any(isinstance(p, int) for p in split_path(path))),
        }


def _with_preset(row: Mapping[str, Any], preset: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(preset)
    merged.update({k: v for k, v in row.items() if v is not None})
    return merged


def preview_calculations(definition: FormDefinition, values: Mapping[str, Any],
                         captured: Mapping[str, CapturedValue]) -> dict[str, Any]:
    """Calculated values (by path) for display from whatever has been entered or captured so far."""
    result: dict[str, Any] = {}

    def walk(specs: tuple[FieldSpec, ...], node: Mapping[str, Any], prefix: str,
             chain: list[Mapping[str, Any]]) -> dict[str, Any]:
        known: dict[str, Any] = {k: v for k, v in node.items() if v is not None}
        for spec in specs:
            path = join_path(prefix, spec.name)
            if spec.kind == "scalar" and path in captured:
                known.setdefault(spec.name, captured[path].value)
        scope = ChainMap(known, *chain)
        order = calculation_order(specs)
        later = after_rows(order)

        def calculate(which: list[FieldSpec]) -> None:
            for spec in which:
                assert spec.calculated is not None
                try:
                    known[spec.name] = result[join_path(prefix, spec.name)] = calculated_value(
                        spec.calculated.evaluate(scope), spec)
                except ExpressionError:
                    continue

        calculate([s for s in order if s.name not in later])
        for spec in specs:
            path = join_path(prefix, spec.name)
            inner = node.get(spec.name)
            if spec.kind == "group" and isinstance(inner, Mapping):
                known[spec.name] = walk(spec.children, inner, path, [known, *chain])
            elif spec.kind == "rows" and isinstance(inner, list):
                known[spec.name] = [walk(spec.children, row, join_path(path, index), [known, *chain])
                                    for index, row in enumerate(inner) if isinstance(row, Mapping)]
        calculate([s for s in order if s.name in later])
        return known

    walk(definition.fields, values, "", [])
    return result

