"""Engagement identity and run settings: the two params sections every stage reads."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import Field, field_validator

from winback.config import Section

__all__ = ["DemoParams", "EngagementParams", "RunParams", "derive_seed", "month_end", "month_range"]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class EngagementParams(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    client: str
    currency: str = "CNY"
    seed: int = Field(ge=0)
    language: Literal["zh", "en"] = "zh"


class RunParams(Section):
    month: str
    first_month: str
    runs_dir: str
    store_dir: str
    cache_dir: str = "data"
    keep_failed: bool = True
    force_campaign_rewrite: bool = False

    @field_validator("month", "first_month")
    @classmethod
    def _is_month(cls, value: str) -> str:
        value = str(value)
        if not _MONTH.match(value):
            raise ValueError(f"a month is written YYYY-MM (e.g. 2024-06), got {value!r}")
        return value


class DemoParams(Section):
    """Size of the simulated client of the demo engagement (read only by ``winback demo``)."""

    n_customers: int = Field(ge=100, le=5_000_000)
    history_start: str

    @field_validator("history_start")
    @classmethod
    def _is_month(cls, value: str) -> str:
        return RunParams._is_month(value)


def derive_seed(seed: int, *parts: object) -> int:
    """A 32-bit seed derived from the engagement seed and any labels (month, stage, purpose).

    Same inputs always give the same seed; different labels give independent streams.
    """
    text = "|".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


def month_end(month: str):
    """Last calendar day of ``YYYY-MM`` as a ``pandas.Timestamp`` (normalized, midnight)."""
    import pandas as pd

    return pd.Period(month, freq="M").end_time.normalize()


def month_range(first: str, last: str) -> list[str]:
    """Months from ``first`` to ``last`` inclusive, as ``YYYY-MM`` strings."""
    import pandas as pd

    if pd.Period(last, "M") < pd.Period(first, "M"):
        raise ValueError(f"month range runs backwards: {first} .. {last}")
    return [str(p) for p in pd.period_range(first, last, freq="M")]
