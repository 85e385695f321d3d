"""Bundle export verified by stock openssl; manifestation partial and PDF block."""
import json
import shutil
import subprocess

import pytest

from signatures import testing
from signatures.errors import NoSignatures
from signatures.export import export_bundle
from signatures.manifestation import manifestations, render_html, render_pdf_block
from signatures.meanings import Meaning
from signatures.records import SimpleRecord
from signatures.service import sign, signatures_for
from store.uow import UnitOfWork

BATCH = SimpleRecord("batch_record", "B-001", 1, {"product": "Ibuprofen 200 mg", "yield_pct": "98.2"})


def openssl_verify(pub, message, sig):
    return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
                           "-in", str(message), "-sigfile", str(sig)], capture_output=True, text=True)


def signed_batch(db, settings, make_user):
    olga = make_user("olga", "Olga Operator")
    petra = make_user("petra", "Petra 秦", roles=["qp"])
    for person, meaning in ((olga, Meaning.PERFORMED), (petra, Meaning.RELEASED)):
        with UnitOfWork(db, person.actor) as uow:
            sign(uow, BATCH, meaning, testing.credentials(db, person), None, settings)
            uow.commit()


@pytest.mark.req("URS-SIG-006", "P11-10b", "CN-9", "URS-SIG-007", "P11-10j")
def test_bundle_verifies_with_stock_openssl(db, settings, make_user, tmp_path):
    if shutil.which("openssl") is None:
        from tests.conftest import missing
        missing("openssl command")
    signed_batch(db, settings, make_user)
    with db.session() as s:
        out = export_bundle(s, "batch_record", "B-001", tmp_path / "bundle")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [m["meaning"] for m in manifest["signatures"]] == ["performed", "released"]
    assert [a["user_id"] for a in manifest["accountability"]] == ["olga", "petra"]
    for entry in manifest["signatures"]:
        folder = out / entry["folder"]
        assert len((folder / "sig.bin").read_bytes()) == 64
        ok = openssl_verify(folder / "signer.pub.pem", folder / "message.bin", folder / "sig.bin")
        assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout
        ok = openssl_verify(folder / "server.pub.pem", folder / "countersignature-message.bin",
                            folder / "countersignature.bin")
        assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout
        # the signed message carries the record binding and the content hash
        message = (folder / "message.bin").read_bytes()
        assert b'"record_id":"B-001"' in message and entry["content_sha256"].encode() in message
    for entry in manifest["accountability"]:
        folder = out / entry["folder"]
        assert openssl_verify(folder / "signer.pub.pem", folder / "message.bin", folder / "sig.bin").returncode == 0
    # a changed message fails with openssl too
    folder = out / manifest["signatures"][0]["folder"]
    tampered = folder / "message.bin"
    tampered.write_bytes(tampered.read_bytes().replace(b"B-001", b"B-002"))
    bad = openssl_verify(folder / "signer.pub.pem", tampered, folder / "sig.bin")
    assert bad.returncode != 0 and "Signature Verification Failure" in bad.stdout


def _recipe() -> str:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "signatures.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- openssl-recipe:start -->\n```sh\n(.*?)```\n<!-- openssl-recipe:end -->", doc, re.S)
    assert block is not None
    return block.group(1)


def _run_recipe(folder):
    lines = [line for line in _recipe().splitlines() if not line.startswith("cd ")]
    script = "set -e\n" + "\n".join(lines) + "\n"
    return subprocess.run(["sh", "-c", script], cwd=folder, capture_output=True, text=True)


@pytest.mark.req("URS-SIG-006", "P11-10b", "P11-70")
def test_documented_openssl_recipe_binds_message_signature_keys_and_content(db, settings, make_user, tmp_path,
                                                                           frozen_clock):
    """The recipe of docs/signatures.md (also VERIFY.txt in the bundle) passes on a real bundle, and fails
    when a message and signature of another signature by the same signer are swapped in: the two Ed25519
    checks alone would accept that, the message_sha256 binding does not."""
    if shutil.which("openssl") is None:
        from tests.conftest import missing
        missing("openssl command")
    olga = make_user("olga", "Olga 王")
    other = SimpleRecord("batch_record", "B-002", 1, {"product": "Paracetamol 500 mg"})
    for record in (BATCH, other):
        frozen_clock.advance(seconds=31)
        with UnitOfWork(db, olga.actor) as uow:
            sign(uow, record, Meaning.PERFORMED, testing.credentials(db, olga), None, settings)
            uow.commit()
    with db.session() as s:
        first = export_bundle(s, "batch_record", "B-001", tmp_path / "b1", records=[BATCH])
        second = export_bundle(s, "batch_record", "B-002", tmp_path / "b2", records=[other])
        bare = export_bundle(s, "batch_record", "B-001", tmp_path / "bare")
    verify_text = (first / "VERIFY.txt").read_text()
    assert all(line in verify_text for line in _recipe().splitlines()[1:])
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    folder = first / manifest["signatures"][0]["folder"]
    assert manifest["signatures"][0]["canonical_content"] == f"{folder.name}/content.bin"
    assert (folder / "content.bin").read_bytes() == BATCH.canonical_content()
    done = _run_recipe(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Signature Verified Successfully") == 2
    bare_manifest = json.loads((bare / "manifest.json").read_text(encoding="utf-8"))
    assert bare_manifest["signatures"][0]["canonical_content"].startswith("not in this bundle")
    # message.bin and sig.bin of the other signature: both Ed25519 checks still pass ...
    donor = second / json.loads((second / "manifest.json").read_text())["signatures"][0]["folder"]
    for name in ("message.bin", "sig.bin"):
        shutil.copy(donor / name, folder / name)
    assert openssl_verify(folder / "signer.pub.pem", folder / "message.bin", folder / "sig.bin").returncode == 0
    assert openssl_verify(folder / "server.pub.pem", folder / "countersignature-message.bin",
                          folder / "countersignature.bin").returncode == 0
    # ... the recipe does not
    done = _run_recipe(folder)
    assert done.returncode != 0


@pytest.mark.req("URS-SIG-006")
def test_bundle_refuses_content_of_another_record(db, settings, make_user, tmp_path):
    from signatures.errors import InvalidRecord

    signed_batch(db, settings, make_user)
    with db.session() as s:
        with pytest.raises(InvalidRecord, match="batch_record/B-002 is not the record batch_record/B-001"):
            export_bundle(s, "batch_record", "B-001", tmp_path / "x",
                          records=[SimpleRecord("batch_record", "B-002", 1, {})])


@pytest.mark.req("URS-SIG-006")
def test_bundle_of_unsigned_record_refused(db, tmp_path, admin):
    with db.session() as s:
        with pytest.raises(NoSignatures, match="no signature to export"):
            export_bundle(s, "batch_record", "nothing", tmp_path)


@pytest.mark.req("URS-SIG-011", "P11-50a", "P11-50b", "URS-SIG-012")
def test_manifestation_shows_name_times_and_meaning(db, make_user, tmp_path, settings):
    from dataclasses import replace

    shanghai = replace(settings, site_timezone="Asia/Shanghai")
    signed_batch(db, shanghai, make_user)
    with db.session() as s:
        rows = signatures_for(s, "batch_record", "B-001")
    items = manifestations(rows, shanghai)
    assert items[1].printed_name == "Petra 秦" and items[1].meaning_en == "Released" and items[1].meaning_zh == "放行"
    assert items[0].utc == "2026-01-05 08:00:00 UTC"
    assert items[0].local == "2026-01-05 16:00:00 CST (Asia/Shanghai)"
    html = render_html(rows, shanghai)
    for text in ("Olga Operator", "Performed", "操作", "2026-01-05 08:00:00 UTC", "16:00:00 CST", "Released", "放行"):
        assert text in html
    pdf = render_pdf_block(rows, shanghai)
    assert "Petra 秦" in pdf and "Noto Sans CJK SC" in pdf and "16:00:00 CST (Asia/Shanghai)" in pdf
    assert "Not signed" in render_html([], shanghai)


@pytest.mark.req("URS-SIG-011", "P11-50a", "P11-50b")
@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC"])
def test_the_time_is_printed_once_when_the_site_time_zone_is_utc(db, make_user, settings, zone):
    from dataclasses import replace

    from core.clock import is_utc

    utc = replace(settings, site_timezone=zone)
    signed_batch(db, utc, make_user)
    with db.session() as s:
        rows = signatures_for(s, "batch_record", "B-001")
    assert manifestations(rows, utc)[0].local == ""
    html = render_html(rows, utc)
    first = html.split("</li>")[0]
    assert first.count("2026-01-05 08:00:00") == 2  # the datetime attribute and the text, once
    assert "signature-local-time" not in html
    pdf = render_pdf_block(rows, utc)
    assert pdf.count("08:00:00") == len(rows) and "Site time" not in pdf
    from zoneinfo import ZoneInfo

    assert not is_utc(ZoneInfo("Europe/London"))  # UTC in winter only: its site time is printed


@pytest.mark.req("URS-SIG-011", "P11-50a")
def test_manifestation_escapes_html(db, settings, admin):
    from signatures.models import Signature

    row = Signature(seq=1, record_type="t", record_id="x", record_version=1, printed_name="<script>x</script>",
                    signer_id="eve", meaning="approved", signed_at="2026-01-05T08:00:00.000000Z", reason=None)
    html = render_html([row], settings)
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.req("URS-SIG-012", "P11-50a")
def test_every_meaning_has_both_labels():
    for meaning in Meaning:
        assert meaning.label_en and meaning.label_zh
    from signatures.errors import UnknownMeaning
    from signatures.meanings import labels
    assert labels("witnessed", {"witnessed": ("Witnessed", "见证")}) == ("Witnessed", "见证")
    with pytest.raises(UnknownMeaning, match="unknown signature meaning"):
        labels("blessed")


@pytest.mark.req("URS-SIG-009", "CN-8", "A11-15")
def test_rules_loader_refuses_batch_release_by_anyone_but_qp():
    from signatures.errors import RulesError
    from signatures.signing_rules import parse_rules

    with pytest.raises(RulesError, match="naming only 'qp'"):
        parse_rules({"batch_record_types": ["batch_record"], "rules": [
            {"record_type": "batch_record", "meaning": "released", "roles": ["qp", "qa"]}]}, "test")
    with pytest.raises(RulesError, match="naming only 'qp'"):
        parse_rules({"batch_record_types": ["batch_record"], "rules": [
            {"record_type": "*", "meaning": "released", "roles": ["qa"]}]}, "test")
    with pytest.raises(RulesError, match="unknown meaning"):
        parse_rules({"rules": [{"record_type": "*", "meaning": "blessed", "roles": ["qa"]}]}, "test")
    with pytest.raises(RulesError, match="needs record_type, meaning and roles"):
        parse_rules({"rules": [{"record_type": "*"}]}, "test")
    with pytest.raises(RulesError, match="'rules' list"):
        parse_rules([], "test")
    with pytest.raises(RulesError, match="repeats"):
        parse_rules({"rules": [{"record_type": "*", "meaning": "approved", "roles": ["qa"]},
                               {"record_type": "*", "meaning": "approved", "roles": ["qp"]}]}, "test")
    with pytest.raises(RulesError, match="'en' and 'zh'"):
        parse_rules({"extra_meanings": {"witnessed": {"en": "Witnessed"}}, "rules": []}, "test")
