"""The release manifest: the SHA-256 of every project file of a release, and the check of an
installation against it (IQ).

Where it comes from, first found wins:
1. `validation_pack/release_manifest.json`, written by `gmp validation-pack manifest` when a
   release is cut (`make release-manifest`) and shipped inside the release;
2. the git commit the installation was checked out from (`git ls-tree -r HEAD`): the
   commit's tree is the manifest, each file compared by its git blob hash.
Without either, the check fails and says so.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT

SHIPPED_REL = "validation_pack/release_manifest.json"
SHIPPED = PROJECT_ROOT / SHIPPED_REL


@dataclass
class FileCheck:
    source: str
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the installed file
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        return not (self.error or self.missing or self.changed or self.extra)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "files": self.files, "missing": self.missing, "changed": self.changed,
                "extra": self.extra, "error": self.error, "passed": self.passed}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, timeout=60).stdout


def git_tree(root: Path = PROJECT_ROOT) -> tuple[str, dict[str, str]] | None:
    """(commit, {path: blob sha1}) of HEAD, or None outside a git checkout."""
    if not (root / ".git").exists():
        return None
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        listing = _git(root, "ls-tree", "-r", "--full-tree", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    tree = {}
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        mode, kind, sha = meta.split()
        if kind == "blob" and mode != "120000":
            tree[path] = sha
    return commit, tree


def provenance(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The source revision of the installation: release manifest or git commit, and whether files differ."""
    from importlib import metadata

    try:
        version = metadata.version("gmp-workflow")
    except metadata.PackageNotFoundError:
        version = "not installed"
    result: dict[str, Any] = {"version": version, "commit": None, "dirty": None}
    if (root / SHIPPED_REL).exists():
        result["release"] = json.loads((root / SHIPPED_REL).read_text(encoding="utf-8")).get("release")
    found = git_tree(root)
    if found:
        result["commit"] = found[0]
        try:
            result["dirty"] = bool(_git(root, "status", "--porcelain", "--untracked-files=no").strip())
        except (OSError, subprocess.SubprocessError):
            result["dirty"] = None
    return result


def write_release_manifest(path: Path = SHIPPED, root: Path = PROJECT_ROOT, release: str | None = None) -> dict[str, Any]:
    """Write the manifest of the files of the current commit (run when a release is cut)."""
    found = git_tree(root)
    if found is None:
        from validation_pack.oq import ValidationError

        raise ValidationError(f"{root} is not a git checkout: a release manifest is written from the release's commit")
    commit, tree = found
    files = {p: sha256_file(root / p) for p in sorted(tree) if (root / p).is_file() and p != SHIPPED_REL}
    document = {"release": release or provenance(root)["version"], "commit": commit, "files": files}
    path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return document


def check_installation(root: Path = PROJECT_ROOT) -> FileCheck:
    """Hash every installed project file and compare with the release manifest."""
    shipped = root / SHIPPED_REL
    if shipped.exists():
        manifest = json.loads(shipped.read_text(encoding="utf-8"))
        check = FileCheck(f"release manifest {SHIPPED_REL} (release {manifest.get('release')}, "
                          f"commit {str(manifest.get('commit'))[:12]})")
        for rel, expected in sorted(manifest["files"].items()):
            path = root / rel
            if not path.is_file():
                check.missing.append(rel)
                continue
            actual = sha256_file(path)
            check.files[rel] = actual
            if actual != expected:
                check.changed.append(rel)
        return check
    found = git_tree(root)
    if found is None:
        return FileCheck("none", error="no release manifest shipped and no git commit to compare with")
    commit, tree = found
    check = FileCheck(f"git commit {commit[:12]}")
    for rel, blob in sorted(tree.items()):
        path = root / rel
        if rel == SHIPPED_REL:
            continue
        if not path.is_file():
            check.missing.append(rel)
            continue
        data = path.read_bytes()
        check.files[rel] = hashlib.sha256(data).hexdigest()
        if git_blob_sha1(data) != blob:
            check.changed.append(rel)
    try:
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", *_PACKAGES).split()
    except (OSError, subprocess.SubprocessError):
        untracked = []
    check.extra = sorted(p for p in untracked if p.endswith(".py"))
    return check


_PACKAGES = ("core", "store", "audit", "signatures", "engine", "connectors", "forms", "web", "bpmn",
             "validation_pack", "masterdata", "notifications", "app.py", "cli.py")
