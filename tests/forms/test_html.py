"""Server-side rendering to accessible HTML, and reading the posted form back."""
from __future__ import annotations

import re

import pytest

from forms import FormInvalid, check_html_submission, parse_html_submission, render_form, validate_submission
from tests.forms.conftest import capture

pytestmark = pytest.mark.req("URS-FRM-008")


def test_every_input_has_a_label_and_descriptions(schema, ui):
    html = str(render_form(schema, ui, captured=capture(12.1), values={"lot": "L-001", "tare": 2}))
    for field_id in re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', html):
        assert f'for="{field_id}"' in html, field_id
    assert 'aria-describedby="f-tare-unit f-tare-critical"' in html
    assert 'id="f-tare-unit">kg<' in html
    assert 'id="f-net-limits">Limits: <span class="gmp-limits-text" data-unit="kg">9.5 – 10.5 kg</span>' in html
    assert "Captured from equipment <code>BAL-01.gross</code>" in html
    assert 'id="f-gross" readonly aria-readonly="true" value="12.1"' in html
    assert '<output id="f-net" class="gmp-output" for="f-gross f-tare"' in html and ">10.1</output>" in html
    assert "Material lot code" in html and "Free text" in html
    assert html.index('data-field="lot"') < html.index('data-field="gross"') < html.index('data-field="net"')


def test_errors_sit_next_to_their_field(schema, ui):
    with pytest.raises(FormInvalid) as info:
        validate_submission(schema, ui, {"lot": "L1", "tare": 2.0, "ghost": 1}, captured=capture(13.0))
    html = str(render_form(schema, ui, values={"lot": "L1", "tare": 2.0}, errors=info.value, captured=capture(13.0),
                           gettext=lambda s: s.replace("Enter at least", "至少输入")))
    assert 'aria-invalid="true"' in html and 'id="f-lot-error" role="alert"><p>至少输入 3 characters.' in html
    assert '<details class="gmp-exception" open>' in html
    assert 'role="alert" id="form-errors"' in html and "ghost is not a field of this form." in html


def test_values_are_escaped_and_readonly_mode(schema, ui):
    html = str(render_form(schema, ui, values={"lot": '<script>alert(1)</script>', "clean": True, "status": "hold"},
                           readonly=True))
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "gmp-exception" not in html and "gmp-override" not in html
    assert 'value="on" checked disabled' in html and '<option value="hold" selected>' in html
    assert "To be captured from equipment" in html


def test_widgets(schema, ui):
    schema["properties"]["day"] = {"type": "string", "format": "date"}
    schema["properties"]["choice"] = {"type": "string", "enum": ["a", "b"]}
    ui["choice"] = {"ui:widget": "radio"}
    ui["lot"] = {"ui:placeholder": "LOT", "ui:autofocus": True}
    html = str(render_form(schema, ui, values={"choice": "b"}, captured=capture(stable=False)))
    assert 'type="date"' in html and 'name="f:choice" value="b" checked' in html
    assert 'placeholder="LOT"' in html and " autofocus" in html and "not stable" in html
    assert '<textarea id="f-note" name="f:note" rows="3" data-max-length="20"' in html  # no silent cut-off


def test_parse_html_submission_types_values(schema, ui):
    posted = {"csrf_token": "x", "f:lot": " L-001 ", "f:tare": "2.50", "f:gross": "99", "f:net": "1",
              "f:status": "", "exc:net": "comment", "ovr:gross": "offline", "ovv:gross": "12"}
    submission = parse_html_submission(schema, ui, posted)
    assert submission.data == {"lot": "L-001", "tare": 2.5, "gross": 12, "clean": False}
    assert submission.exceptions == {"net": "comment"} and submission.overrides == {"gross": "offline"}
    schema["properties"]["n"] = {"type": "integer"}
    assert parse_html_submission(schema, ui, {"f:n": "7", "f:clean": "on"}).data == {"n": 7, "clean": True}


@pytest.mark.parametrize("posted,field,text", [
    ({"f:tare": "two"}, "tare", "Enter a number."),
    ({"f:tare": "nan"}, "tare", "Enter a number."),
    ({"f:tare": "1e3"}, "tare", "Enter a number."),
    ({"f:tare": "2,5"}, "tare", "Use a point for decimals (10.5, not 10,5)."),
    ({"f:clean": "perhaps"}, "clean", "Enter yes or no."),
    ({"f:status": "lost"}, "status", "Choose one of: ok, hold."),
    ({"f:ghost": "1"}, "__form__", "ghost is not a field of this form."),
    ({"f:lot.x": "1"}, "__form__", "lot.x is not a field of this form."),
])
def test_parse_html_submission_errors(schema, ui, posted, field, text):
    submission = parse_html_submission(schema, ui, {**posted, "f:lot": "L-007"})
    assert [e.message for e in submission.errors if e.field == field] == [text]
    assert submission.data["lot"] == "L-007"  # a bad value elsewhere never clears another field
    with pytest.raises(FormInvalid, match="error") as info:
        check_html_submission(schema, ui, submission, captured=capture())
    assert info.value.errors[field] == [text] and info.value.submission is submission


def test_parse_integer_error(schema, ui):
    schema["properties"]["n"] = {"type": "integer"}
    submission = parse_html_submission(schema, ui, {"f:n": "7.5"})
    assert submission.errors[0].message == "Enter a whole number." and "n" not in submission.data
    assert submission.raw["n"] == "7.5"
