"""Signature meanings (P11-50a), with English and Chinese labels.

More meanings come from configuration (`extra_meanings` in the signing rules); a
meaning is always named by its lower-case value, e.g. "read_and_understood".
"""
from __future__ import annotations

import enum


class Meaning(str, enum.Enum):
    AUTHORED = "authored"
    PERFORMED = "performed"
    VERIFIED = "verified"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    RELEASED = "released"
    REJECTED = "rejected"
    READ_AND_UNDERSTOOD = "read_and_understood"
    CORRECTED = "corrected"
    EXECUTED = "executed"
    CLOSED = "closed"
    HANDED_BACK = "handed_back"
    CREATED = "created"
    CLASSIFIED = "classified"
    ASSESSED = "assessed"

    @property
    def label_en(self) -> str:
        return LABELS[self.value][0]

    @property
    def label_zh(self) -> str:
        return LABELS[self.value][1]


LABELS: dict[str, tuple[str, str]] = {
    "authored": ("Authored", "编写"),
    "performed": ("Performed", "操作"),
    "verified": ("Verified", "复核"),
    "reviewed": ("Reviewed", "审核"),
    "approved": ("Approved", "批准"),
    "released": ("Released", "放行"),
    "rejected": ("Rejected", "拒绝"),
    "read_and_understood": ("Read and understood", "已阅读并理解"),
    "corrected": ("Corrected", "更正"),
    "executed": ("Executed", "执行"),
    "closed": ("Closed", "关闭"),
    "handed_back": ("Handed back", "交回"),
    "created": ("Created", "创建"),
    "classified": ("Classified", "分类"),
    "assessed": ("Assessed", "评估"),
}


def labels(meaning: str, extra: dict[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """(English, Chinese) label of a built-in or configured meaning."""
    found = LABELS.get(meaning) or (extra or {}).get(meaning)
    if found is None:
        from signatures.errors import UnknownMeaning

        raise UnknownMeaning(f"unknown signature meaning {meaning!r}")
    return found
