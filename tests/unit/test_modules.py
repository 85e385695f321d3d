import pytest

from core.modules import optional_module


def test_an_absent_module_or_package_is_none():
    assert optional_module("gmp_no_such_package.sub") is None
    assert optional_module("engine.no_such_module") is None
    assert optional_module("audit.chain").__name__ == "audit.chain"


def test_an_error_inside_an_existing_module_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "gmp_broken_mod.py").write_text("import gmp_dependency_that_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="gmp_dependency_that_is_missing"):
        optional_module("gmp_broken_mod")
