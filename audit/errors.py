"""Errors of the audit trail: one root, specific subclasses."""
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


class CheckpointInvalid(AuditError):
    """A checkpoint's signature does not verify, or its key is unknown or untrusted."""


class CheckpointLogCorrupt(AuditError):
    """The checkpoint log file holds a line that is not a checkpoint."""


class EmptyTrail(AuditError):
    """The operation needs at least one audit entry."""


class ExportError(AuditError):
    """An export cannot be produced (bad filter, too many entries for a PDF, ...)."""


class ExportInvalid(AuditError):
    """An export file does not verify or is not in the documented format."""


class ExportUnanchored(ExportInvalid):
    """An export whose entries no signature covers, or that cannot prove its completeness (version 1)."""


class ReviewError(AuditError):
    """An audit-trail review names a range that does not exist."""


class BackupError(AuditError):
    """A backup cannot be taken or a backup file is damaged or unsuitable."""


class RestoreError(AuditError):
    """A restore cannot proceed (target not empty, wrong order, schema mismatch)."""
