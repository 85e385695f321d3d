"""PAdES signatures on the pack's PDFs with the installation's document certificate.

The document certificate is an ECDSA P-256 key and certificate (Debian's `pdfsig` does not
verify Ed25519 PAdES signatures) kept in `instance/document-signing/`: `key.pem` (encrypted
with GMP_SERVER_KEY_PASSPHRASE) and `cert.pem`. It is generated, self-signed, on first use;
a plant replaces both files with a certificate issued by its own CA (see docs/validation.md).
The signature is an incremental update: the PDF/A-3b content and its attachments stay as
they are.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core import clock
from core.config import Settings
from core.errors import GmpError


class DocumentSigningError(GmpError):
    """The document certificate cannot be used or a PDF signature does not verify."""


def _folder(settings: Settings) -> Path:
    return settings.instance / "document-signing"


def ensure_certificate(settings: Settings, common_name: str = "GMP workflow engine: validation documents") -> Path:
    """The folder of the document key and certificate; generated (self-signed, P-256) when absent."""
    folder = _folder(settings)
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    if key_path.exists() and cert_path.exists():
        return folder
    if key_path.exists() or cert_path.exists():
        raise DocumentSigningError(f"{folder} holds only one of key.pem and cert.pem: restore the other or remove both")
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = clock.now()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GMP workflow engine installation")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(settings.server_key_passphrase.encode()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(encrypted)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder


def certificate_info(settings: Settings) -> dict[str, str]:
    cert = x509.load_pem_x509_certificate((ensure_certificate(settings) / "cert.pem").read_bytes())
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"), "not_after": cert.not_valid_after_utc.isoformat(),
            "fingerprint_sha256": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
            "key": type(cert.public_key()).__name__}


def sign_pdf(pdf: bytes, settings: Settings, *, reason: str, location: str = "") -> bytes:
    """`pdf` with a PAdES B-B signature by the document certificate (incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    folder = ensure_certificate(settings)
    try:
        signer = signers.SimpleSigner.load(str(folder / "key.pem"), str(folder / "cert.pem"),
                                           key_passphrase=settings.server_key_passphrase.encode())
    except Exception as exc:  # pyHanko reports a wrong passphrase or a bad file in several ways
        raise DocumentSigningError(f"the document key in {folder} cannot be opened: {exc}") from exc
    if signer is None:
        raise DocumentSigningError(f"the document key in {folder} cannot be opened with GMP_SERVER_KEY_PASSPHRASE")
    meta = signers.PdfSignatureMetadata(field_name="ValidationPack", md_algorithm="sha256", reason=reason,
                                        location=location or None, subfilter=fields.SigSeedSubFilter.PADES)

    def run() -> bytes:
        out = _Pdf17Signer(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
        return bytes(out.getvalue())

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no event loop runs in this thread: pyHanko may run its own
        return run()
    # pyHanko's synchronous API starts an event loop: from inside a running one, sign in a thread of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _pdf17_signer_class():  # type: ignore[no-untyped-def]
    from pyhanko.sign import signers
    from pyhanko.sign.general import SigningError  # noqa: F401 - imported with the signer
    from pyhanko.sign.signers import constants

    class Pdf17Signer(signers.PdfSigner):
        """PAdES on PDF 1.7 (PDF/A-3b): the ESIC extension only, never the ISO 32002 marker that
        pyHanko adds for P-256 keys and that raises the file to PDF 2.0."""

        def register_extensions(self, pdf_out, *, md_algorithm):  # type: ignore[no-untyped-def]
            pdf_out.ensure_output_version(version=(1, 7))
            pdf_out.register_extension(constants.ESIC_EXTENSION_1)

    return Pdf17Signer


def _Pdf17Signer(meta, signer):  # type: ignore[no-untyped-def]  # noqa: N802 - a class built on first use
    return _pdf17_signer_class()(meta, signer=signer)


def pdfsig_report(path: Path) -> str:
    """The text of poppler's `pdfsig` for a file (it exits 0 even on a digest mismatch: read the text)."""
    if shutil.which("pdfsig") is None:
        raise DocumentSigningError("pdfsig (Debian package poppler-utils) is not installed")
    result = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def verify_with_pdfsig(path: Path) -> str:
    """Raise unless `pdfsig` reports every signature of `path` as valid; return its report."""
    report = pdfsig_report(path)
    verdicts = re.findall(r"Signature Validation: (.+)", report)
    if not verdicts or any(v.strip() != "Signature is Valid." for v in verdicts):
        raise DocumentSigningError(f"{path.name}: pdfsig does not report a valid signature:\n{report.strip()}")
    return report


def verify_bytes(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf)
        handle.flush()
        return verify_with_pdfsig(Path(handle.name))
