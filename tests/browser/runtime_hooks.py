"""Test-only additions to the browser tests' server runtime (tests.browser.server RUNTIME_HOOK)."""
from __future__ import annotations

from typing import Any


def scale_gate(runtime: Any) -> None:
    """The test gate `scale_certified`: alice is not certified on the scale."""
    from tests.web.test_operator import register_scale_gate

    register_scale_gate(runtime)


def widget_kind(runtime: Any) -> None:
    """A test kind of controlled data (the master data pages are generic over the catalogue)."""
    from tests.masterdata.test_changes import WIDGET

    runtime.changes.register(WIDGET)
