from core.errors import GmpError


class AuditError(GmpError):
    """Root of audit-trail errors."""


class ChainBroken(AuditError):
    """Verification found an entry that does not match the chain or its columns."""

    def __init__(self, seq: int, what: str, expected: object, found: object) -> None:
        super().__init__(f"audit entry {seq}: {what}: expected {expected!r}, found {found!r}",
                         seq=seq, what=what, expected=expected, found=found)
        self.seq = seq
        self.what = what
        self.expected = expected
        self.found = found
