"""winback.frames helpers agree with the pandas operations they stand in for."""

import numpy as np
import pandas as pd
import pytest

from winback.frames import category_text, distinct_text, index_in, isin

IDS = ["C1", "C2", "客户3", "C4", None]


@pytest.mark.parametrize("dtype", ["str", object, "category"])
@pytest.mark.parametrize("pool", [
    ["C2", "客户3", "x"], {"C4"}, pd.Series(["C1", None], dtype="str"), [], [None],
    pd.Series(["C2"], dtype="category"), ("C1",),
])
def test_isin_agrees_with_pandas(dtype, pool):
    values = pd.Series(IDS, dtype=dtype)
    got = isin(values, pool)
    expected = values.isin(pool if not isinstance(pool, set) else list(pool)).to_numpy(bool)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, expected)


def test_isin_of_other_dtypes_goes_to_pandas():
    np.testing.assert_array_equal(isin(pd.Series([1, 2, 3]), [2, 3]), [False, True, True])
    np.testing.assert_array_equal(isin(pd.Series(["1", "2"]), [1, "2"]), [False, True])
    np.testing.assert_array_equal(isin(pd.Series([], dtype="str"), ["a"]), np.zeros(0, bool))


def test_isin_of_a_million_ids():
    ids = pd.Series([f"C{i:07d}" for i in range(200_000)], dtype="str")
    pool = ids.sample(frac=0.5, random_state=1)
    np.testing.assert_array_equal(isin(ids, pool), ids.isin(pool).to_numpy())


def test_index_in_positions_text_and_other_dtypes():
    pool = pd.Series(["b", "a", "c"], dtype="str")
    assert index_in(pd.Series(["a", "z", "c", "a"], dtype="str"), pool).tolist() == [1, -1, 2, 1]
    assert index_in(pd.Series([3, 1]), pd.Series([1, 2, 3])).tolist() == [2, 0]
    assert index_in(pd.Series(["a", None], dtype=object), pool).tolist() == [1, -1]
    assert index_in(pd.Series([], dtype="str"), pool).tolist() == []


@pytest.mark.parametrize("values", [
    IDS, ["b", "a", None, "a"], [3, 1, None], [1.5, 2.0], [], [None, None],
    list(pd.to_datetime(["2024-01-31", "2023-12-31"])),
])
def test_category_text_equals_astype_str(values):
    series = pd.Series(values, dtype="category", index=range(5, 5 + len(values)), name="col")
    got = category_text(series)
    expected = series.astype("str")
    pd.testing.assert_series_equal(got, expected)
    assert got.isna().sum() == series.isna().sum()


def test_category_text_leaves_other_dtypes_to_astype():
    series = pd.Series(["x", None], dtype=object)
    pd.testing.assert_series_equal(category_text(series), series.astype("str"))


def test_distinct_text_names_every_value_once_missing_included():
    assert distinct_text(pd.Series(["2024-02"] * 3, dtype="category")) == ["2024-02"]
    assert distinct_text(pd.Series(["b", "a", "b"], dtype="str")) == ["a", "b"]
    assert distinct_text(pd.Series(["2024-02", None], dtype="category")) == ["2024-02", "nan"]
    assert distinct_text(pd.Series([], dtype="str")) == []
