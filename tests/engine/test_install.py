"""engine.install.build_runtime: what building a process's runtime does beyond its registries."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_runtime_configures_the_orm_mappers():
    """A fresh process: importing the engine leaves its models' mappers unconfigured (SQLAlchemy
    would configure them all at the first query: the first cold load of an instance or a web
    worker's first request); building the runtime at process start configures them."""
    code = ("from engine import definitions, persistence\n"
            "from store.models import Base\n"
            "mappers = list(Base.registry.mappers)\n"
            "print(len(mappers), sum(m.configured for m in mappers))\n"
            "from engine.install import build_runtime\n"
            "build_runtime()\n"
            "print(len(mappers), sum(m.configured for m in mappers))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True).stdout.split("\n")
    count, configured = map(int, out[0].split())
    assert count >= 20 and configured == 0
    assert out[1] == f"{count} {count}"
