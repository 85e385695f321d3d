"""Refusals and check problems worded for the person in front of the screen (web/wording.py),
raised by the real services, in English and Chinese."""
from __future__ import annotations

import pytest

from signatures import testing
from tests.web.test_operator import form, plant, task_id  # noqa: F401 - the fixture

pytestmark = pytest.mark.req("URS-UX-001", "CN-6")


def zh(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/language", data={"csrf_token": "walk-token", "language": "zh", "next": "/"})


def test_a_second_persons_mistake_is_worded_about_them_in_both_languages(plant, db):  # noqa: F811
    client, people = plant
    alice = people["alice"]
    tid = task_id(client)
    data = form(people, sig_password=alice.password, sig_totp=testing.next_totp(db, alice), sig2_user_id="bob",
                sig2_password="not-bobs", sig2_totp=testing.next_totp(db, people["bob"]))
    page = client.post(f"/tasks/{tid}", data=data).get_data(as_text=True)
    assert "The user ID, password or code of the second person (bob) is not right." in page
    assert 'value="L-001"' in page  # the entries stay
    zh(client)
    data.update(sig_totp=testing.next_totp(db, alice), sig2_totp=testing.next_totp(db, people["bob"]))
    page = client.post(f"/tasks/{tid}", data=data).get_data(as_text=True)
    assert "第二人（bob）的用户名、密码或验证码不正确。" in page


def test_the_wrong_role_and_the_missing_verifier_are_worded_for_the_operator(plant, db, app):  # noqa: F811
    from tests.web.test_access_matrix import open_session

    client, people = plant
    tid = task_id(client)
    quinn = people["quinn"]  # QA: a business role, but not the lane's
    other = app.test_client()
    open_session(db, other, quinn)
    refused = other.post(f"/tasks/{tid}", data=form(people, sig_password=quinn.password,
                                                     sig_totp=testing.next_totp(db, quinn)))
    assert refused.status_code == 403
    assert "This step is done by the role operator, which you do not hold." in refused.get_data(as_text=True)
    alice = people["alice"]
    missing = client.post(f"/tasks/{tid}", data=form(people, sig_password=alice.password,
                                                      sig_totp=testing.next_totp(db, alice)))
    assert "This step must be verified by a second person" in missing.get_data(as_text=True)


@pytest.mark.req("URS-UX-001", "URS-UX-002", "P11-10j")
def test_a_missing_statement_sends_the_user_to_it_with_the_entries(app, db, settings, frozen_clock):
    from signatures import kdf
    from tests.web.test_access_matrix import open_session
    from tests.web.test_operator import deploy_and_start

    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
        olga = testing.enrolled_user(db, settings, admin, "olga", "Olga Operator", ["operator"], accountability=False)
    frozen_clock.advance(seconds=31)
    deploy_and_start(db, settings, quinn, quentin)
    client = app.test_client()
    open_session(db, client, olga)
    tid = task_id(client)
    detour = client.post(f"/tasks/{tid}", data={"csrf_token": "walk-token", "f:lot": "L-77", "exc:net": "why",
                                                "sig_password": olga.password, "sig_totp": "000000"})
    html = detour.get_data(as_text=True)
    assert detour.status_code == 200 and 'data-testid="accountability-detour"' in html
    assert 'name="carry.f:lot" value="L-77"' in html and 'name="carry.exc:net" value="why"' in html
    assert olga.password not in html and "carry.sig_" not in html  # signature components never travel
    wrong = client.post("/accountability", data={"csrf_token": "walk-token", "resume": f"/tasks/{tid}/resume",
                                                  "carry.f:lot": "L-77", "sig_password": "wrong",
                                                  "sig_totp": testing.next_totp(db, olga)})
    assert wrong.status_code == 422 and 'name="carry.f:lot" value="L-77"' in wrong.get_data(as_text=True)
    signed = client.post("/accountability", data={"csrf_token": "walk-token", "resume": f"/tasks/{tid}/resume",
                                                   "carry.f:lot": "L-77", "sig_password": olga.password,
                                                   "sig_totp": testing.next_totp(db, olga)})
    back = signed.get_data(as_text=True)
    assert f'action="/tasks/{tid}/resume"' in back and 'data-autosubmit="true"' in back
    resumed = client.post(f"/tasks/{tid}/resume", data={"csrf_token": "walk-token", "carry.f:lot": "L-77"})
    assert 'value="L-77"' in resumed.get_data(as_text=True)
    evil = client.post("/accountability", data={"csrf_token": "walk-token", "resume": "https://evil.example/x/resume",
                                                 "next": "//evil.example/"})
    assert "evil.example" not in evil.get_data(as_text=True)  # never a way back to another site


def test_approving_ones_own_version_and_starting_a_draft_are_worded_for_qa(app, db, settings, frozen_clock):
    import io

    from signatures import kdf
    from tests.web.test_access_matrix import open_session
    from tests.web.test_operator import PROCESS

    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
    frozen_clock.advance(seconds=31)
    client = app.test_client()
    open_session(db, client, quinn)
    files = [(io.BytesIO((PROCESS / name).read_bytes()), name.rsplit("/", 1)[-1])
             for name in ("dispense.bpmn", "forms/weigh.json", "forms/weigh.ui.json")]
    client.post("/library/upload", data={"csrf_token": "walk-token", "reason": "v1", "files": files},
                content_type="multipart/form-data")
    own = client.post("/library/versions/1/approve", data={"csrf_token": "walk-token", "sig_password": quinn.password,
                                                           "sig_totp": testing.next_totp(db, quinn)})
    assert "You made this version, so you may not approve it: a second QA user must." in own.get_data(as_text=True)
    draft = client.post("/library/dispense/start", data={"csrf_token": "walk-token"})
    assert draft.status_code == 409
    assert "This process has no approved version yet" in draft.get_data(as_text=True)
    zh(client)
    assert "此流程尚无已批准的版本" in client.post("/library/dispense/start",
                                                 data={"csrf_token": "walk-token"}).get_data(as_text=True)


@pytest.mark.parametrize("old,new,expected", [
    ('<bpmn:lane id="lane_operator" name="operator">', '<bpmn:lane id="lane_operator" name="night shift">',
     'The lane "night shift" is not a role of this site. Name the lane after a role:'),
    ('isExecutable="true"', 'isExecutable="false"', 'The process is not marked executable: tick "Executable"'),
    ('value="performed"', 'value="blessed"', '"blessed" is not a signature meaning. Choose one from the list.'),
    ('<bpmn:endEvent id="end" name="Dispensed"/>', '<bpmn:endEvent id="end" name="Dispensed"/><bpmn:task id="loose"/>',
     "This element is not connected to the flow."),
])
def test_check_problems_are_worded_for_qa(app, old, new, expected):
    from engine.drafts import inspect
    from engine.ports import known_meanings
    from tests.web.test_operator import PROCESS
    from web.wording import problem_text

    files = {"dispense.bpmn": (PROCESS / "dispense.bpmn").read_text().replace(old, new).encode(),
             "forms/weigh.json": (PROCESS / "forms/weigh.json").read_bytes(),
             "forms/weigh.ui.json": (PROCESS / "forms/weigh.ui.json").read_bytes()}
    found = inspect(files, roles={"operator", "qa"}, meanings=known_meanings())
    with app.test_request_context():
        texts = [problem_text(p.message) for p in found.problems]
    assert any(t.startswith(expected) for t in texts), texts


def test_an_unlisted_error_keeps_its_own_message(app):
    from core.errors import GmpError
    from web.wording import problem_text, refusal_text

    with app.test_request_context():
        assert refusal_text(GmpError("the moon is in the wrong phase")) == "the moon is in the wrong phase"
        assert problem_text("something new") == "something new"
