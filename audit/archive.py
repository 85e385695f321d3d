"""Archive export of closed records (P11-10c, A11-17).

Any package's records are identified in the trail by object type and ID. An archive is
a JSONL audit export (docs/audit-export-format.md) of those records' entries, with the
digests of the entries in between, the checkpoints and the public keys, so it verifies
like any export: `gmp audit verify-export ARCHIVE --public-key KEYS.pem`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from audit.errors import ExportError
from audit.export import ExportFilter, ExportResult, export_jsonl
from core.config import Settings
from store.db import Database


def archive_export(db: Database, settings: Settings, object_type: str, object_ids: Iterable[object],
                   out: Path) -> ExportResult:
    """Write the audit entries of the given records as a verifiable archive export."""
    ids = tuple(sorted({str(i) for i in object_ids}))
    if not object_type or not ids:
        raise ExportError("an archive names an object type and at least one object ID")
    return export_jsonl(db, settings, out, ExportFilter(object_type=object_type, object_ids=ids))


# ---------------------------------------------------------------- archive files of closed records (A11-17)
# A ZIP file, readable without the database and without this product's models (so by a later release):
#   manifest.json        format "gmp-archive", version 1: who/when/cut-off/schema revision, each record's
#                        files with their SHA-256, each trail export with its SHA-256 and entry count
#   manifest.sig         {"key_id", "signature"}: Ed25519 over ARCHIVE_DOMAIN || manifest.json bytes (server key)
#   public-keys.pem      every server public key (to compare with the keys you hold)
#   records/<id>.json    the record as `GET /records/<id>.json` gives it
#   records/<id>.pdf     the record as `GET /records/<id>.pdf` gives it (PDF/A-3b)
#   trail/<type>.jsonl   audit exports (docs/audit-export-format.md) of the records' entries, one per object type
ARCHIVE_FORMAT = "gmp-archive"
ARCHIVE_VERSION = 1
ARCHIVE_DOMAIN = b"GMP-ARCHIVE-v1\x00"
READABLE_VERSIONS = (1,)


class ArchiveInvalid(ExportError):
    """An archive file does not verify or is not an archive this release reads."""


def sign_manifest(settings: Settings, manifest_bytes: bytes) -> dict[str, str]:
    import base64

    from audit.checkpoints import current_key

    key = current_key(settings)
    return {"key_id": key.key_id, "signature": base64.b64encode(key.sign(ARCHIVE_DOMAIN + manifest_bytes)).decode()}


def write_archive(out: Path, manifest: dict[str, object], files: dict[str, bytes], settings: Settings) -> str:
    """Write the ZIP; `files` are the members besides the manifest and signature (their SHA-256 must be in the
    manifest already). Returns the manifest's SHA-256."""
    import hashlib
    import json
    import zipfile

    from audit.server_key import public_keys

    body = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    signature = json.dumps(sign_manifest(settings, body), sort_keys=True).encode()
    pems = b"".join(public_pem for public_pem in _pems(public_keys(settings)))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", body)
        archive.writestr("manifest.sig", signature)
        archive.writestr("public-keys.pem", pems)
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    tmp.replace(out)
    return hashlib.sha256(body).hexdigest()


def _pems(keys: object) -> list[bytes]:
    from audit.server_key import public_pem

    values = keys.values() if isinstance(keys, dict) else keys  # type: ignore[union-attr]
    return [v if isinstance(v, bytes) else public_pem(v) for v in values]  # type: ignore[arg-type]


class ArchiveReport:
    def __init__(self, manifest: dict[str, object], key_id: str, trail_entries: int, self_keys: bool) -> None:
        self.manifest, self.key_id, self.trail_entries, self.self_keys = manifest, key_id, trail_entries, self_keys

    @property
    def records(self) -> list[dict[str, object]]:
        return list(self.manifest["records"])  # type: ignore[arg-type]

    def summary(self) -> str:
        text = (f"archive intact: {len(self.records)} records closed before {self.manifest['closed_before']}, "
                f"{self.trail_entries} audit entries, manifest signed by server key {self.key_id}")
        if self.self_keys:
            text += " (checked with the archive's own public keys: compare the key ID with the keys you hold)"
        return text


def read_manifest(path: Path) -> dict[str, object]:
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ArchiveInvalid(f"{path}: not an archive file ({exc})") from exc
    if manifest.get("format") != ARCHIVE_FORMAT or manifest.get("version") not in READABLE_VERSIONS:
        raise ArchiveInvalid(f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r} is not "
                             f"an archive this release reads ({ARCHIVE_FORMAT} {READABLE_VERSIONS})")
    return manifest  # type: ignore[no-any-return]


def verify_archive(path: Path, trusted_pem: bytes | None = None) -> ArchiveReport:
    """Verify an archive offline: manifest signature, every member's SHA-256, every trail export
    (audit.export_verify), and every record's timeline entries present in the exports."""
    import base64
    import hashlib
    import json
    import tempfile
    import zipfile

    from cryptography.exceptions import InvalidSignature

    from audit.checkpoints import load_public_keys_pem
    from audit.export_verify import verify_export

    manifest = read_manifest(path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        body = archive.read("manifest.json")
        signed = json.loads(archive.read("manifest.sig"))
        keys = load_public_keys_pem(trusted_pem if trusted_pem is not None else archive.read("public-keys.pem"))
        key = keys.get(signed.get("key_id"))
        if key is None:
            raise ArchiveInvalid(f"{path}: the manifest is signed by key {signed.get('key_id')!r}, not a trusted key")
        try:
            key.verify(base64.b64decode(signed["signature"]), ARCHIVE_DOMAIN + body)
        except (InvalidSignature, ValueError, KeyError) as exc:
            raise ArchiveInvalid(f"{path}: the manifest's signature does not verify") from exc
        members = [(r["json"], r["json_sha256"]) for r in manifest["records"]]  # type: ignore[index,union-attr]
        members += [(r["pdf"], r["pdf_sha256"]) for r in manifest["records"]]  # type: ignore[index,union-attr]
        members += [(t["file"], t["sha256"]) for t in manifest["trail"]]  # type: ignore[index,union-attr]
        for name, digest in members:
            if name not in names:
                raise ArchiveInvalid(f"{path}: {name} is missing")
            if hashlib.sha256(archive.read(name)).hexdigest() != digest:
                raise ArchiveInvalid(f"{path}: {name} does not match its SHA-256 in the manifest")
        seqs: set[int] = set()
        total = 0
        with tempfile.TemporaryDirectory() as folder:
            for trail in manifest["trail"]:  # type: ignore[union-attr]
                export = Path(folder) / Path(trail["file"]).name  # type: ignore[index]
                export.write_bytes(archive.read(trail["file"]))  # type: ignore[index]
                try:
                    report = verify_export(export, keys)
                except ExportError as exc:
                    raise ArchiveInvalid(f"{path}: {trail['file']}: {exc}") from exc  # type: ignore[index]
                total += report.entries
                for line in export.read_text(encoding="utf-8").splitlines():
                    item = json.loads(line)
                    if item.get("type") == "entry":
                        seqs.add(int(item["seq"]))
        for record in manifest["records"]:  # type: ignore[union-attr]
            document = json.loads(archive.read(record["json"]))  # type: ignore[index]
            missing = [e["seq"] for e in document.get("timeline", []) if e["seq"] not in seqs]
            if missing:
                raise ArchiveInvalid(f"{path}: record {record['instance_id']}: audit entries {missing[:5]} are "  # type: ignore[index]
                                     "not in the archive's trail")
    return ArchiveReport(manifest, signed["key_id"], total, trusted_pem is None)


def read_member(path: Path, name: str) -> bytes:
    import zipfile

    read_manifest(path)
    with zipfile.ZipFile(path) as archive:
        try:
            return archive.read(name)
        except KeyError as exc:
            raise ArchiveInvalid(f"{path}: no member {name}") from exc
