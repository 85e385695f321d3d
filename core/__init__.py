"""Shared foundations: configuration, the one clock, the error root.

Rule: nothing in core/ imports Flask or any package above it.
"""
