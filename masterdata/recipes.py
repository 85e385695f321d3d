"""Master recipes as a batch reads them: a batch is ordered only from a recipe in force.

    revision = recipe_for_order(session, "RCP-PARA-500")    # RecordStateError if none is in force
    instance data: {"recipe": revision.key, "recipe_revision": revision.revision, ...}

A batch that records `recipe_revision` keeps that revision for its whole life (the gates
read it: masterdata.checks.recipe_of), even when a later revision takes effect meanwhile.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from masterdata import changes
from masterdata.errors import RecordStateError


def recipe_for_order(session: Session, code: str) -> changes.Revision:
    """The revision of master recipe `code` in force now; refused when there is none."""
    found = changes.effective(session, "recipe", code)
    if found is None:
        history = changes.history(session, "recipe", code)
        if not history:
            raise RecordStateError(f"no master recipe {code!r}")
        states = ", ".join(f"r{c.revision} {c.state_at()}" for c in history)
        raise RecordStateError(f"master recipe {code} has no revision in force ({states}): a batch is ordered "
                               "only from an effective recipe")
    return found


def order_data(session: Session, code: str) -> dict[str, object]:
    """The instance data a batch order starts with: the recipe pinned at its revision in force."""
    found = recipe_for_order(session, code)
    return {"recipe": found.key, "recipe_revision": found.revision, "product": found.data["product"],
            "batch_size": found.data["batch_size"]}
