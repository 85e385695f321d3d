"""Records and their history read by name (task, process, business key), with engine steps folded."""
from __future__ import annotations

import re

import pytest

from signatures import testing
from tests.web.test_operator import form, plant, task_id  # noqa: F401  (fixture)


@pytest.mark.req("P11-10b", "P11-10e", "ALCOA-LEGIBLE")
def test_history_shows_names_and_folds_engine_steps(plant, db, settings):  # noqa: F811
    """Before: records appeared as `task/<uuid>` and a record's timeline was mostly `task.state_changed` rows."""
    from web.record_names import ENGINE_STEPS

    client, people = plant
    alice, bob = people["alice"], people["bob"]
    tid = task_id(client)
    done = client.post(f"/tasks/{tid}", data={**form(people), "sig_password": alice.password,
                                              "sig_totp": testing.next_totp(db, alice), "sig2_user_id": "bob",
                                              "sig2_password": bob.password, "sig2_totp": testing.next_totp(db, bob)})
    assert done.status_code == 200, done.get_data(as_text=True)
    # the audit history of the task: its name, the process instance's title and number
    from tests.web.test_access_matrix import open_session

    open_session(db, client, people["quinn"])
    page = client.get(f"/audit/record/task/{tid}").get_data(as_text=True)
    heading = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert "Weigh the material" in heading and "Batch B-001 #1" in heading and tid not in heading
    assert f"task/{tid}" in page  # the ID stays readable below the name
    steps = re.findall(r'<details data-testid="engine-steps"><summary>Engine steps \(task state changes, operator '
                       r'progress\): (\d+)', page)
    assert steps and all(int(n) >= 1 for n in steps)
    folded = page[page.index('<details data-testid="engine-steps">'):]
    assert "task.state_changed" in folded[:folded.index("</details>")]
    outside = re.sub(r"<details.*?</details>", "", page, flags=re.S)
    assert "task.completed" in outside and not any(step in outside for step in ENGINE_STEPS)
    # the trail names objects too
    trail = client.get("/audit/?object_type=task").get_data(as_text=True)
    assert 'data-testid="record-name">Weigh the material — Batch B-001 #1</a>' in trail
    # the record page of the instance: timeline by name, engine steps folded; the PDF shows every row
    open_session(db, client, alice)
    record = client.get("/records/1").get_data(as_text=True)
    timeline = record[record.index("<h2>Timeline</h2>"):]
    assert "Weigh the material — Batch B-001 #1" in timeline and '<details data-testid="engine-steps">' in timeline
    assert re.sub(r"<details.*?</details>", "", timeline, flags=re.S).count("task.state_changed") == 0
