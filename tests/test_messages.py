"""The message catalog: both languages complete, formats that fit, the report.language switch."""

import pandas as pd
import pytest

from winback.config import ParamsError, find_root, load_params
from winback.messages import (
    CATALOG,
    LANGUAGES,
    Messages,
    check_language,
    column_labels,
    label,
    labels,
    output_language,
    placeholders,
    t,
)

ROOT = find_root()


def test_every_key_exists_in_every_language():
    zh, en = (set(CATALOG[lang]) for lang in LANGUAGES)
    assert zh == en, f"only zh: {sorted(zh - en)}; only en: {sorted(en - zh)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_non_empty(language):
    empty = [k for k, v in CATALOG[language].items() if not isinstance(v, str) or not v.strip()]
    assert not empty


def test_both_languages_hold_the_same_format_fields():
    differ = {k: (placeholders(CATALOG["zh"][k]), placeholders(CATALOG["en"][k]))
              for k in CATALOG["zh"]
              if placeholders(CATALOG["zh"][k]) != placeholders(CATALOG["en"][k])}
    assert not differ


def test_placeholders_reads_names_and_specs():
    assert placeholders("{n:,} of {s:.0%} ({m})") == {"n:,", "s:.0%", "m:"}
    assert placeholders("no fields") == set()


def test_chinese_texts_are_chinese():
    """A zh text equal to its en text is a forgotten translation, unless it is a code or a format."""
    same = [k for k in CATALOG["zh"] if CATALOG["zh"][k] == CATALOG["en"][k]]
    allowed_groups = ("channel.", "warning.metric.", "report.subtitle", "report.kpi",
                      "plots.evaluation.kpi_y", "plots.churn.cutoff", "plots.schedule.budget_item",
                      "column.kpi")
    assert [k for k in same if not k.startswith(allowed_groups)] == []


def test_t_formats_and_names_unknown_keys():
    assert t("plots.tiers.holds", "en", label="Gold", c=0.1, v=0.4) == (
        "Gold: 10% of customers hold 40% of predicted value")
    assert t("plots.tiers.holds", "zh", label="黄金", c=0.1, v=0.4) == (
        "黄金：10% 的客户，贡献 40% 的预测价值")
    with pytest.raises(KeyError, match="plots.tiers.hold"):
        t("plots.tiers.hold", "en")
    with pytest.raises(ValueError, match="zh or en, got 'fr'"):
        t("common.none", "fr")
    assert check_language("zh") == "zh"


def test_labels_of_codes_fall_back_to_the_code():
    assert label("status", "churned", "zh") == "已流失"
    assert label("channel", "wechat", "zh") == "微信"
    assert label("region", "华东", "en") == "华东"
    assert label("rfm", "nope", "en", default="?") == "?"
    assert list(labels("quadrant", "en")) == ["high_value_high_risk", "high_value_low_risk",
                                              "low_value_high_risk", "low_value_low_risk"]


def test_messages_scope_and_repr():
    m = Messages("en", scope="plots.churn")
    assert m("status_title") == "Customers by churn status"
    assert m("common.none") == "No data"  # a full key outside the scope
    assert m.names("status", ["new", "lost"]) == ["new", "lost"]
    assert repr(m) == "Messages('en', scope='plots.churn')"
    with pytest.raises(ValueError, match="language"):
        Messages("de")


def test_column_labels_rename_only_known_columns_and_leave_the_input_alone():
    frame = pd.DataFrame({"customer_id": ["a"], "tier": [1], "n_orders_365": [3]}).set_index(
        "customer_id")
    zh = column_labels(frame, "zh")
    assert list(zh.columns) == ["客户层级", "n_orders_365"] and zh.index.name == "客户编号"
    assert list(frame.columns) == ["tier", "n_orders_365"] and frame.index.name == "customer_id"
    en = column_labels(frame.reset_index(), "en", extra={"n_orders_365": "Orders (365 days)"})
    assert list(en.columns) == ["Customer ID", "Tier", "Orders (365 days)"]
    assert en["Tier"].tolist() == [1]


def test_report_language_defaults_to_the_engagement_language():
    demo = load_params("demo", root=ROOT)
    assert demo.report.language is None and output_language(demo) == "zh"
    assert output_language(load_params("demo", ["report.language=en"], root=ROOT)) == "en"
    assert output_language(load_params("demo", ["engagement.language=en"], root=ROOT)) == "en"
    both = load_params("demo", ["engagement.language=en", "report.language=zh"], root=ROOT)
    assert output_language(both) == "zh"


def test_report_language_is_validated():
    with pytest.raises(ParamsError, match=r"report.language = 'fr'"):
        load_params("demo", ["report.language=fr"], root=ROOT)
    with pytest.raises(ParamsError, match="unknown key 'report.languages'"):
        load_params("demo", ["report.languages=en"], root=ROOT)


def test_show_tables_registers_a_display_formatter():
    from IPython.core.interactiveshell import InteractiveShell

    from winback.messages import show_tables

    shell = InteractiveShell.instance()
    try:
        show_tables("zh")
        data, _ = shell.display_formatter.format(pd.DataFrame({"customer_id": ["a"]}))
        assert "客户编号" in data["text/html"] and "客户编号" in data["text/plain"]
    finally:
        for mime in ("text/html", "text/plain"):
            shell.display_formatter.formatters[mime].pop(pd.DataFrame, None)
        InteractiveShell.clear_instance()


def test_label_codes_names_code_columns_and_leaves_the_input_alone():
    from winback.messages import label_codes

    frame = pd.DataFrame({"status": pd.Categorical(["new", "churned"]), "customers": [3, 4],
                          "indicator": ["p_alive", "client_own"]})
    zh = label_codes(frame, "zh", {"status": "status", "indicator": "variable"})
    assert zh["status"].tolist() == ["新客户", "已流失"]
    assert zh["indicator"].tolist() == ["存活概率 P(alive)", "client_own"]  # unknown code kept
    assert frame["status"].tolist() == ["new", "churned"]
    by_index = label_codes(frame.set_index("indicator"), "zh", {"indicator": "variable"})
    assert by_index.index.tolist() == ["存活概率 P(alive)", "client_own"]
    assert label_codes(frame, "en", {"status": "status"})["status"].tolist() == ["new", "churned"]
    with pytest.raises(ValueError, match="zh or en"):
        label_codes(frame, "fr", {})


def test_retell_tells_an_english_note_in_the_other_language():
    from winback.messages import retell

    keys = ["text.evaluation.row.too_small", "text.evaluation.row.too_small_reactivated"]
    assert retell("too small: n_treated=3, n_control=2", keys, "zh") == "样本太小：实验组 3 人，对照组 2 人"
    # the template with the most literal text wins over a shorter one that also matches
    assert retell("too small: n_treated=3, n_control=2 reactivated", keys, "zh") == (
        "样本太小：回归客户中实验组 3 人，对照组 2 人")
    assert retell("too small: n_treated=3, n_control=2", keys, "en") == (
        "too small: n_treated=3, n_control=2")
    assert retell("something else", keys, "zh") == "something else"
    with pytest.raises(ValueError, match="zh or en"):
        retell("x", keys, "fr")
