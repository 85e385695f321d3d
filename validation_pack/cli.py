"""`gmp validation-pack ...`, `gmp oq run` and `gmp oq list`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from core.errors import GmpError
from store.cli import cli_settings


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


def _credentials(user: str, what: str):  # type: ignore[no-untyped-def]
    from signatures.credentials import Credentials

    password = click.prompt(f"{user}: password ({what})", hide_input=True)
    code = click.prompt(f"{user}: TOTP code", hide_input=False)
    return Credentials(user, password, code.strip())


def _echo_progress(stage: str):  # type: ignore[no-untyped-def]
    state = {"last": -1}

    def progress(done: int, total: int) -> None:
        if total and done != state["last"] and (done == total or done % max(1, total // 10) == 0):
            state["last"] = done
            click.echo(f"{stage}: {done}/{total}", err=True)
    return progress


@click.group("validation-pack")
def validation_pack() -> None:
    """The validation pack: DQ, IQ, OQ, PQ, traceability matrix, signed PDFs, diff."""


@validation_pack.command("build")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="new folder for the pack")
@click.option("--quick", is_flag=True, help="quick OQ (one test per requirement) and PQ --quick (2 batches), as in CI")
@click.option("--from-results", type=click.Path(path_type=Path, exists=True), help="an OQ run folder (gmp oq run)")
@click.option("--pq-from", type=click.Path(path_type=Path, exists=True), help="a PQ run folder (gmp validation-pack pq)")
@click.option("--no-pq", is_flag=True, help="leave the PQ out of this pack")
@click.option("--pq-batches", type=int, default=None, help="PQ batches (default: the scenario's declared load)")
@click.option("--executor", default=None, help="user ID of the executor, who signs (executed) after the build")
@click.option("--deviations", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="JSON {test node ID or requirement ID: deviation reference} for non-passing results")
@click.option("--pack-id", default=None, hidden=True, help="the pack's ID (given by the web application)")
@click.option("--actor", default=None, hidden=True, help="user who started the build (web application)")
def build(out: Path, quick: bool, from_results: Path | None, pq_from: Path | None, no_pq: bool,
          pq_batches: int | None, executor: str | None, deviations: Path | None, pack_id: str | None,
          actor: str | None) -> None:
    """Execute IQ, OQ and PQ (or read their results) and write the signed documents."""
    from audit.canonical import Actor
    from validation_pack import pack

    settings = cli_settings()
    try:
        refs = json.loads(deviations.read_text(encoding="utf-8")) if deviations else None
    except ValueError as exc:
        raise click.ClickException(f"{deviations}: not JSON: {exc}") from exc
    if refs is not None and not (isinstance(refs, dict) and all(isinstance(v, str) for v in refs.values())):
        raise click.ClickException(f"{deviations}: expected {{\"test or requirement ID\": \"deviation reference\"}}")
    creds = (lambda: _credentials(executor, "to sign the pack as its executor")) if executor else None
    if executor:
        click.echo(f"{executor} is asked for a password and TOTP code when the pack is ready to be signed", err=True)
    try:
        result = pack.build(settings, out, quick=quick, from_results=from_results, pq_results=pq_from,
                            skip_pq=no_pq, pq_batches=pq_batches, executor=creds, pack_id=pack_id, deviations=refs,
                            actor=Actor(executor or actor, executor or actor) if (executor or actor) else None)
    except GmpError as exc:
        _fail(exc)
    summary = json.loads((out / "json" / "SUMMARY.json").read_text(encoding="utf-8"))
    for doc, entry in summary["documents"].items():
        click.echo(f"{doc}: {entry['verdict']}: {entry['figures']}")
    click.echo(f"pack {result['pack_id']} written to {out}" + ("" if executor else
               " (unsigned: `gmp validation-pack sign` as executor, then as reviewer)"))


@validation_pack.command("sign")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--user", required=True, help="user ID of the signer (validation role)")
@click.option("--meaning", type=click.Choice(["executed", "reviewed"]), required=True)
def sign(folder: Path, user: str, meaning: str) -> None:
    """Sign every document of a pack (executor, then a second person as reviewer)."""
    from validation_pack import pack

    settings = cli_settings()
    creds = _credentials(user, f"to sign the pack ({meaning})")
    try:
        signed = pack.sign_pack(settings, folder, meaning, creds)
    except GmpError as exc:
        _fail(exc)
    click.echo(f"{len(signed)} documents signed '{meaning}' by {signed[0]['printed_name']} at {signed[0]['utc']}")


@validation_pack.command("issue", hidden=True)
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
def issue_cmd(folder: Path) -> None:
    """Re-render the documents of a pack with its current signatures (after a signature)."""
    from validation_pack import pack

    try:
        pack.issue(cli_settings(), folder)
        pack.write_progress(folder, "done", 1, 1)
    except GmpError as exc:
        _fail(exc)
    click.echo(f"issued {folder}")


@validation_pack.command("verify")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
def verify(folder: Path) -> None:
    """Check a pack: evidence hashes, Part 11 signatures, PAdES (pdfsig), file manifest."""
    from validation_pack import pack

    try:
        for line in pack.verify_pack(cli_settings(), folder):
            click.echo(line)
    except GmpError as exc:
        _fail(exc)


@validation_pack.command("diff")
@click.argument("old", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("new", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="folder for DIFF.pdf and diff.json (default: NEW/diff-OLDID)")
def diff(old: Path, new: Path, out: Path | None) -> None:
    """What changed between two packs (requirements, files, tests, results, configuration) as a PDF."""
    from validation_pack.diff import write_diff
    from validation_pack.pack import load_pack

    try:
        target = out or new / f"diff-{load_pack(old)['pack_id']}"
        result = write_diff(cli_settings(), old, new, target)
    except GmpError as exc:
        _fail(exc)
    for section in result["sections"]:
        click.echo(f"{section['title']}: {section['summary']}")
    click.echo(f"written: {target / 'DIFF.pdf'}")


@validation_pack.command("pq")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="new folder for the PQ run")
@click.option("--quick", is_flag=True, help="2 batches (CI); without it the scenario's full declared load")
@click.option("--batches", type=int, default=None)
@click.option("--concurrency", type=int, default=None)
@click.option("--scenario", default="batch_record", show_default=True)
@click.option("--database-url", default=None, help="an empty database for the PQ (default: a fresh SQLite file)")
def pq(out: Path, quick: bool, batches: int | None, concurrency: int | None, scenario: str,
       database_url: str | None) -> None:
    """Run the PQ load on its own (then `build --pq-from`)."""
    from validation_pack.pq import run_pq

    try:
        result = run_pq(out, cli_settings(), scenario=scenario, quick=quick, batches=batches, concurrency=concurrency,
                        database_url=database_url, progress=_echo_progress("PQ batches"))
    except GmpError as exc:
        _fail(exc)
    res = result["result"]
    click.echo(f"PQ {'passed' if result['passed'] else 'FAILED'}: {res['completed']}/{result['batches']} batches, "
               f"{res['batches_per_minute']:.2f} batches/min, {len(res['errors'])} errors, audit trail "
               f"{'verified' if result['audit_verification']['ok'] else 'NOT verified'}")


@validation_pack.command("manifest")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="where to write (default: validation_pack/release_manifest.json, shipped in the release)")
def manifest_cmd(out: Path | None) -> None:
    """Write the release manifest (SHA-256 of every file of the current commit); run when a release is cut."""
    from validation_pack import manifest

    try:
        document = manifest.write_release_manifest(**({"path": out} if out else {}))
    except GmpError as exc:
        _fail(exc)
    click.echo(f"release manifest: {len(document['files'])} files of commit {document['commit']}")


@click.group("oq")
def oq() -> None:
    """Operational qualification."""


@oq.command("run")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="new folder for the OQ run")
@click.option("--quick", is_flag=True, help="one test per user requirement")
@click.option("--backend", type=click.Choice(["sqlite", "postgresql", "all"]), default=None,
              help="database backend of the test databases (default: the installation's)")
@click.option("--database-url", default=None,
              help="an empty database the OQ makes its test databases from (refused if it holds records)")
def oq_run(out: Path, quick: bool, backend: str | None, database_url: str | None) -> None:
    """Run the OQ tests once with evidence against fresh databases, simulators and browser."""
    from validation_pack.oq import run_oq

    try:
        results = run_oq(out, cli_settings(), quick=quick, backend=backend, database_url=database_url,
                         progress=_echo_progress("OQ tests"))
    except GmpError as exc:
        _fail(exc)
    counts = results.counts
    click.echo(f"OQ {'passed' if results.passed else 'FAILED'}: {counts['passed']} passed, {counts['failed']} failed, "
               f"{counts['error']} errors, {counts['skipped']} skipped of {counts['total']}; results in {out} "
               f"(`gmp validation-pack build --from-results {out}`)")
    if not results.passed:
        raise SystemExit(1)


@oq.command("list")
@click.option("--quick", is_flag=True, help="the quick OQ's choice: one test per user requirement")
@click.option("--backend", type=click.Choice(["sqlite", "postgresql", "all"]), default=None,
              help="database backend of the test databases (default: the installation's)")
@click.option("--json", "as_json", is_flag=True, help="every collected test with its requirements and flags, as JSON")
def oq_list(quick: bool, backend: str | None, as_json: bool) -> None:
    """List the tests an OQ run would execute, with their requirements, without running them."""
    from validation_pack.oq import plan_oq

    try:
        inventory = plan_oq(cli_settings(), quick=quick, backend=backend)
    except GmpError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(inventory, indent=1))
        return
    chosen = [entry for entry in inventory if entry["selected"]]
    for entry in chosen:
        click.echo(f"{entry['nodeid']}  {' '.join(entry['requirements'])}")
    click.echo(f"{len(chosen)} of {len(inventory)} collected tests{' (quick OQ)' if quick else ''}")
