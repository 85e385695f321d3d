"""The library's operators are registered wherever processes run or are checked."""
import subprocess
import sys

from engine.operators import REGISTRY


def test_gmp_commands_know_the_equipment_operators():
    code = ("import cli, sys\n"
            "from click.testing import CliRunner\n"
            "CliRunner().invoke(cli.gmp, ['config', '--help'])\n"
            "from engine.operators import REGISTRY\n"
            "print(sorted(n for n in REGISTRY.names() if n.startswith('equipment.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "equipment.read_tag" in out and "equipment.sample_tags" in out


def test_the_web_application_binds_the_operators(settings):
    import connectors.operators as ops
    from app import create_app

    app = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url})
    try:
        assert "equipment.write_tag" in REGISTRY.names()
        assert ops._environment is not None and ops._environment.db is app.extensions["gmp.db"]
    finally:
        app.extensions["gmp.db"].dispose()
