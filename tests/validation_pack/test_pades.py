"""PAdES signatures on PDF/A-3b documents verify with poppler's pdfsig; a changed byte does not."""
import shutil

import pytest

from audit.pdf import html_document, render_pdf
from validation_pack import pades
from validation_pack.pades import DocumentSigningError


@pytest.fixture
def pdfsig():
    if shutil.which("pdfsig") is None:
        from tests.conftest import missing
        missing("pdfsig (Debian package poppler-utils)")


@pytest.mark.req("URS-VAL-007", "P11-70", "CN-9")
def test_pades_signature_is_valid_for_pdfsig_and_keeps_pdf_17(installation, pdfsig, tmp_path):
    signed = pades.sign_pdf(render_pdf(html_document("OQ 运行确认", "<p>验证</p>")), installation, reason="test")
    report = pades.verify_bytes(signed)
    assert "Signature is Valid." in report and "ETSI.CAdES.detached" in report
    assert signed.startswith(b"%PDF-1.7") and b"/Version /2.0" not in signed  # PDF/A-3b stays PDF 1.7
    info = pades.certificate_info(installation)
    assert info["key"] == "ECPublicKey" and len(info["fingerprint_sha256"]) == 64
    tampered = tmp_path / "tampered.pdf"
    position = signed.index(b"/Length") // 2
    tampered.write_bytes(signed[:position] + bytes([signed[position] ^ 1]) + signed[position + 1:])
    with pytest.raises(DocumentSigningError, match="pdfsig does not report a valid signature"):
        pades.verify_with_pdfsig(tampered)


@pytest.mark.req("URS-VAL-007")
def test_document_key_half_missing_or_wrong_passphrase_is_refused(installation):
    folder = pades.ensure_certificate(installation)
    (folder / "cert.pem").unlink()
    with pytest.raises(DocumentSigningError, match="holds only one of key.pem and cert.pem"):
        pades.ensure_certificate(installation)
    (folder / "key.pem").unlink()
    pades.ensure_certificate(installation)
    wrong = installation.__class__(**{**vars(installation), "server_key_passphrase": "not the passphrase at all"})
    with pytest.raises(DocumentSigningError, match="cannot be opened"):
        pades.sign_pdf(render_pdf(html_document("x", "<p>x</p>")), wrong, reason="test")


@pytest.mark.req("URS-VAL-007")
def test_signing_works_from_inside_a_running_event_loop(installation, pdfsig):
    import asyncio

    async def sign_in_loop():
        return pades.sign_pdf(render_pdf(html_document("x", "<p>x</p>")), installation, reason="test")

    from concurrent.futures import ThreadPoolExecutor

    # a thread of its own: asyncio.run() there does not depend on loops other code left in this thread
    with ThreadPoolExecutor(max_workers=1) as pool:
        signed = pool.submit(lambda: asyncio.run(sign_in_loop())).result()
    assert "Signature is Valid." in pades.verify_bytes(signed)
