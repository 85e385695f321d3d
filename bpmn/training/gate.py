"""The training process's gates.

`not_trainee`: the trainer who assesses the practical and the person who approves the
qualification are not the trainee (four eyes, P11-10i / A11-12). A task names it in its `gates`
property; it reads the trainee from the instance data (`curriculum.trainee`, else
`training.trainee`) and decides at claim, open and completion.

`current_document`: the read-and-understood signature names the document version it is for:
the form's `document_read` must be the version being studied ("SOP-PRD-012 v5"), so the signed
record binds the signature to that version. Decides at completion."""
from __future__ import annotations

from typing import Any, Mapping

from engine.gates import Gate, GateContext
from forms.errors import N_

NOT_TRAINEE_GATE = "not_trainee"
CURRENT_DOCUMENT_GATE = "current_document"
CODES = {"trainee_self": N_("%(name)s is the trainee of this training: another person must do '%(task)s'")}
DOCUMENT_CODES = {"wrong_document": N_("this step is for %(expected)s: confirm that version (%(given)s was given)")}


def trainee_of(data: Mapping[str, Any]) -> str | None:
    for key in ("curriculum", "training"):
        value = data.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("trainee"), str):
            return str(value["trainee"])
    return None


def _check(ctx: GateContext) -> None:
    from signatures.models import UserAccount

    trainee = trainee_of(ctx.instance_data)
    if trainee is not None and trainee == ctx.user_id:
        user = ctx.uow.session.get(UserAccount, ctx.user_id)
        raise ctx.refuse("trainee_self", name=user.printed_name if user is not None else ctx.user_id)


GATE = Gate(NOT_TRAINEE_GATE, _check, codes=CODES,
            description="the person is not the trainee of the training (four eyes on assessment and approval)")


def studied(data: Mapping[str, Any]) -> str | None:
    """How the document being studied is named on the form: 'SOP-PRD-012 v5'."""
    document = data.get("document")
    if isinstance(document, Mapping) and document.get("code"):
        return f"{document['code']} v{document.get('version')}"
    return None


def _check_document(ctx: GateContext) -> None:
    expected = studied(ctx.instance_data)
    given = str(ctx.data.get("document_read") or "").strip()
    if expected is not None and given != expected:
        raise ctx.refuse("wrong_document", expected=expected, given=given or "nothing")


DOCUMENT_GATE = Gate(CURRENT_DOCUMENT_GATE, _check_document, codes=DOCUMENT_CODES, stages=("complete",),
                     description="the read-and-understood signature names the document version being studied")
