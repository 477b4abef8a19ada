"""Stage 1 on the demo: the scored churn status recovers the simulator's true churn."""

import pandas as pd
import pytest

from winback.churn_checks import known_churn_check, read_known_churn
from winback.store import opened, read_month

pytestmark = pytest.mark.slow


def test_churned_status_has_high_precision_and_recall_against_the_truth(demo_run):
    month = demo_run.months[-1]
    with opened(demo_run.ws.store_path, read_only=True) as con:
        status = read_month(con, "churn_status", month)
    check = known_churn_check(status, demo_run.truth_dir / "status.parquet", month)
    got = check.set_index("metric")
    # Floors well below what the demo gives (precision ~0.9, recall ~0.7), above chance
    # (the base churn rate is ~0.4), judged on the interval's lower end.
    assert got.loc["precision", "ci_low"] > 0.75, check
    assert got.loc["recall", "ci_low"] > 0.55, check


def test_the_notebook_reports_the_same_check(demo_run):
    month = demo_run.months[-1]
    table = pd.read_parquet(demo_run.month_dir(month) / "tables" / "known_churn_check.parquet")
    assert set(table["metric"]) == {"precision", "recall"}
    assert table["value"].between(0, 1).all()


def test_history_before_the_first_month_is_filled(demo_run):
    from winback.store import table_months

    with opened(demo_run.ws.store_path, read_only=True) as con:
        months = table_months(con, "churn_status")
    first = pd.Period(demo_run.months[0], "M")
    assert str(first - 1) in months and str(first - 12) in months


def test_known_churn_file_errors_name_the_file(tmp_path):
    path = tmp_path / "known.csv"
    path.write_text("month,customer_id\n2024-01,C1\n")
    with pytest.raises(ValueError, match=r"known.csv: missing column\(s\) \['truly_churned'\]"):
        read_known_churn(path, "2024-01")
    path.write_text("month,customer_id,truly_churned\n2024-01,C1,true\n")
    with pytest.raises(ValueError, match="no rows for 2024-02"):
        read_known_churn(path, "2024-02")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_known_churn(tmp_path / "nope.parquet", "2024-01")


def test_without_a_known_churn_file_the_check_says_so():
    status = pd.DataFrame({"customer_id": ["a"], "status": ["churned"]})
    assert "no churn.known_churn_file" in known_churn_check(status, None, "2024-01")["note"][0]
