"""Stored codes and diagram names shown in the reader's language (web/codes.py, web/labels.py)."""
from __future__ import annotations

import pytest
from flask_babel import force_locale

from tests.engine.test_drafts import IMPORTED

pytestmark = pytest.mark.req("URS-UX-004", "CN-6")


def test_codes_read_in_both_languages_and_unknown_codes_stay_as_they_are(app):
    from web.codes import CODES, code_label

    with app.test_request_context():
        assert code_label("version_status", "submitted") == "submitted for approval"
        assert code_label("action", "definition_version.approved") == "Process version: approved"
        assert code_label("action", "moon.rose") == "moon.rose" and code_label("source", "psychic") == "psychic"
        assert code_label("source", None) == "—"
        with force_locale("zh"):
            assert code_label("version_status", "draft") == "草稿"
            assert code_label("instance_status", "running") == "运行中"
            assert code_label("source", "manual_override") == "人工覆盖设备值"
            assert code_label("action", "task.completed") == "任务：已完成"
            assert code_label("action", "instance.exception_recorded") == "流程实例：已记录异常"  # 异常, not 偏差
            untranslated = [(kind, code) for kind, table in CODES.items() for code in table
                            if code_label(kind, code) == table[code]]
    assert untranslated == []


def test_diagram_translations_are_read_from_the_i18n_extension(app):
    from web.labels import translations_in

    found = translations_in({"two_pools.bpmn": (IMPORTED / "two_pools.bpmn").read_bytes(), "forms/x.json": b"{}",
                             "broken.bpmn": b"<not xml"})
    assert found == {"material_receipt": {"zh": "物料接收"}, "receive_goods": {"zh": "接收货物"}}


def test_element_labels_fall_back_to_the_name(app, db):
    from web.labels import element_label

    with app.test_request_context(), db.session() as session:
        assert element_label(session, None, "x", "Weigh") == "Weigh"
        assert element_label(session, 999, "x", "Weigh", language="zh") == "Weigh"  # no such version
        assert element_label(session, 1, "", "Weigh", language="zh") == "Weigh"


def test_a_lane_that_is_no_role_reads_in_both_languages(app, db):
    from web.labels import role_labels

    with app.test_request_context(), db.session() as session:
        assert role_labels(session, "zh")["trainee"] == "受训人" and role_labels(session, "en")["trainee"] == "Trainee"
