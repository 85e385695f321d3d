"""Hash-chained, append-only audit trail (P11-10e, A11-9).

Rule: audit/ imports only core/ and store/base; it never imports signatures/,
engine/ or Flask. Signatures write audit entries, not the other way round.
"""
from audit.canonical import SYSTEM, Actor, AuditEvent

__all__ = ["Actor", "AuditEvent", "SYSTEM"]
