"""`gmp process ...`: process definitions and instances from the command line.

    gmp process check PATH...                 parse and check, store nothing; also bpmnlint's
                                              findings and missing diagram layout (reported only)
    gmp process upload PATH... --reason TEXT  new draft version (as the logged-in user)
    gmp process approve KEY VERSION           QA approval, signed (password + TOTP)
    gmp process list | history KEY | compare KEY OLD NEW
    gmp process start KEY [--business-key BK] [--title T] [--data JSON]
    gmp process instances [--status S] [--process KEY] [--search TEXT] | inspect INSTANCE
    gmp process links INSTANCE [--relation R]... [--process KEY]... [--status S] [--retracted]
    gmp process link INSTANCE RELATION INSTANCE [--reason TEXT] | unlink LINK_ID --reason TEXT

PATH is a folder (every .bpmn, .dmn and .json below it, named relative to it) or files.
INSTANCE is an instance number (12 or #12), PROCESS:BUSINESS_KEY (batch:B-2024-001) or a business
key that only one process uses.
Who acts: the `gmp login` session, else GMP_USER / GMP_PASSWORD / GMP_TOTP, or prompts. Commands go through the same
services (engine.definitions, engine.instances) as the web application, with the engine
runtime the `gmp` command installed for its process (the process library's gates,
properties and operators).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from store.runtime import cli_settings, open_database
from store.uow import UnitOfWork

SUFFIXES = (".bpmn", ".dmn", ".json")


def read_paths(paths: tuple[str, ...]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for item in sorted(path.rglob("*")):
                if item.is_file() and item.suffix.lower() in SUFFIXES:
                    files[item.relative_to(path).as_posix()] = item.read_bytes()
        elif path.is_file():
            files[path.name] = path.read_bytes()
        else:
            raise click.BadParameter(f"{raw}: no such file or folder")
    return files




def _with_db(fn: Callable[[Any, Any], Any]) -> Any:
    settings = cli_settings()
    db = open_database(settings)
    try:
        return fn(db, settings)
    finally:
        db.dispose()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


@click.group()
def process() -> None:
    """Process definitions (change-controlled) and instances."""


@process.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--process", "process_id", help="the process to run, if the files define several")
@click.option("--role", "extra_roles", multiple=True, help="a role lanes may name besides the known ones (repeatable)")
def check_cmd(paths: tuple[str, ...], process_id: str | None, extra_roles: tuple[str, ...]) -> None:
    """Parse and check a definition without storing it (no database needed).

    Lanes are checked against the seeded role catalogue, the site's roles when the configured
    database is migrated, and --role.
    """
    from engine.definitions import configured_roles, validate_upload
    from engine.ports import default_services
    from store.schema import schema_state

    settings = cli_settings()
    files = read_paths(paths)
    seeded = _seeded_roles()
    if not schema_state(settings.database_url).is_current:
        bundle = validate_upload(files, roles=seeded | set(extra_roles), services=default_services(settings),
                                 process_id=process_id)
        source = "the seeded role catalogue (the configured database is not migrated)"
    else:
        db = open_database(settings)
        try:
            with db.session() as session:
                bundle = validate_upload(files, roles=seeded | configured_roles(session) | set(extra_roles),
                                         services=default_services(settings), process_id=process_id,
                                         session=session)
        finally:
            db.dispose()
        source = "the seeded catalogue and the site's roles"
    click.echo(f"ok: process '{bundle.process_id}' ({len(bundle.files)} files) passes every check (roles: {source})")
    report_diagram_findings(bundle.files)


def _seeded_roles() -> set[str]:
    """The seeded role catalogue (empty when the signatures package is not installed)."""
    try:
        from signatures.catalogue import SEED_ROLES
    except ModuleNotFoundError:
        return set()
    return set(SEED_ROLES)


def report_diagram_findings(files: dict[str, bytes]) -> None:
    """bpmnlint's findings and missing layout: reported, not needed to run (engine.diagram_lint)."""
    from engine.diagram_lint import diagram_findings

    findings, version = diagram_findings(files)
    linted = f"bpmnlint {version} (recommended rules)" if version else \
        "bpmnlint is not installed (npm ci --prefix tools/bpmnlint), layout only"
    if not findings:
        click.echo(f"diagram: {linted}: nothing to report")
        return
    click.echo(f"diagram: {linted}: {len(findings)} finding(s); the process runs, but a diagram to ship "
               "should have none:")
    for finding in findings:
        click.echo(f"  {finding}")


@process.command("upload")
@click.argument("paths", nargs=-1, required=True)
@click.option("--reason", required=True, help="why this change is made (change-control reference)")
@click.option("--process", "process_id", help="the process to run, if the files define several")
def upload_cmd(paths: tuple[str, ...], reason: str, process_id: str | None) -> None:
    """Upload a new draft version of a process definition."""
    from engine.definitions import upload
    from engine.ports import default_services

    files = read_paths(paths)

    def work(db: Any, settings: Any) -> None:
        from signatures.cli_session import person_at_terminal

        with person_at_terminal(db, settings) as person:
            with UnitOfWork(db, person.actor) as uow:
                version = upload(uow, files, reason=reason, process_id=process_id,
                                 services=default_services(settings))
                uow.commit()
        click.echo(f"draft version {version.version} stored (id {version.id}); it needs a QA approval to be used")
    _with_db(work)


@process.command("approve")
@click.argument("key")
@click.argument("version", type=int)
@click.option("--reason", help="approval comment")
def approve_cmd(key: str, version: int, reason: str | None) -> None:
    """Approve a draft version with your electronic signature (meaning 'approved')."""
    from engine.definitions import APPROVAL_MEANING, approve, find_version
    from engine.ports import SignatureInput, default_services
    from signatures.cli_session import signer_at_terminal

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            target = find_version(session, key, version)
        signer = signer_at_terminal(db, settings)
        click.echo(f"Signing {key} v{version} with meaning '{APPROVAL_MEANING}' as {signer.actor.printed_name}",
                   err=True)
        with UnitOfWork(db, signer.actor) as uow:  # signer.credentials: prechecked at the terminal
            approve(uow, target.id, SignatureInput.of(APPROVAL_MEANING, signer.credentials),
                    services=default_services(settings, signer.session_id), reason=reason)
            uow.commit()
        click.echo(f"{key} v{version} approved")
    _with_db(work)


@process.command("list")
def list_cmd() -> None:
    """Definitions and their versions."""
    from engine.definitions import list_definitions

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            for item in list_definitions(session):
                versions = ", ".join(f"v{v['version']} {v['status']}" for v in item["versions"])
                click.echo(f"{item['key']}\t{item['name']}\t{versions}")
    _with_db(work)


@process.command("history")
@click.argument("key")
def history_cmd(key: str) -> None:
    """Who changed what, when and why."""
    from engine.definitions import history

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            _echo_json(history(session, key))
    _with_db(work)


@process.command("compare")
@click.argument("key")
@click.argument("old", type=int)
@click.argument("new", type=int)
def compare_cmd(key: str, old: int, new: int) -> None:
    """Elements added, removed and changed between two versions."""
    from engine.definitions import compare_versions

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            _echo_json(compare_versions(session, key, old, new).as_dict())
    _with_db(work)


def instance_ref(session: Any, text: str) -> int:
    """12, #12, PROCESS:BUSINESS_KEY or a business key -> the instance number (a bad reference is a usage error)."""
    from engine.business_keys import instance_by_reference
    from engine.errors import EngineError

    try:
        return instance_by_reference(session, text)
    except EngineError as exc:
        raise click.BadParameter(str(exc)) from exc


@process.command("start")
@click.argument("key")
@click.option("--business-key", help="batch, deviation or document number (unique per process)")
@click.option("--title", help="title of the new instance (default: the process name)")
@click.option("--data", "data_json", help="start data as a JSON object, or @FILE")
def start_cmd(key: str, business_key: str | None, title: str | None, data_json: str | None) -> None:
    """Start an instance of the approved version of a process (as the logged-in user)."""
    from engine.instances import start

    data: dict[str, Any] = {}
    if data_json:
        raw = Path(data_json[1:]).read_text(encoding="utf-8") if data_json.startswith("@") else data_json
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise click.BadParameter(f"--data is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise click.BadParameter("--data must be a JSON object")

    def work(db: Any, settings: Any) -> None:
        from signatures.cli_session import person_at_terminal

        with person_at_terminal(db, settings) as person, UnitOfWork(db, person.actor) as uow:
            instance = start(uow, key, title=title, data=data, business_key=business_key, settings=settings)
            uow.commit()
            number = instance.id
        with db.session() as session:
            from engine.business_keys import key_of

            shown = key_of(session, number)
        click.echo(f"instance {number} of {key} started" + (f" (business key {shown})" if shown else ""))
    _with_db(work)


@process.command("instances")
@click.option("--status", type=click.Choice(["running", "completed", "cancelled", "error"]))
@click.option("--process", "key", help="only instances of this process")
@click.option("--search", help="business key or title contains this text, or it is the instance number")
def instances_cmd(status: str | None, key: str | None, search: str | None) -> None:
    """Process instances: number, process, status, business key, title."""
    from engine.instances import list_instances

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            for item in list_instances(session, status=status, key=key, search=search):
                click.echo(f"{item['id']}\t{item['process']} v{item['version']}\t{item['status']}\t"
                           f"{item['business_key'] or '-'}\t{item['title']}")
    _with_db(work)


@process.command("inspect")
@click.argument("instance")
def inspect_cmd(instance: str) -> None:
    """One instance with its business key, tasks, data and links."""
    from engine.instances import inspect
    from engine.links import related

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            number = instance_ref(session, instance)
            view = inspect(session, number)
            view["links"] = [r.as_dict() for r in related(session, number, include_retracted=True)]
            _echo_json(view)
    _with_db(work)


@process.command("links")
@click.argument("instance")
@click.option("--relation", "relations", multiple=True,
              help="this instance's relation to the other: raised_from, raised, affects, affected_by, started_by, "
                   "started, caused, caused_by (repeatable)")
@click.option("--process", "processes", multiple=True, help="only other instances of this process (repeatable)")
@click.option("--status", type=click.Choice(["running", "completed", "cancelled", "error"]))
@click.option("--retracted", is_flag=True, help="include retracted links")
def links_cmd(instance: str, relations: tuple[str, ...], processes: tuple[str, ...], status: str | None,
              retracted: bool) -> None:
    """Instances linked to INSTANCE, e.g. a batch's open deviations:
    gmp process links batch:B-7 --relation raised --relation affected_by --process deviation --status running"""
    from engine.links import related

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            number = instance_ref(session, instance)
            for r in related(session, number, relation=relations or None, process=processes or None, status=status,
                             include_retracted=retracted):
                flag = f"\tretracted {r.retracted['at']} by {r.retracted['by']}" if r.retracted else ""
                click.echo(f"{r.link_id}\t{r.relation}\t{r.instance_id}\t{r.process}\t{r.status}\t"
                           f"{r.business_key or '-'}\t{r.title}{flag}")
    _with_db(work)


@process.command("link")
@click.argument("subject")
@click.argument("relation")
@click.argument("other")
@click.option("--reason", help="why the two are linked (recorded with the link)")
def link_cmd(subject: str, relation: str, other: str, reason: str | None) -> None:
    """Link two instances: SUBJECT RELATION OTHER, e.g. dev:DEV-7 affects batch:B-8 (as the logged-in user)."""
    from engine.links import link

    def work(db: Any, settings: Any) -> None:
        with db.session() as session:
            first, second = instance_ref(session, subject), instance_ref(session, other)
        from signatures.cli_session import person_at_terminal

        with person_at_terminal(db, settings) as person, UnitOfWork(db, person.actor) as uow:
            made = link(uow, first, relation, second, reason=reason)
            uow.commit()
        click.echo(f"link {made.id}: instance {made.source_id} {made.kind} instance {made.target_id}")
    _with_db(work)


@process.command("unlink")
@click.argument("link_id", type=int)
@click.option("--reason", required=True, help="why the link was made in error")
def unlink_cmd(link_id: int, reason: str) -> None:
    """Retract a link made in error (the link stays on record, marked retracted)."""
    from engine.links import retract

    def work(db: Any, settings: Any) -> None:
        from signatures.cli_session import person_at_terminal

        with person_at_terminal(db, settings) as person, UnitOfWork(db, person.actor) as uow:
            retract(uow, link_id, reason)
            uow.commit()
        click.echo(f"link {link_id} retracted")
    _with_db(work)
