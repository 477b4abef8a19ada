"""Params: merge order, validation messages, overrides, column mappings."""

from pathlib import Path

import pytest
import yaml

from winback.config import ParamsError, load_params, merge, parse_override
from winback.settings import derive_seed, month_end, month_range

ROOT = Path(__file__).resolve().parents[1]


def test_merge_is_deep_and_leaves_inputs_untouched():
    base = {"a": {"x": 1, "y": 2}, "b": [1, 2]}
    overlay = {"a": {"y": 3}, "b": [9]}
    out = merge(base, overlay)
    assert out == {"a": {"x": 1, "y": 3}, "b": [9]}
    assert base == {"a": {"x": 1, "y": 2}, "b": [1, 2]}


def test_parse_override_reads_yaml_values():
    assert parse_override("run.month=2024-05") == {"run": {"month": "2024-05"}}
    assert parse_override("demo.n_customers=500") == {"demo": {"n_customers": 500}}
    assert parse_override("run.keep_failed=false") == {"run": {"keep_failed": False}}
    with pytest.raises(ParamsError, match="section.key=value"):
        parse_override("run.month")


def test_order_default_then_engagement_then_overrides():
    default = load_params(root=ROOT)
    demo = load_params("demo", root=ROOT)
    over = load_params("demo", ["engagement.language=en"], root=ROOT)
    assert default.engagement.name == "client"
    assert demo.engagement.name == "demo"
    assert demo.engagement.language == "zh"
    assert over.engagement.language == "en"
    assert over.files == ["params/default.yaml", "params/demo.yaml", "overrides"]


def test_unknown_key_names_the_closest_valid_key():
    with pytest.raises(ParamsError) as exc:
        load_params("demo", ["run.mnth=2024-01"], root=ROOT)
    msg = str(exc.value)
    assert "unknown key 'run.mnth'" in msg
    assert "Did you mean 'run.month'?" in msg


def test_unknown_section_names_the_closest_section():
    with pytest.raises(ParamsError, match="Did you mean 'engagement'"):
        load_params("demo", {"engagment": {"name": "x"}}, root=ROOT)


def test_wrong_type_names_key_value_and_what_is_allowed():
    with pytest.raises(ParamsError) as exc:
        load_params("demo", ["demo.n_customers=many"], root=ROOT)
    msg = str(exc.value)
    assert "demo.n_customers = 'many'" in msg and "integer" in msg


def test_out_of_range_names_key_value_and_bound():
    with pytest.raises(ParamsError) as exc:
        load_params("demo", ["demo.n_customers=5"], root=ROOT)
    msg = str(exc.value)
    assert "demo.n_customers = 5" in msg and "greater than or equal to 100" in msg


def test_bad_month_and_bad_choice():
    with pytest.raises(ParamsError, match=r"run.month = '2024-13'.*YYYY-MM"):
        load_params("demo", ["run.month=2024-13"], root=ROOT)
    with pytest.raises(ParamsError, match=r"engagement.language = 'fr'.*'zh' or 'en'"):
        load_params("demo", ["engagement.language=fr"], root=ROOT)


def test_missing_engagement_overlay_lists_known_ones():
    with pytest.raises(ParamsError, match="Known engagements: .*demo"):
        load_params("nosuch", root=ROOT)


def test_every_default_key_is_commented():
    """Each knob of default.yaml carries a comment (repeated keys: at their first use).

    Entries of a commented table (``taxonomy: {price: {zh: ..., en: ...}}``-style rows whose
    value is an inline mapping or list) are data described by their parent's comment.
    """
    lines = (ROOT / "params" / "default.yaml").read_text(encoding="utf-8").splitlines()
    data = yaml.safe_load("\n".join(lines))
    assert data, "default.yaml is empty"
    bare, commented = [], set()
    parents: list[tuple[int, bool]] = []  # (indent, has comment) of the enclosing keys
    for i, line in enumerate(lines):
        text = line.split("#", 1)[0].rstrip()
        if not text.strip() or text.strip().startswith("- "):
            continue
        indent = len(text) - len(text.lstrip())
        while parents and parents[-1][0] >= indent:
            parents.pop()
        key, _, value = text.strip().partition(":")
        value = value.strip()
        has_comment = "#" in line
        if has_comment:
            commented.add(key)
        table_row = value[:1] in ("{", "[") and bool(parents) and parents[-1][1]
        if value not in ("", "|", ">") and not has_comment and key not in commented \
                and not table_row:
            bare.append(f"line {i + 1}: {line.strip()}")
        if value == "":
            parents.append((indent, has_comment))
    assert not bare, "uncommented knobs in default.yaml:\n" + "\n".join(bare)


def test_comment_check_flags_a_bare_knob(tmp_path, monkeypatch):
    """The check above is live: a knob without a comment fails it."""
    import tests.test_config as me

    kit = tmp_path / "kit"
    (kit / "params").mkdir(parents=True)
    (kit / "params" / "default.yaml").write_text("run:\n  month: x\n", encoding="utf-8")
    monkeypatch.setattr(me, "ROOT", kit)
    with pytest.raises(AssertionError, match="line 2: month: x"):
        me.test_every_default_key_is_commented()


def test_yaml_error_names_the_file(tmp_path):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "default.yaml").write_text("run: [unclosed\n")
    with pytest.raises(ParamsError, match="default.yaml: not valid YAML"):
        load_params(root=tmp_path)


def test_params_files_read_as_the_python_yaml_parser_reads_them(tmp_path):
    from winback.config import _read_yaml

    for path in sorted((ROOT / "params").glob("*.yaml")):
        assert _read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8")), path
    (tmp_path / "bad.yaml").write_text("a:\n  b: c: d\n", encoding="utf-8")
    with pytest.raises(ParamsError) as exc:
        _read_yaml(tmp_path / "bad.yaml")
    assert "line 2" in str(exc.value) and "^" in str(exc.value)  # the line shown, with a caret


def test_seed_derivation_is_stable_and_distinct():
    assert derive_seed(7, "2024-06", "holdout") == derive_seed(7, "2024-06", "holdout")
    assert derive_seed(7, "2024-06", "holdout") != derive_seed(7, "2024-07", "holdout")
    assert derive_seed(7, "2024-06", "holdout") != derive_seed(8, "2024-06", "holdout")
    assert 0 <= derive_seed(1) < 2**32


def test_month_helpers():
    assert str(month_end("2024-02").date()) == "2024-02-29"
    assert month_range("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    with pytest.raises(ValueError, match="backwards"):
        month_range("2024-02", "2024-01")


def test_params_pickle_to_the_same_bytes_whatever_the_hash_seed():
    import os
    import pickle
    import subprocess
    import sys

    code = ("import pickle, sys\nfrom winback.config import load_params\n"
            "p = load_params('demo', ['run.month=2024-03'])\n"
            "sys.stdout.write(pickle.dumps((p.warning, p.snapshot), protocol=5).hex())")
    blobs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
             for seed in ("1", "2", "3", "4")}
    assert len(blobs) == 1
    warning, snapshot = pickle.loads(bytes.fromhex(blobs.pop()))  # noqa: S301 - made above
    params = load_params("demo", ["run.month=2024-03"])
    assert (warning, snapshot) == (params.warning, params.snapshot)
    assert warning.model_fields_set == params.warning.model_fields_set
    assert isinstance(warning.model_fields_set, set)
