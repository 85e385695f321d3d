"""The OQ evidence plugin for pytest (loaded by tests/conftest.py; active with --oq-evidence DIR).

Per executed test it records: the requirement IDs of its `req` markers, the risk priority of
those requirements, the steps (recorded by the test through the `oq_evidence` fixture, or
else the test's documented behaviour), expected and actual result, outcome, UTC start and
end, and evidence files (screenshots from the browser tests, attached exports, captured
output) with their SHA-256. Records are appended to DIR/records.jsonl as each test ends
(a crash loses nothing already run); DIR/run.json carries the run's metadata.

Selection under --oq-evidence: tests carrying a `req` marker; `oq_exclude` tests (those that
themselves build a pack) are deselected; --oq-quick keeps one test per user requirement
(the first collected, preferring tests without a browser; tests marked `slow` run in the full OQ only).

    def test_x(oq_evidence, page):
        oq_evidence.step("sign in as alice", expected="the inbox lists the task")
        oq_evidence.screenshot(page, "inbox")
        oq_evidence.attach("export.jsonl", data)
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

RECORDS = "records.jsonl"
RUN = "run.json"
PROGRESS = "progress.json"
MAX_TEXT = 4000


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:150].strip("_")


@dataclass
class Step:
    action: str
    expected: str = ""
    actual: str = ""


@dataclass
class TestEvidence:
    """What one test records about itself; a no-op store when no OQ run is active."""

    nodeid: str
    folder: Path | None
    steps: list[Step] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.folder is not None

    def step(self, action: str, expected: str = "", actual: str = "") -> None:
        self.steps.append(Step(action, expected, actual))

    def attach(self, name: str, data: bytes | str, label: str = "") -> Path | None:
        if self.folder is None:
            return None
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.files) + 1:02d}-{_slug(name)}"
        path.write_bytes(raw)
        self.files.append({"label": label or name, "path": str(path), "sha256": hashlib.sha256(raw).hexdigest(),
                           "kind": "screenshot" if path.suffix == ".png" else "file", "taken_at": _utc()})
        return path

    def screenshot(self, page: Any, label: str) -> Path | None:
        """A full-page PNG of a Playwright page as evidence."""
        if self.folder is None:
            return None
        return self.attach(f"{_slug(label)}.png", page.screenshot(full_page=True), label)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oq", "operational qualification evidence")
    group.addoption("--oq-evidence", default=None, metavar="DIR", help="record OQ evidence into DIR")
    group.addoption("--oq-quick", action="store_true", default=False, help="one test per user requirement")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "oq_exclude: never part of an OQ run (e.g. the test that builds a pack)")
    folder = config.getoption("--oq-evidence", default=None)
    if folder:
        config.pluginmanager.register(OqRecorder(Path(folder), config), "oq-recorder")


@pytest.fixture
def oq_evidence(request: pytest.FixtureRequest) -> TestEvidence:
    recorder: OqRecorder | None = request.config.pluginmanager.get_plugin("oq-recorder")
    nodeid = request.node.nodeid
    evidence = TestEvidence(nodeid, recorder.evidence_folder(nodeid) if recorder else None)
    if recorder is not None:
        recorder.current[nodeid] = evidence
    return evidence


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for marker in item.iter_markers("req"):
        for rid in marker.args:
            if rid not in ids:
                ids.append(rid)
    return ids


def _uses_browser(item: pytest.Item) -> bool:
    return "page" in getattr(item, "fixturenames", ()) or "browser" in getattr(item, "fixturenames", ())


def quick_selection(items: list[pytest.Item]) -> list[pytest.Item]:
    """One test per user requirement, the cheapest kind that proves it: a test without a browser,
    else one driving the browser. Tests marked `slow` (whole-process journeys, upgrades across
    releases, load and fuzzing) run in the full OQ only: a requirement that only they prove is
    listed in the quick pack's trace as not tested in this run."""
    candidates = [item for item in items if item.get_closest_marker("slow") is None]
    chosen: dict[str, pytest.Item] = {}
    for prefer_browser in (False, True):
        for item in candidates:
            if _uses_browser(item) != prefer_browser:
                continue
            for rid in requirement_ids(item):
                if rid.startswith("URS-") and rid not in chosen:
                    chosen[rid] = item
    keep = {id(item) for item in chosen.values()}
    if not any(_uses_browser(item) for item in chosen.values()):
        # every quick run drives the browser at least once: its screenshots are evidence too
        browser = next((item for item in candidates if _uses_browser(item)), None)
        if browser is not None:
            keep.add(id(browser))
    return [item for item in items if id(item) in keep]


def _docstring(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    return re.sub(r"\s+", " ", doc)


def _source(item: pytest.Item) -> tuple[str, int]:
    """The executed test script: the test function's source and its first line."""
    import inspect

    function = getattr(item, "function", None)
    try:
        lines, start = inspect.getsourcelines(function)  # type: ignore[arg-type]
    except (TypeError, OSError):
        return "", 0
    return "".join(lines), start


def script_steps(source: str) -> tuple[list[str], list[str]]:
    """(steps, checks) read from a test script: the first line of each statement, and its asserts
    and `pytest.raises` expectations, in order (bounded)."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return [], []
    function = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if function is None:
        return [], []
    steps: list[str] = []
    checks: list[str] = []

    def first_line(node: ast.AST) -> str:
        text = ast.unparse(node).splitlines()[0]
        return text if len(text) <= 120 else text[:117] + "..."

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the docstring
            if isinstance(node, ast.Assert):
                checks.append(first_line(node.test))
                continue
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for w in node.items:
                    text = ast.unparse(w.context_expr)
                    if "raises" in text:
                        checks.append("refused: " + (text if len(text) <= 120 else text[:117] + "..."))
                walk(node.body)
                continue
            if isinstance(node, (ast.For, ast.While, ast.If, ast.Try)):
                steps.append(first_line(node).rstrip(":") if not isinstance(node, ast.Try) else "try")
                walk(getattr(node, "body", []))
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            steps.append(first_line(node))

    walk(function.body)
    return steps[:12], checks[:10]


def _humanize(item: pytest.Item) -> str:
    name = getattr(item, "originalname", None) or item.name
    return name.removeprefix("test_").replace("_", " ")


def _risk_priority(ids: list[str]) -> str | None:
    from validation_pack.catalogue import requirements

    order = {"high": 3, "medium": 2, "low": 1}
    found = [requirements()[rid].risk.priority for rid in ids  # type: ignore[union-attr]
             if rid in requirements() and requirements()[rid].risk is not None]
    return max(found, key=order.__getitem__) if found else None


class OqRecorder:
    def __init__(self, folder: Path, config: pytest.Config) -> None:
        self.folder = folder
        self.config = config
        self.current: dict[str, TestEvidence] = {}
        self.started: dict[str, str] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.total = 0
        self.done = 0
        self.inventory: list[dict[str, Any]] = []
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RECORDS).write_text("", encoding="utf-8")

    def evidence_folder(self, nodeid: str) -> Path:
        return self.folder / "evidence" / _slug(nodeid)

    # ---- selection
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep = [item for item in items if requirement_ids(item) and item.get_closest_marker("oq_exclude") is None]
        if config.getoption("--oq-quick"):
            keep = quick_selection(keep)
        ids = {id(item) for item in keep}
        dropped = [item for item in items if id(item) not in ids]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        self.inventory = [{"nodeid": item.nodeid, "requirements": requirement_ids(item),
                           "selected": id(item) in ids, "browser": _uses_browser(item),
                           "slow": item.get_closest_marker("slow") is not None,
                           "oq_exclude": item.get_closest_marker("oq_exclude") is not None} for item in items]
        items[:] = keep
        self.total = len(items)
        self._progress()
        self._write_run(started_at=_utc(), finished_at=None)

    def _progress(self) -> None:
        (self.folder / PROGRESS).write_text(json.dumps({"total": self.total, "done": self.done}), encoding="utf-8")

    def _write_run(self, *, started_at: str | None, finished_at: str | None, exitstatus: int | None = None) -> None:
        path = self.folder / RUN
        run = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        run.update({
            "quick": bool(self.config.getoption("--oq-quick")),
            "backends": os.environ.get("GMP_TEST_DB", "all"),
            "require_all": os.environ.get("GMP_TEST_REQUIRE_ALL") == "1",
            "python": sys.version.split()[0], "platform": platform.platform(), "host": platform.node(),
            "args": list(self.config.invocation_params.args), "selected": self.total,
            "inventory": self.inventory,
        })
        if started_at and "started_at" not in run:
            run["started_at"] = started_at
        if finished_at:
            run["finished_at"] = finished_at
            run["exitstatus"] = exitstatus
        path.write_text(json.dumps(run, indent=1, sort_keys=True), encoding="utf-8")

    # ---- per test
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.started[nodeid] = _utc()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
        outcome = yield
        report = outcome.get_result()
        entry = self.reports.setdefault(item.nodeid, {"item": item, "phases": {}})
        entry["phases"][report.when] = report

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        entry = self.reports.pop(nodeid, None)
        if entry is None:
            return
        item: pytest.Item = entry["item"]
        phases: dict[str, pytest.TestReport] = entry["phases"]
        evidence = self.current.pop(nodeid, None) or TestEvidence(nodeid, self.evidence_folder(nodeid))
        outcome = "passed"
        failure = ""
        for when in ("setup", "call", "teardown"):
            report = phases.get(when)
            if report is None:
                continue
            if report.failed:
                outcome = "failed" if when == "call" else "error"
                failure = report.longreprtext[-MAX_TEXT:]
                break
            if report.skipped:
                outcome = "skipped"
                failure = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
                break
        captured = "\n".join(f"--- {name}\n{text}" for name, text in
                             ((f"{when} {section}", content) for when, report in phases.items()
                              for section, content in report.sections) if text.strip())
        if captured:
            evidence.attach("captured-output.txt", captured[-20000:], "captured output and log")
        ids = requirement_ids(item)
        source, line = _source(item)
        doc = _docstring(item)
        expected = doc or _humanize(item)
        code_steps, checks = script_steps(source)
        steps = [vars(step) for step in evidence.steps] or [
            {"action": action, "expected": "", "actual": ""} for action in code_steps] or [
            {"action": f"run {item.nodeid}", "expected": expected, "actual": ""}]
        if checks and not evidence.steps:
            expected = expected + " | checks: " + "; ".join(checks)
        call = phases.get("call")
        actual = ("as expected: every assertion held" if outcome == "passed"
                  else (failure.strip().splitlines() or [outcome])[-1][:500])
        record = {
            "nodeid": nodeid, "line": line, "script": source,
            "script_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
            "file": item.nodeid.split("::")[0], "title": _humanize(item), "doc": doc,
            "requirements": [rid for rid in ids if rid.startswith("URS-")],
            "regulatory": [rid for rid in ids if not rid.startswith("URS-")],
            "risk_priority": _risk_priority(ids), "browser": _uses_browser(item),
            "steps": steps, "expected": expected, "actual": actual, "outcome": outcome, "failure": failure,
            "started_at": self.started.get(nodeid, _utc()), "finished_at": _utc(),
            "duration_s": round(sum(r.duration for r in phases.values()), 3),
            "call_duration_s": round(call.duration, 3) if call else 0.0,
            "evidence": [dict(f, path=str(Path(f["path"]).relative_to(self.folder))) for f in evidence.files],
        }
        with (self.folder / RECORDS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self.done += 1
        self._progress()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._write_run(started_at=None, finished_at=_utc(), exitstatus=int(exitstatus))
