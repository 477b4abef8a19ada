"""Reading the file of confirmed churn (winback.churn_checks.read_known_churn)."""

import pandas as pd
import pytest

from winback.churn_checks import read_known_churn


def _truth() -> pd.DataFrame:
    return pd.DataFrame({
        "month": ["2024-01", "2024-02", "2024-01", "2024-02", "2024-02"],
        "customer_id": ["c3", "c2", "c1", "c9", "c1"],
        "truly_churned": [True, False, False, True, True],
    })


def test_parquet_folder_gives_the_months_rows_in_file_order(tmp_path):
    folder = tmp_path / "status.parquet"
    folder.mkdir()
    frame = _truth()
    frame.iloc[:3].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[3:].to_parquet(folder / "part-1.parquet", index=False)
    got = read_known_churn(folder, "2024-02")
    assert got["customer_id"].tolist() == ["c2", "c9", "c1"]
    assert got["truly_churned"].tolist() == [False, True, True]
    assert list(got.columns) == ["customer_id", "truly_churned"]


def test_parquet_file_equals_the_csv_reading(tmp_path):
    frame = _truth()
    frame.to_parquet(tmp_path / "truth.parquet", index=False)
    frame.to_csv(tmp_path / "truth.csv", index=False)
    got = read_known_churn(tmp_path / "truth.parquet", "2024-01")
    pd.testing.assert_frame_equal(got, read_known_churn(tmp_path / "truth.csv", "2024-01"),
                                  check_dtype=False)
    assert got["customer_id"].tolist() == ["c3", "c1"]


def test_month_column_not_text_is_read_whole(tmp_path):
    frame = _truth().assign(month=lambda f: pd.PeriodIndex(f["month"], freq="M")
                            .to_timestamp())
    frame.to_parquet(tmp_path / "truth.parquet", index=False)
    with pytest.raises(ValueError, match="no rows for 2024-02"):
        read_known_churn(tmp_path / "truth.parquet", "2024-02")


def test_missing_month_and_missing_column_name_the_file(tmp_path):
    path = tmp_path / "truth.parquet"
    _truth().to_parquet(path, index=False)
    with pytest.raises(ValueError, match="truth.parquet has no rows for 2023-12"):
        read_known_churn(path, "2023-12")
    _truth().drop(columns="month").to_parquet(path, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['month'\]"):
        read_known_churn(path, "2024-02")
