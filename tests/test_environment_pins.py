"""environment.yml and pyproject.toml pin the same versions of the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*==\s*([^\s;]+)\s*$")


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = PIN.match(req)
        assert m, f"{req!r} is not pinned with == (every dependency is pinned)"
        out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return _pins(reqs)


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return _pins([r for r in pip if not r.startswith("-e")])


def test_every_pyproject_pin_is_in_environment_yml_with_the_same_version():
    assert environment_pins() == pyproject_pins()


def test_pins_parser_rejects_an_unpinned_requirement():
    import pytest

    with pytest.raises(AssertionError, match="not pinned"):
        _pins(["pandas>=2"])


def test_environment_python_matches_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and python == "python=3.11"
