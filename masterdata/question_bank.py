"""A document's training content as the training process reads it: its question bank, pass
mark, attempts allowed and whether a practical assessment is required (fields of the
`document` kind, masterdata.kinds).

    bank = question_bank(session, "SOP-PRD-012")        # the version in force
    bank = question_bank(session, "SOP-PRD-012", 5)     # one version of the register (approved,
                                                        # also for a later effective date)
    bank.has_exam, bank.questions[0].choices, bank.pass_mark_pct, bank.max_attempts, bank.practical

A version is read from the register's approved revisions (people train on a version before
it takes effect); a draft or a withdrawn revision is never read. Without questions the
document has no exam (training is read-and-understood, plus the practical when required).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy.orm import Session

from masterdata import changes
from masterdata.errors import RecordNotFound

DEFAULT_PASS_MARK_PCT = 80
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Question:
    text: str
    text_zh: str
    choices: tuple[str, ...]
    choices_zh: tuple[str, ...]
    answer: int

    def choice(self, index: int, lang: str = "en") -> str:
        if lang == "zh" and self.choices_zh:
            return self.choices_zh[index]
        return self.choices[index]

    def wording(self, lang: str = "en") -> str:
        return self.text_zh if lang == "zh" and self.text_zh else self.text


@dataclass(frozen=True)
class QuestionBank:
    code: str
    version: int
    title: str
    title_zh: str
    type: str
    questions: tuple[Question, ...]
    pass_mark_pct: int
    max_attempts: int
    practical: bool
    change_id: int

    @property
    def has_exam(self) -> bool:
        return bool(self.questions)


def _question(item: Mapping[str, Any]) -> Question:
    return Question(str(item["text"]), str(item.get("text_zh") or ""), tuple(item["choices"]),
                    tuple(item.get("choices_zh") or ()), int(item["answer"]))


def bank_of(code: str, data: Mapping[str, Any], change_id: int) -> QuestionBank:
    """The question bank in one revision's data of the `document` kind."""
    return QuestionBank(code, int(data["version"]), str(data.get("title") or code), str(data.get("title_zh") or ""),
                        str(data.get("type") or ""), tuple(_question(q) for q in data.get("questions") or ()),
                        int(data.get("pass_mark_pct") or DEFAULT_PASS_MARK_PCT),
                        int(data.get("max_attempts") or DEFAULT_MAX_ATTEMPTS), bool(data.get("practical", False)),
                        change_id)


def register_revision(session: Session, code: str, version: int | None = None) -> tuple[dict[str, Any], int]:
    """(data, change id) of document `code`: the version in force, or version `version` as the register
    holds it (the latest approved revision of that version)."""
    if version is None:
        found = changes.effective(session, "document", code)
        if found is None:
            raise RecordNotFound(f"document {code} is not in force in the document register")
        return found.data, found.change_id
    held = [c for c in changes.history(session, "document", code)
            if c.status in changes.IN_FORCE_STATUSES and c.action != "retire" and c.data.get("version") == version]
    if not held:
        versions = sorted({int(c.data["version"]) for c in changes.history(session, "document", code)
                           if c.status in changes.IN_FORCE_STATUSES and c.action != "retire"})
        known = ", ".join(f"v{v}" for v in versions) or "none"
        raise RecordNotFound(f"{code} v{version} is not in the document register (approved versions: {known})")
    return held[-1].data, held[-1].id


def question_bank(session: Session, code: str, version: int | None = None) -> QuestionBank:
    """The training content of document `code` (the version in force, or `version`)."""
    data, change_id = register_revision(session, code, version)
    return bank_of(code, data, change_id)
