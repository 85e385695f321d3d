"""Test-only additions to the browser tests' server runtime (tests.browser.server RUNTIME_HOOK)."""
from __future__ import annotations

from typing import Any


def scale_gate(runtime: Any) -> None:
    """The test gate `scale_certified`: alice is not certified on the scale."""
    from tests.web.test_operator import register_scale_gate

    register_scale_gate(runtime)


def training_gate(runtime: Any) -> None:
    """A stand-in for the master data's training gate (everyone qualified)."""
    from engine.gates import Gate

    runtime.gates.register(Gate("training", lambda ctx: None, consumes=("qualification.sops",),
                                codes={"not_qualified": "%(user)s is not qualified on %(sops)s"}))
