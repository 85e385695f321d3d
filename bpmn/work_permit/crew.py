"""The crew of a permit: each member approved to work on site and trained for the work.

A crew member is a person with a user account. Approved means: the account is active (not
locked, deactivated or pending enrolment), the identity was verified, and the account has
not expired. Contractors are the people holding the `contractor` role: their account must
carry an end date (the end of their contract) that covers the permit's time window, and
they must hold the contractor site induction as well. Trained means: a current
qualification on the version in force of every SOP the work type requires
(rules.requirements), read from the training records exactly as the training gate reads
them (masterdata.checks.training_problems) — for contractors as for employees.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable, Mapping

from sqlalchemy.orm import Session

from bpmn.work_permit import rules
from forms.errors import N_
from masterdata import checks
from masterdata.signed import today as product_today
from signatures.accounts import roles_of
from signatures.models import UserAccount, UserStatus

CREW_CODES = {
    "no_crew": N_("name at least one crew member"),
    "duplicate_member": N_("crew member %(member)s is listed twice"),
    "unknown_member": N_("crew member %(member)s has no user account"),
    "member_inactive": N_("crew member %(name)s may not work under a permit: the account is %(status)s"),
    "member_unverified": N_("crew member %(name)s may not work under a permit: the identity has not been verified"),
    "member_expired": N_("crew member %(name)s may not work under a permit: the account expired on %(until)s"),
    "contractor_no_end": N_("contractor %(name)s has no contract end date on the account: a contractor's access must end"),
    "contractor_ends_early": N_("contractor %(name)s's access ends on %(until)s, before the permit window ends "
                                "(%(window_end)s)"),
    "crew_unknown_sop": N_("%(sop)s is not in the document register in force: nobody can be qualified on it"),
    "crew_not_qualified": N_("crew member %(name)s holds no qualification on %(sop)s v%(version)s "
                             "(effective since %(since)s)"),
    "crew_old_version": N_("crew member %(name)s holds %(sop)s v%(held)s; the work needs v%(version)s, effective "
                           "since %(since)s"),
    "crew_expired": N_("crew member %(name)s's qualification on %(sop)s v%(version)s expired on %(until)s"),
    "crew_revoked": N_("crew member %(name)s's qualification on %(sop)s v%(version)s was revoked on %(revoked)s"),
    "crew_not_yet_valid": N_("crew member %(name)s's qualification on %(sop)s v%(version)s is valid only from "
                             "%(granted)s"),
}


def members(crew: Any) -> list[str]:
    """The user ids of the crew rows (`[{"member": "alice", ...}, ...]`), as given."""
    return [str(row.get("member") or "").strip() for row in (crew or []) if isinstance(row, Mapping)]


def is_contractor(session: Session, user_id: str) -> bool:
    return rules.CONTRACTOR_ROLE in roles_of(session, user_id)


def crew_problems(session: Session, crew: Iterable[Mapping[str, Any]], work_type: str,
                  window_end: datetime | None, on: date | None = None) -> list[checks.Problem]:
    """Everything that stops this crew from working under a permit of `work_type` until `window_end`."""
    ids = members(crew)
    if not [m for m in ids if m]:
        return [checks.Problem("no_crew")]
    problems: list[checks.Problem] = []
    seen: set[str] = set()
    sops = rules.requirements(work_type).sops
    for member in ids:
        if member in seen:
            problems.append(checks.Problem("duplicate_member", {"member": member}))
            continue
        seen.add(member)
        account = session.get(UserAccount, member)
        if account is None:
            problems.append(checks.Problem("unknown_member", {"member": member}))
            continue
        name = account.printed_name
        if account.status != UserStatus.ACTIVE.value:
            problems.append(checks.Problem("member_inactive", {"name": name, "status": account.status}))
            continue
        if account.identity_verified_at is None:
            problems.append(checks.Problem("member_unverified", {"name": name}))
            continue
        today = on or product_today()
        if account.expires_on is not None and account.expires_on < today:
            problems.append(checks.Problem("member_expired", {"name": name, "until": account.expires_on.isoformat()}))
            continue
        needed = list(sops)
        if is_contractor(session, member):
            needed.append(rules.CONTRACTOR_SOP)
            if account.expires_on is None:
                problems.append(checks.Problem("contractor_no_end", {"name": name}))
            elif window_end is not None and account.expires_on < window_end.date():
                problems.append(checks.Problem("contractor_ends_early", {
                    "name": name, "until": account.expires_on.isoformat(), "window_end": window_end.isoformat()}))
        for problem in checks.training_problems(session, member, needed, on=on):
            problems.append(checks.Problem("crew_" + problem.code, dict(problem.params)))
    return problems
