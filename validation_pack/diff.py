"""`gmp validation-pack diff OLD NEW`: what changed between two packs, the basis of
re-validation after an upgrade: requirements, installed file hashes, package versions and
migration head, tests (added, removed, changed scripts), results (per test and per
requirement) and configuration. Written as diff.json and DIFF.pdf (PDF/A-3b, the JSON
attached, PAdES-signed).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.config import Settings
from validation_pack import documents, pades
from validation_pack.pack import PackInvalid, load_pack


def _json(folder: Path, doc: str) -> dict[str, Any]:
    path = folder / "json" / f"{doc}.json"
    if not path.exists():
        raise PackInvalid(f"{folder}: json/{doc}.json missing: not a complete validation pack")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _section(title: str, rows: list[dict[str, str]], summary: str) -> dict[str, Any]:
    return {"title": title, "rows": rows, "summary": summary}


def _changes(old: dict[str, Any], new: dict[str, Any], what: str) -> list[dict[str, str]]:
    rows = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            rows.append({what: key, "change": "added", "old": "", "new": _short(new[key])})
        elif key not in new:
            rows.append({what: key, "change": "removed", "old": _short(old[key]), "new": ""})
        elif old[key] != new[key]:
            rows.append({what: key, "change": "changed", "old": _short(old[key]), "new": _short(new[key])})
    return rows


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def compare(old_dir: Path, new_dir: Path) -> dict[str, Any]:
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    old_pack, new_pack = load_pack(old_dir), load_pack(new_dir)
    old_iq, new_iq = _json(old_dir, "IQ"), _json(new_dir, "IQ")
    old_oq, new_oq = _json(old_dir, "OQ"), _json(new_dir, "OQ")
    old_tr, new_tr = _json(old_dir, "TRACE"), _json(new_dir, "TRACE")

    reqs = _changes({r["id"]: {k: r[k] for k in ("text", "serves", "design", "risk")} for r in old_pack["catalogue"]["requirements"]},
                    {r["id"]: {k: r[k] for k in ("text", "serves", "design", "risk")} for r in new_pack["catalogue"]["requirements"]},
                    "requirement")
    files = [{"file": x["file"], "change": x["change"], "old sha256": x["old"][:16], "new sha256": x["new"][:16]}
             for x in _changes(old_iq["files"], new_iq["files"], "file")]

    def checks(iq_result: dict[str, Any]) -> dict[str, str]:
        found = {c["id"] + " " + c["title"]: c["actual"] for c in iq_result["checks"] if c["id"] in ("IQ-01", "IQ-04", "IQ-06")}
        for check in iq_result["checks"]:
            if check["id"] == "IQ-02":
                found.update({f"package {d['package']}": d["actual"] for d in check["details"]})
        found["source commit"] = str(iq_result["provenance"].get("commit"))
        found["release"] = str(iq_result["provenance"].get("version"))
        return found

    versions = _changes(checks(old_iq), checks(new_iq), "item")
    configuration = _changes(old_iq["configuration"], new_iq["configuration"], "setting")

    def scripts(oq: dict[str, Any]) -> dict[str, str]:
        found = {e["nodeid"]: "" for e in oq.get("inventory", [])}
        found.update({r["nodeid"]: r.get("script_sha256", "") for r in oq["records"]})
        return found

    old_scripts, new_scripts = scripts(old_oq), scripts(new_oq)
    tests = []
    for nodeid in sorted(set(old_scripts) | set(new_scripts)):
        if nodeid not in old_scripts:
            tests.append({"test": nodeid, "change": "added"})
        elif nodeid not in new_scripts:
            tests.append({"test": nodeid, "change": "removed"})
        elif old_scripts[nodeid] and new_scripts[nodeid] and old_scripts[nodeid] != new_scripts[nodeid]:
            tests.append({"test": nodeid, "change": "script changed"})
    old_results = {r["nodeid"]: r["outcome"] for r in old_oq["records"]}
    new_results = {r["nodeid"]: r["outcome"] for r in new_oq["records"]}
    results = [{"test": k, "old": old_results.get(k, "not run"), "new": new_results.get(k, "not run")}
               for k in sorted(set(old_results) | set(new_results)) if old_results.get(k) != new_results.get(k)]
    old_status = {r["requirement"]["id"]: r["status"] for r in old_tr["rows"]}
    new_status = {r["requirement"]["id"]: r["status"] for r in new_tr["rows"]}
    status = [{"requirement": k, "old": old_status.get(k, "absent"), "new": new_status.get(k, "absent")}
              for k in sorted(set(old_status) | set(new_status)) if old_status.get(k) != new_status.get(k)]
    sections = [
        _section("1. Requirements / 需求", reqs, f"{len(reqs)} requirements added, removed or changed"),
        _section("2. Installed files / 安装文件", files,
                 f"{sum(1 for f in files if f['change'] == 'changed')} changed, "
                 f"{sum(1 for f in files if f['change'] == 'added')} added, "
                 f"{sum(1 for f in files if f['change'] == 'removed')} removed of {len(new_iq['files'])} files"),
        _section("3. Versions, schema and keys / 版本、数据库结构与密钥", versions, f"{len(versions)} differences"),
        _section("4. Tests / 测试", tests, f"{sum(1 for t in tests if t['change'] == 'added')} added, "
                 f"{sum(1 for t in tests if t['change'] == 'removed')} removed, "
                 f"{sum(1 for t in tests if t['change'] == 'script changed')} with a changed script"),
        _section("5. Results per test / 测试结果", results, f"{len(results)} tests with a different outcome"),
        _section("6. Results per requirement / 需求结果", status, f"{len(status)} requirements with a different status"),
        _section("7. Configuration / 配置", configuration, f"{len(configuration)} settings differ"),
    ]
    changed_areas = sorted({f["file"].split("/")[0] for f in files})
    return {"old": f"{old_pack['pack_id']} ({old_dir})", "new": f"{new_pack['pack_id']} ({new_dir})",
            "old_pack": old_pack["pack_id"], "new_pack": new_pack["pack_id"], "sections": sections,
            "changed_areas": changed_areas,
            "retest": sorted({r["requirement"] for r in status} | {t["test"] for t in tests})}


def write_diff(settings: Settings, old_dir: Path, new_dir: Path, out: Path) -> dict[str, Any]:
    """Compare and write `out`/diff.json and `out`/DIFF.pdf."""
    result = compare(old_dir, new_dir)
    new_pack = load_pack(Path(new_dir))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = documents.dumps(result)
    (out / "diff.json").write_bytes(data)
    title, html = documents.render_diff(new_pack, result, out)
    pdf = documents.render_pdf(html, {"diff.json": data})
    (out / "DIFF.pdf").write_bytes(pades.sign_pdf(pdf, settings, reason=f"{title}: {result['old_pack']} -> {result['new_pack']}"))
    return result
