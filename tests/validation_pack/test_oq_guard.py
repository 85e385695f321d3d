"""The OQ refuses a database that holds production records, and bad result folders."""
import pytest

from signatures import kdf, testing
from validation_pack.oq import ProductionDatabase, ResultsInvalid, ValidationError, check_oq_database, load_results, run_oq


@pytest.mark.req("URS-VAL-005", "CN-10")
def test_oq_refuses_a_database_holding_records_and_accepts_an_empty_one(db, settings, frozen_clock):
    check_oq_database(settings.database_url)  # migrated, but no user and no audit entry
    with kdf.unsafe_fast_kdf():
        testing.bootstrap_admin(db, settings)
    with pytest.raises(ProductionDatabase, match=r"holds records \(1 user accounts, \d+ audit entries\).*refuses"):
        check_oq_database(settings.database_url)


@pytest.mark.req("URS-VAL-005")
def test_oq_never_runs_against_the_installations_own_database(settings):
    with pytest.raises(ProductionDatabase, match="never runs against the installation's own database"):
        check_oq_database(settings.database_url, settings)


@pytest.mark.req("URS-VAL-005")
def test_oq_refuses_a_production_database_before_running_anything(db, settings, tmp_path, frozen_clock):
    with kdf.unsafe_fast_kdf():
        testing.bootstrap_admin(db, settings)
    out = tmp_path / "oq"
    with pytest.raises(ProductionDatabase):
        run_oq(out, settings.__class__(**{**vars(settings), "database_url": "sqlite:///" + str(tmp_path / "x.db")}),
               database_url=settings.database_url)
    assert not (out / "records.jsonl").exists()


@pytest.mark.req("URS-VAL-005")
def test_oq_output_folder_must_be_new(settings, tmp_path):
    out = tmp_path / "oq"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(ValidationError, match="not empty: give a new folder"):
        run_oq(out, settings, select=["tests/unit/test_config.py"])


@pytest.mark.req("URS-VAL-005")
def test_results_folder_without_a_finished_run_is_refused(tmp_path):
    with pytest.raises(ResultsInvalid, match="holds no OQ run"):
        load_results(tmp_path)
    (tmp_path / "run.json").write_text('{"started_at": "2026-01-01T00:00:00Z"}')
    (tmp_path / "records.jsonl").write_text("")
    with pytest.raises(ResultsInvalid, match="did not finish"):
        load_results(tmp_path)
    (tmp_path / "records.jsonl").write_text("{not json")
    with pytest.raises(ResultsInvalid, match="damaged"):
        load_results(tmp_path)
