"""The package's public names: each is its module's object, imported when first used."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import winback as wb


def test_every_public_name_is_its_modules_object():
    assert sorted(wb.__all__) == sorted(wb._EXPORTS)
    for info in pkgutil.walk_packages(wb.__path__, "winback."):  # none hides a public name
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for name in wb.__all__:
        module = importlib.import_module(wb._EXPORTS[name])
        assert getattr(wb, name) is getattr(module, name)
    assert set(wb.__all__) <= set(dir(wb))


def test_submodules_are_reachable_and_unknown_names_are_errors():
    assert wb.store.has_table is importlib.import_module("winback.store").has_table
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        wb.no_such_name  # noqa: B018
    assert not hasattr(wb, "no_such_name")


def test_importing_the_package_imports_no_heavy_library():
    code = ("import sys, winback\n"
            "print(sorted(m for m in ('duckdb', 'scipy', 'matplotlib', 'winback.clv')"
            " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
