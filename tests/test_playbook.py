"""The playbook: the params keys it names exist, its links resolve, every stage has a page."""

import re
from pathlib import Path

import pytest
import yaml

from winback.config import load_params

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = ROOT / "playbook"
PAGES = sorted(PLAYBOOK.glob("*.md"))
STAGE_PAGES = sorted(PLAYBOOK.glob("stage-*.md"))
SECTIONS = tuple(yaml.safe_load((ROOT / "params" / "default.yaml").read_text("utf-8")))

# A backticked dotted token naming a params key: a section name, then dotted parts; a part in
# angle brackets (`sources.<name>.columns`) stands for any key at that level. Not preceded by a
# letter, dot or slash, so `winback.strategy.update_priors` and `params/demo.yaml` are not keys.
KEY = re.compile(
    r"(?<![\w./<>-])((?:" + "|".join(map(re.escape, SECTIONS)) + r")(?:\.(?:\w+|<[\w-]+>))+)"
)
FILE_SUFFIXES = {"yaml", "yml", "py", "ipynb", "md", "csv", "parquet", "xlsx", "json", "png",
                 "duckdb", "html"}
FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
INLINE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
STAGE_ID = re.compile(r"\*\*Stage id\*\*\s*`([a-z0-9_]+)`")


# ------------------------------------------------------------------------------- helpers


def code_spans(text: str) -> list[str]:
    """The contents of fenced code blocks and inline code spans of a Markdown page."""
    fenced = [m.group(2) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    return fenced + [m.group(2) for m in INLINE.finditer(prose)]


def param_keys(text: str) -> list[str]:
    """Dotted params keys named in backticks (file names such as `demo.yaml` excluded)."""
    keys = []
    for span in code_spans(text):
        for key in KEY.findall(span):
            if key.rsplit(".", 1)[-1] in FILE_SUFFIXES:
                continue
            if key not in keys:
                keys.append(key)
    return keys


def key_exists(raw: dict, key: str) -> bool:
    """Whether ``key`` (dotted, ``<...>`` = any key at that level) exists in the params."""
    nodes = [raw]
    for part in key.split("."):
        found = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if part.startswith("<"):
                found.extend(node.values())
            else:
                found.extend(v for k, v in node.items() if str(k) == part)
        nodes = found
    return bool(nodes)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]{1,3}(?=\S)|(?<=\S)[`*_]{1,3}", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text("utf-8"))
    return {slug(h) for h in HEADING.findall(text)}


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file (or heading anchor in a Markdown file) is missing."""
    text = page.read_text("utf-8")
    prose = INLINE.sub("", FENCE.sub("", text))
    targets = LINK.findall(prose) + REF_LINK.findall(prose)
    bad = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # http:, https:, mailto:
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page.resolve()
        if not dest.exists():
            shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
            bad.append(f"{target} (no file {shown})")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            bad.append(f"{target} (no heading #{fragment} in {dest.name})")
    return bad


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_raw() -> dict:
    return load_params("demo", root=ROOT).raw


@pytest.fixture(scope="module")
def stages() -> list[dict]:
    return yaml.safe_load((PLAYBOOK / "stages.yaml").read_text("utf-8"))["stages"]


# ------------------------------------------------------------------------------- the helpers


def test_param_keys_finds_backticked_keys_only():
    text = (
        "Set `churn.churned_cutoff` and `strategy.holdout.share`; per source "
        "`sources.<name>.columns`. Not keys: `params/demo.yaml`, `demo.yaml`, "
        "`winback.strategy.update_priors`, churn.weights (no backticks).\n"
        "```bash\nwinback run -e acme -m 2024-06 --set tiering.n_tiers=4\n```\n"
    )
    assert param_keys(text) == [
        "tiering.n_tiers", "churn.churned_cutoff", "strategy.holdout.share",
        "sources.<name>.columns",
    ]


def test_key_exists_walks_the_params_with_wildcards():
    raw = {"sources": {"dir": "x", "customers": {"columns": {}}}, "strategy": {"holdout": {
        "share": 0.2}, "targeting": {"budget": {"1": 10}}}}
    assert key_exists(raw, "strategy.holdout.share")
    assert key_exists(raw, "sources.<name>.columns")
    assert key_exists(raw, "strategy.targeting.budget.1")
    assert not key_exists(raw, "strategy.holdout_share")
    assert not key_exists(raw, "strategy.holdout.share.extra")
    assert not key_exists(raw, "sources.<name>.missing")


def test_broken_links_reports_missing_files_and_anchors(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Data security — 数据安全\n", "utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n[ok](other.md) [ok anchor](other.md#data-security--数据安全) "
        "[own](#page) [web](https://example.com/x) `[code](nowhere.md)`\n"
        "[gone](missing.md) [bad anchor](other.md#nope)\n",
        "utf-8",
    )
    bad = broken_links(page)
    assert len(bad) == 2
    assert bad[0].startswith("missing.md (no file")
    assert bad[1] == "other.md#nope (no heading #nope in other.md)"


# ------------------------------------------------------------------------------- the playbook


def test_playbook_pages_exist():
    names = {p.name for p in PAGES}
    for name in ("README.md", "timeline.md", "risk-controls.md", "data-request.md"):
        assert name in names, f"playbook/{name} is missing"


def test_every_params_key_named_exists(demo_raw):
    missing = [
        f"playbook/{page.name}: `{key}`"
        for page in PAGES
        for key in param_keys(page.read_text("utf-8"))
        if not key_exists(demo_raw, key)
    ]
    assert not missing, (
        "params keys named in the playbook that params/default.yaml + params/demo.yaml do not "
        "have (fix the key, or add it to the params):\n" + "\n".join(missing)
    )


def test_every_page_names_some_params_key():
    # guards the extraction itself: the stage pages are built around params keys
    for page in STAGE_PAGES:
        assert len(param_keys(page.read_text("utf-8"))) >= 5, f"playbook/{page.name}"


def test_every_relative_link_resolves():
    broken = [f"playbook/{page.name}: {link}" for page in PAGES for link in broken_links(page)]
    assert not broken, "broken links in the playbook:\n" + "\n".join(broken)


def test_stage_pages_cover_every_stage(stages):
    declared: dict[str, Path] = {}
    for page in STAGE_PAGES:
        ids = STAGE_ID.findall(page.read_text("utf-8"))
        assert len(ids) == 1, f"playbook/{page.name} declares {len(ids)} stage ids (want 1)"
        assert ids[0] not in declared, f"stage {ids[0]} has two pages"
        declared[ids[0]] = page
    listed = [s["id"] for s in stages]
    assert sorted(declared) == sorted(listed), (
        f"stage pages declare {sorted(declared)}; playbook/stages.yaml lists {listed}"
    )
    index = (PLAYBOOK / "README.md").read_text("utf-8")
    for stage in stages:
        page = declared[stage["id"]]
        text = page.read_text("utf-8")
        notebook = f"../{stage['notebook']}"
        assert f"]({notebook})" in text, f"playbook/{page.name} does not link {notebook}"
        assert f"]({page.name})" in index, f"playbook/README.md does not link {page.name}"
