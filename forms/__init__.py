"""Task forms: JSON Schema + UI schema, GMP field behaviour, server-side validation and rendering.

Rule: forms/ imports only core/ (and jsonschema, Jinja2); never Flask, signatures or engine.

    validate_submission(schema, ui_schema, data, exceptions=..., captured=..., overrides=...,
                        entered_by=..., verified_by=...) -> FormResult   # raises FormInvalid
    render_form(schema, ui_schema, values=..., errors=..., captured=..., gettext=...) -> Markup
    parse_html_submission(schema, ui_schema, request_form) -> Submission   # never raises for typed text
    check_html_submission(schema, ui_schema, submission, captured=...) -> FormResult  # FormInvalid with all errors
    correct_value(...) -> Correction;  current_view(...) -> {field: FieldHistory}
    load_definition(schema, ui_schema) -> FormDefinition              # raises FormDefinitionError
    bind_rows(schema, ui_schema, instance_data) -> (schema, ui_schema)  # x-gmp-rows-from rows preset
    with_presets(schema, ui_schema, data) -> data                     # preset rows' fixed columns filled in

The GMP keywords (x-gmp-unit, x-gmp-limits, x-gmp-equipment-tag, x-gmp-critical,
x-gmp-calculated, x-gmp-decimals, x-gmp-i18n, x-gmp-rows-from), repeating groups, field paths and exact
decimals are documented in docs/forms.md.
"""
from forms.corrections import CORRECTION_MEANING, Correction, FieldHistory, correct_value, current_view
from forms.errors import FORM_LEVEL, CorrectionInvalid, ExpressionError, FieldError, FormDefinitionError, FormError, FormInvalid
from forms.html import Submission, check_html_submission, parse_html_submission, render_form
from forms.keywords import FieldSpec, FormDefinition, Limits, RowsSource, load_definition
from forms.rows_from import RowsSourceError, bind_rows, has_rows_from, with_presets
from forms.validation import CapturedValue, FieldRecord, FormResult, Source, validate_submission

__all__ = [
    "CORRECTION_MEANING", "FORM_LEVEL", "CapturedValue", "Correction", "CorrectionInvalid", "ExpressionError",
    "FieldError", "FieldHistory", "FieldRecord", "FieldSpec", "FormDefinition", "FormDefinitionError", "FormError",
    "FormInvalid", "FormResult", "Limits", "RowsSource", "RowsSourceError", "Source", "Submission", "correct_value", "current_view",
    "bind_rows", "has_rows_from", "load_definition", "parse_html_submission", "check_html_submission", "render_form", "validate_submission",
    "with_presets",
]
