"""Params: merge default <- engagement <- overrides, validate once, hand one object to every stage.

Every knob lives in ``params/default.yaml`` with a comment; an engagement overlay
(``params/<engagement>.yaml``) changes only what differs, and command-line
overrides (``key.sub=value``) come last. The merged mapping is validated against
the section models below and the modules that own each section: an unknown key
names the closest valid key, a wrong type or out-of-range value names the key,
the value and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "ParamsError",
    "Section",
    "Params",
    "find_root",
    "load_params",
    "merge",
    "parse_override",
    "validate_params",
]


class ParamsError(ValueError):
    """A params file or override is invalid; the message says which key and what is allowed."""


class Section(BaseModel):
    """Base for every params section: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    # Pickled with the names of the fields set in sorted order, not as a set: a set's order
    # follows the process's string hashing, and a fitted model holding its params (kept in
    # the store) must pickle to the same bytes in every run.
    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        return {**state, "__pydantic_fields_set__": sorted(state["__pydantic_fields_set__"])}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__({**state,
                              "__pydantic_fields_set__": set(state["__pydantic_fields_set__"])})


# section name -> "module:ClassName". Each section model lives beside the code that
# uses it, named like that code (``tiering`` params for ``winback.tiers``).
SECTIONS: dict[str, str] = {
    "engagement": "winback.settings:EngagementParams",
    "run": "winback.settings:RunParams",
    "demo": "winback.settings:DemoParams",
    "sources": "winback.sources:SourcesParams",
    "validation": "winback.contract:ValidationParams",
    "snapshot": "winback.snapshot:SnapshotParams",
    "churn": "winback.churn:ChurnParams",
    "evaluation": "winback.evaluation:EvaluationParams",
    "kpis": "winback.kpis:KpisParams",
    "tiering": "winback.tiers:TieringParams",
    "reasons": "winback.reasons:ReasonsParams",
    "warning": "winback.warning:WarningParams",
    "strategy": "winback.strategy:StrategyParams",
    "schedule": "winback.schedule:ScheduleParams",
    "report": "winback.messages:ReportParams",
    "privacy": "winback.privacy:PrivacyParams",
}


def _section_model(path: str) -> type[Section]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _root_model() -> type[BaseModel]:
    return _root_model_of(tuple(SECTIONS.items()))


@functools.cache
def _root_model_of(sections: tuple[tuple[str, str], ...]) -> type[BaseModel]:
    from pydantic import create_model

    fields = {name: (_section_model(path), ...) for name, path in sections}
    return create_model("Params", __base__=Section, **fields)


class Params:
    """The validated, merged params of one run. Attribute access by section (``params.churn.weights``).

    ``raw`` keeps the merged mapping as plain YAML data (for the manifest); ``files`` lists
    what was merged, in order.
    """

    def __init__(self, model: BaseModel, raw: dict[str, Any], files: list[str]):
        self._model = model
        self.raw = raw
        self.files = files

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._model, name)

    def __repr__(self) -> str:
        eng = self.raw.get("engagement", {}).get("name", "?")
        return f"Params(engagement={eng!r}, from={self.files})"


def find_root(start: Path | None = None) -> Path:
    """The kit's root folder (the one holding ``params/default.yaml``).

    ``WINBACK_ROOT`` wins; otherwise walk up from ``start`` (default: the working
    directory, which is ``notebooks/`` in JupyterLab and under papermill).
    """
    env = os.environ.get("WINBACK_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params" / "default.yaml").is_file():
            return folder
    # Installed in editable mode from the repository: lib/winback/config.py -> root.
    guess = Path(__file__).resolve().parents[2]
    if (guess / "params" / "default.yaml").is_file():
        return guess
    raise ParamsError(
        "Cannot find the kit's root (a folder with params/default.yaml) from "
        f"{here}. Run from inside the kit or set WINBACK_ROOT."
    )


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overlay`` onto ``base`` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in (overlay or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``"tiering.n_tiers=4"`` -> ``{"tiering": {"n_tiers": 4}}``; the value is read as YAML."""
    if "=" not in text:
        raise ParamsError(f"Override {text!r} is not of the form section.key=value.")
    dotted, value = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ParamsError(f"Override {text!r} names no key.")
    node: dict[str, Any] = {}
    out = node
    for key in keys[:-1]:
        node[key] = {}
        node = node[key]
    try:
        node[keys[-1]] = yaml.safe_load(value) if value.strip() else None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. a date like 2024-13-01
        raise ParamsError(f"Override {text!r}: the value {value!r} is not valid YAML "
                          f"({_first_line(exc)}); quote it to pass a string.") from None
    return out


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# libyaml's parser when PyYAML was built with it (same safe constructor, ten times faster);
# a file it refuses is parsed again by the pure-Python parser, whose messages show the line.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _safe_load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
        return yaml.safe_load(text)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = _safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc}).") from None
    except ValueError as exc:  # the YAML parses, but a value cannot be built (2024-13-01)
        raise ParamsError(f"{path}: a value cannot be read ({_first_line(exc)}); quote dates "
                          "and other values that are meant as text.") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level.")
    return data


def _dig(data: Any, loc: tuple[Any, ...]) -> Any:
    for key in loc:
        if isinstance(data, dict) and key in data or isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``loc`` (for closest-key hints)."""
    import typing

    current: Any = model
    for key in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *typing.get_args(ann)]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _explain(exc: ValidationError, raw: dict[str, Any], root: type[BaseModel]) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            valid = sorted(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
            hint = f" Did you mean {'.'.join(map(str, loc[:-1] + (close[0],)))!r}?" if close else ""
            lines.append(f"- unknown key {key!r}.{hint} Valid keys here: {', '.join(valid)}.")
        elif err["type"] == "missing":
            lines.append(f"- missing key {key!r}: add it (see params/default.yaml).")
        else:
            value = _dig(raw, loc)
            msg = str(err["msg"]).removeprefix("Value error, ")
            shown = "" if isinstance(value, dict | list) and len(repr(value)) > 60 else (
                f" = {value!r}")
            lines.append(f"- {key}{shown}: {msg.rstrip('.')}.")
    return "Invalid params:\n" + "\n".join(lines)


def validate_params(raw: dict[str, Any], files: list[str] | None = None) -> Params:
    """Validate a merged params mapping; raise :class:`ParamsError` listing every problem."""
    root = _root_model()
    try:
        model = root.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_explain(exc, raw, root)) from None
    return Params(model, raw, files or [])


def load_params(
    engagement: str | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    root: Path | None = None,
) -> Params:
    """Load ``params/default.yaml``, the engagement overlay and overrides; validate once.

    Parameters
    ----------
    engagement
        Name of the overlay ``params/<engagement>.yaml``; ``None`` uses defaults only.
    overrides
        ``["section.key=value", ...]`` strings (as given on the command line) or a nested dict.
    root
        The kit's root; found from the working directory when not given.
    """
    root = root or find_root()
    default = root / "params" / "default.yaml"
    raw = _read_yaml(default)
    used = [str(default.relative_to(root))]
    if engagement:
        overlay = root / "params" / f"{engagement}.yaml"
        if not overlay.is_file():
            known = sorted(p.stem for p in (root / "params").glob("*.yaml") if p.stem != "default")
            raise ParamsError(
                f"No params overlay for engagement {engagement!r}: {overlay} does not exist. "
                f"Known engagements: {', '.join(known) or 'none'}."
            )
        raw = merge(raw, _read_yaml(overlay))
        used.append(str(overlay.relative_to(root)))
    if isinstance(overrides, dict):
        raw = merge(raw, overrides)
        used.append("overrides")
    elif overrides:
        for text in overrides:
            raw = merge(raw, parse_override(text))
        used.append("overrides")
    return validate_params(raw, used)
