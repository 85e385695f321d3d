"""Canonical encoding of audit entries and the chain hash (implemented in store.canonical,
where every unit of work reaches it; docs/audit-export-format.md specifies it)."""
from store.canonical import (
    DOMAIN,
    FORMAT_VERSION,
    GENESIS_HASH,
    SYSTEM,
    Actor,
    AuditEvent,
    canonical_bytes,
    chain_hash,
    content_digest,
    decimal_text,
    dumps,
    entry_document,
    jsonable,
)

__all__ = ["DOMAIN", "FORMAT_VERSION", "GENESIS_HASH", "SYSTEM", "Actor", "AuditEvent", "canonical_bytes", "chain_hash",
           "content_digest", "decimal_text", "dumps", "entry_document", "jsonable"]
