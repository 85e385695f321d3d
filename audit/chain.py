"""Appending to the chain (implemented in store.chain, called by the unit of work at commit)."""
from store.chain import HEAD_ID, AppendHook, HeadMissing, append, on_append

__all__ = ["HEAD_ID", "AppendHook", "HeadMissing", "append", "on_append"]
