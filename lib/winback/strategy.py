"""Strategy design: the strategy matrix, offer packages and the expected value of each candidate.

The strategy matrix
-------------------
A list of rules in params (``strategy.matrix``). Each rule matches customers on three
dimensions, each a value, a list of values or ``"*"`` (anything):

``churn_type``
    ``active`` (needs changed, competitor pull), ``passive`` (our product or service
    failed them) or ``unknown`` (no reason known yet).
``reason``
    A reason code of the stage-2 taxonomy, or ``unknown``.
``tier``
    A tier id of stage 3 (compared as text: ``1`` and ``"1"`` are the same tier).

and sets one or more of three *fields*: ``strategy`` (one of :data:`STRATEGIES`, the
names the call centre understands), ``channels`` (the channel of contact 1, 2 and 3: a
contact channel of the data contract, ``preferred`` for the customer's own preferred
channel, or null for no such contact) and ``offer`` (the name of an offer package).

Precedence: **the most specific matching rule wins, field by field.** A rule's
specificity is 4 when it names the reason, plus 2 when it names the tier, plus 1 when it
names the churn type (``*`` names nothing), so a named reason outranks a named tier,
which outranks a named churn type. For each field the kit takes the most specific
matching rule that sets the field, so a reason rule can choose the strategy and the offer
while a tier rule chooses the channels (strategy by reason, contact intensity by value),
and a rule naming both the reason and the tier overrides both. Two rules that could match
the same customer with the same specificity and set the same field are refused as
ambiguous when the matrix is built.

Every customer must resolve every field: :meth:`StrategyMatrix.check` walks every reason
of the taxonomy (and ``unknown``) under its churn type and every tier, and refuses a
matrix with a gap, a reason of ``unknown`` that does not start with ``care_survey``, or a
known reason whose follow-up (the second-contact script) would be ``care_survey``.

Care/survey first, tailored second
----------------------------------
Customers whose reason is unknown get a ``care_survey`` first contact, which asks for
the reason. The call centre picks the strategy of the next contact from
:meth:`StrategyMatrix.second_contact_scripts` (reason code -> strategy, from the
tier-independent rules of the matrix).

Offers
------
An offer package is always built from the customer's own purchases, never as a blanket
discount: the category is the customer's top category by net spend over the last
``window_days`` days (all history before that when they bought nothing in the window,
see :func:`category_preference`), and the value is a share of their average net spend
per order, by spend band, capped by the band (:func:`offer_value`), times the package's
scale, rounded down to the rounding unit.

Expected value
--------------
``expected_value = p_winback * value - cost``, where ``value`` is what a win-back brings
(:func:`won_back_value`: stage 3's future value had the customer still been alive) and
``cost = contact_cost + p_winback * offer_value``: the contact cost of every planned
attempt (an upper bound: the call centre stops after a definite answer) plus the offer's
face value when it is redeemed, which only a won-back customer does. ``p_winback`` is a
prior per (strategy, reason match) from params, where *matched* means the rule that chose
the strategy names the customer's reason; :func:`update_priors` is the hook that moves
the priors towards the uplift evaluated on past campaigns (stage 6).

Learned priors
--------------
:func:`learned_priors` (params ``learn_priors``) feeds stage 6 back into stage 4: the
win-back reactivation uplift by strategy of each campaign evaluated by the month (stage 6's
window outcomes and intervals, :func:`prior_evidence`, longest elapsed window) moves each
prior cell to ``(strength x prior + n x uplift) / (strength + n)``: shrinkage toward the
params prior, weighted by the evidence's effective size ``n = n_t n_c / (n_t + n_c)`` (an
uplift measured on few customers, i.e. with a wide interval, moves the prior little). The
intention-to-treat uplift per assigned customer is what ``p_winback`` means in the expected
value (wins per selected customer).

Preventive care
---------------
Stage 7 of month ``M-1`` stores a watchlist of active customers at risk; stage 4 of
``M`` reads it (:func:`load_watchlist`), keeps the customers who are still not churned,
lost, win-back candidates, do-not-contact, held out or released
(:func:`screen_preventive`) and gives them the care contact of ``strategy.preventive``
(:func:`plan_preventive`): a care script, a cheaper channel sequence, a modest offer or
none. Their expected value is ``risk x p_save x value - cost`` and they are selected
under their own budget line by the same knapsack and held out by the same holdout
(:mod:`winback.campaign`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from winback.config import Section
from winback.contract import CONTACT_CHANNELS
from winback.frames import isin
from winback.messages import check_language, retell
from winback.messages import t as message
from winback.settings import month_end
from winback.store import fetch_df, table_columns

__all__ = [
    "ANY",
    "CHANNEL_ORDER",
    "CHURN_TYPES",
    "PREFERRED",
    "STRATEGIES",
    "UNKNOWN_REASON",
    "ChannelParams",
    "OfferBand",
    "OfferPackage",
    "OfferParams",
    "PREVENTIVE_EXCLUSIONS",
    "PreventiveParams",
    "StrategyError",
    "StrategyMatrix",
    "StrategyParams",
    "StrategyInputs",
    "StrategyRule",
    "Watchlist",
    "WinbackPrior",
    "EXCLUSIONS",
    "candidate_funnel",
    "candidates_of",
    "category_preference",
    "preference_customers",
    "design_offers",
    "expected_value",
    "fill_channels",
    "describe_prior_moves",
    "learned_priors",
    "load_inputs",
    "load_watchlist",
    "offer_value",
    "plan_preventive",
    "plan_strategies",
    "preventive_funnel",
    "prior_evidence",
    "prior_moves",
    "prior_table",
    "reason_taxonomy",
    "screen_candidates",
    "screen_preventive",
    "tier_text",
    "update_priors",
    "won_back_value",
]

# The strategies the call centre has scripts for.
STRATEGIES: tuple[str, ...] = (
    "care_survey",
    "care_message",
    "competitor_differentiation",
    "membership_upgrade",
    "fix_notice",
    "apology_compensation",
    "product_education",
    "package_offer",
)
CHANNEL_ORDER: tuple[str, ...] = ("phone", "sms", "email", "wechat", "app_push", "visit")
assert set(CHANNEL_ORDER) == set(CONTACT_CHANNELS)
CHURN_TYPES: tuple[str, ...] = ("active", "passive", "unknown")
ANY = "*"
PREFERRED = "preferred"
UNKNOWN_REASON = "unknown"
FIELDS: tuple[str, ...] = ("strategy", "channels", "offer")
_DIMS: tuple[tuple[str, int], ...] = (("reason", 4), ("tier", 2), ("churn_type", 1))
_OTHER_TIER = "(any other tier)"


class StrategyError(ValueError):
    """The strategy matrix, an offer or a candidate frame is invalid; the message says the fix."""


# --------------------------------------------------------------------------- params


def _pattern(value: object, what: str) -> str | tuple[str, ...]:
    """``"*"`` or a sorted tuple of distinct non-empty texts."""
    if value is None:
        raise ValueError(f"{what}: write '*' for anything, not null")
    items = value if isinstance(value, list | tuple) else [value]
    texts = [str(v).strip() for v in items]
    if ANY in texts:
        if len(texts) > 1:
            raise ValueError(f"{what}: '*' already matches anything; drop the other values {texts}")
        return ANY
    if not texts or any(not t for t in texts):
        raise ValueError(f"{what}: empty value; write '*' for anything")
    return tuple(sorted(set(texts)))


class StrategyRule(Section):
    """One rule of the strategy matrix: a pattern and the fields it sets (see the module doc)."""

    churn_type: str | tuple[str, ...] = ANY
    reason: str | tuple[str, ...] = ANY
    tier: str | tuple[str, ...] = ANY
    strategy: str | None = None
    channels: tuple[str | None, ...] | None = None
    offer: str | None = None
    note: str = ""

    @field_validator("churn_type", "reason", "tier", mode="before")
    @classmethod
    def _to_pattern(cls, value, info):
        pattern = _pattern(value, info.field_name)
        if info.field_name == "churn_type" and pattern != ANY:
            bad = sorted(set(pattern) - set(CHURN_TYPES))
            if bad:
                raise ValueError(
                    f"unknown churn type(s) {bad}; allowed: {', '.join(CHURN_TYPES)} or '*'"
                )
        return pattern

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value):
        if value is not None and value not in STRATEGIES:
            close = difflib.get_close_matches(str(value), STRATEGIES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown strategy {value!r}{hint}; the call centre knows: {', '.join(STRATEGIES)}"
            )
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _known_channels(cls, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        items = [
            None if v is None or str(v).strip().lower() in ("", "none", "null") else str(v).strip()
            for v in value
        ]
        if not 1 <= len(items) <= 3:
            raise ValueError(
                f"give the channels of contacts 1 to 3 (1-3 entries), got {len(items)}"
            )
        if items[0] is None:
            raise ValueError("contact 1 needs a channel")
        allowed = (*CHANNEL_ORDER, PREFERRED)
        for item in items:
            if item is not None and item not in allowed:
                close = difflib.get_close_matches(item, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown channel {item!r}{hint}; allowed: {', '.join(allowed)} or null"
                )
        return tuple(items + [None] * (3 - len(items)))

    @model_validator(mode="after")
    def _sets_something(self):
        if self.strategy is None and self.channels is None and self.offer is None:
            raise ValueError("a rule must set at least one of strategy, channels, offer")
        return self

    @property
    def specificity(self) -> int:
        """4 x names the reason + 2 x names the tier + 1 x names the churn type."""
        return sum(w for dim, w in _DIMS if getattr(self, dim) != ANY)

    def matches(self, churn_type: str, reason: str, tier: str | None) -> bool:
        """Whether the rule applies; ``tier=None`` matches only rules whose tier is ``*``."""
        key = {"churn_type": churn_type, "reason": reason, "tier": tier}
        for dim, _ in _DIMS:
            pattern = getattr(self, dim)
            if pattern == ANY:
                continue
            if key[dim] is None or key[dim] not in pattern:
                return False
        return True

    def label(self) -> str:
        """``reason=price tier=* churn_type=*`` (for messages and the matrix table)."""

        def show(p):
            return p if p == ANY else "|".join(p)

        return " ".join(f"{dim}={show(getattr(self, dim))}" for dim, _ in _DIMS)


class OfferPackage(Section):
    """An offer package: how much of the spend-band value it gives (0 = no offer)."""

    scale: float = Field(ge=0, le=5)
    description: str = ""


class OfferBand(Section):
    """A spend band: customers whose average net spend per order is at most ``max_avg_spend``."""

    max_avg_spend: float | None = Field(default=None, gt=0)
    share: float = Field(gt=0, le=1)
    cap: float = Field(ge=0)


class OfferParams(Section):
    """How offer packages are valued from the customer's own purchases."""

    window_days: int = Field(default=365, ge=30)
    packages: dict[str, OfferPackage]
    bands: tuple[OfferBand, ...]
    rounding: float = Field(default=5.0, gt=0)

    @field_validator("bands")
    @classmethod
    def _ordered(cls, bands):
        if not bands:
            raise ValueError("give at least one spend band")
        bounds = [b.max_avg_spend for b in bands]
        if bounds[-1] is not None:
            raise ValueError("the last band must have max_avg_spend: null (no upper bound)")
        if any(b is None for b in bounds[:-1]):
            raise ValueError("only the last band may have max_avg_spend: null")
        if any(a >= b for a, b in zip(bounds[:-2], bounds[1:-1], strict=False)):
            raise ValueError(f"bands must be in increasing max_avg_spend order, got {bounds}")
        return bands


class ChannelParams(Section):
    """Contact channels: what one attempt costs, and what ``preferred`` falls back to."""

    cost: dict[str, float]
    preferred_fallback: str = "sms"

    @field_validator("cost")
    @classmethod
    def _every_channel(cls, value):
        missing = [c for c in CHANNEL_ORDER if c not in value]
        extra = [c for c in value if c not in CHANNEL_ORDER]
        if missing or extra:
            raise ValueError(
                f"give the cost of exactly the channels {list(CHANNEL_ORDER)}; "
                f"missing {missing}, unknown {extra}"
            )
        if any(v < 0 for v in value.values()):
            raise ValueError("channel costs are >= 0 (currency units per attempt)")
        return value

    @field_validator("preferred_fallback")
    @classmethod
    def _is_channel(cls, value):
        if value not in CHANNEL_ORDER:
            raise ValueError(f"unknown channel {value!r}; allowed: {', '.join(CHANNEL_ORDER)}")
        return value


class WinbackPrior(Section):
    """Prior P(win back | contacted) of a strategy when it matches the reason, and when not."""

    matched: float = Field(ge=0, le=1)
    unmatched: float = Field(ge=0, le=1)


class TargetingParams(Section):
    """Budgeted selection (see :mod:`winback.targeting`)."""

    budget: dict[str, float]
    method: Literal["auto", "exact", "greedy"] = "auto"
    exact_max_n: int = Field(default=2000, ge=0)

    @field_validator("budget", mode="before")
    @classmethod
    def _text_keys(cls, value):
        if not isinstance(value, Mapping) or not value:
            raise ValueError("give a budget per tier (currency units), e.g. {'1': 5000, '*': 1000}")
        out = {str(k).strip(): v for k, v in value.items()}
        return out

    @field_validator("budget")
    @classmethod
    def _non_negative(cls, value):
        bad = {k: v for k, v in value.items() if v < 0}
        if bad:
            raise ValueError(f"budgets are >= 0 (currency units), got {bad}")
        return value


class HoldoutParams(Section):
    """Stratified random holdout (see :mod:`winback.holdout`)."""

    share: float = Field(ge=0, lt=1)
    strata: tuple[str, ...] = ("tier", "churn_type")
    keep_months: int = Field(default=3, ge=0, le=12)


class PreventiveParams(Section):
    """Preventive care of the early-warning watchlist (see :func:`plan_preventive`)."""

    enabled: bool = True
    statuses: tuple[str, ...] = ("active", "at_risk")
    max_age_months: int = Field(default=1, ge=1, le=12)
    strategy: str = "care_message"
    channels: tuple[str | None, ...] = (PREFERRED, "sms", None)
    offer: str = "none"
    p_save: float = Field(default=0.10, ge=0, le=1)
    budget: dict[str, float] = Field(default_factory=lambda: {"*": 0.0})
    holdout_share: float | None = Field(default=None, ge=0, lt=1)
    strata: tuple[str, ...] = ("tier", "status")

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value):
        allowed = ("new", "active", "at_risk")
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ValueError(
                f"preventive statuses are among {allowed} (churned customers are win-back "
                f"candidates; lost and do-not-contact customers are never contacted), "
                f"got {list(value)}"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("strategy")
    @classmethod
    def _care(cls, value):
        if value not in ("care_survey", "care_message"):
            raise ValueError(
                f"a preventive contact is a care contact: care_survey or care_message, got {value!r}"
            )
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value):
        try:
            rule = StrategyRule.model_validate({"strategy": "care_message", "channels": value})
        except ValueError as exc:
            errors = getattr(exc, "errors", None)
            msg = errors()[0]["msg"] if callable(errors) else str(exc)
            raise ValueError(msg.removeprefix("Value error, ")) from None
        return rule.channels

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value):
        return TargetingParams._text_keys(value)

    @field_validator("budget")
    @classmethod
    def _budget_sign(cls, value):
        return TargetingParams._non_negative(value)


class StrategyParams(Section):
    """Params section ``strategy``: stage 4, strategy design."""

    candidate_statuses: tuple[str, ...] = ("churned",)
    value_column: str = "future_value"
    value_basis: Literal["if_alive", "as_is"] = "if_alive"
    p_alive_floor: float = Field(default=0.05, gt=0, le=1)
    channels: ChannelParams
    offers: OfferParams
    matrix: tuple[StrategyRule, ...]  # after offers: its rules are checked against the packages
    p_winback: dict[str, WinbackPrior]
    prior_strength: float = Field(default=200.0, gt=0)
    learn_priors: bool = True
    targeting: TargetingParams
    holdout: HoldoutParams
    preventive: PreventiveParams = Field(default_factory=PreventiveParams)

    @field_validator("candidate_statuses")
    @classmethod
    def _statuses(cls, value):
        allowed = ("churned", "at_risk")
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ValueError(
                f"candidate statuses are among {allowed} (lost and do-not-contact "
                f"customers are never contacted), got {list(value)}"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("p_winback")
    @classmethod
    def _every_strategy(cls, value):
        missing = [s for s in STRATEGIES if s not in value]
        extra = [s for s in value if s not in STRATEGIES]
        if missing or extra:
            raise ValueError(
                f"give a prior for exactly the strategies {list(STRATEGIES)}; "
                f"missing {missing}, unknown {extra}"
            )
        return value

    @field_validator("matrix")
    @classmethod
    def _matrix_is_consistent(cls, value, info):
        offers = info.data.get("offers")
        StrategyMatrix(value, offers=None if offers is None else offers.packages)
        return value

    @model_validator(mode="after")
    def _preventive_offer(self):
        if self.preventive.offer not in self.offers.packages:
            raise ValueError(
                f"preventive.offer {self.preventive.offer!r} is not a package of "
                f"offers.packages ({', '.join(self.offers.packages)})"
            )
        return self

    def build_matrix(self) -> StrategyMatrix:
        """The :class:`StrategyMatrix` of these params."""
        return StrategyMatrix(self.matrix, offers=self.offers.packages)


# --------------------------------------------------------------------------- matrix


def _overlap(a: str | tuple[str, ...], b: str | tuple[str, ...]) -> bool:
    return a == ANY or b == ANY or bool(set(a) & set(b))


class StrategyMatrix:
    """The (churn type x reason x tier) -> strategy, channels, offer rules (see the module doc).

    Parameters
    ----------
    rules : sequence of StrategyRule or dict
        The rules, in any order (order never decides: specificity does).
    offers : mapping or iterable of str, optional
        The offer package names a rule may use; when given, an unknown name is refused.

    Raises
    ------
    StrategyError
        When a rule is invalid, names an unknown offer, or two rules are ambiguous.
    """

    def __init__(
        self, rules: Iterable[StrategyRule | Mapping], *, offers: Iterable[str] | None = None
    ):
        parsed = []
        for i, rule in enumerate(rules):
            try:
                parsed.append(
                    rule if isinstance(rule, StrategyRule) else StrategyRule.model_validate(rule)
                )
            except Exception as exc:
                raise StrategyError(f"strategy.matrix rule {i + 1}: {exc}") from None
        if not parsed:
            raise StrategyError(
                "strategy.matrix has no rules; add at least a catch-all rule "
                "{reason: '*', strategy: care_message, channels: [preferred], offer: none}"
            )
        self.rules: tuple[StrategyRule, ...] = tuple(parsed)
        self.offers = None if offers is None else tuple(offers)
        if self.offers is not None:
            for i, rule in enumerate(self.rules):
                if rule.offer is not None and rule.offer not in self.offers:
                    close = difflib.get_close_matches(rule.offer, self.offers, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise StrategyError(
                        f"strategy.matrix rule {i + 1} ({rule.label()}): unknown offer package "
                        f"{rule.offer!r}{hint}; defined in strategy.offers.packages: "
                        f"{', '.join(self.offers)}"
                    )
        self._check_ambiguity()

    def __repr__(self) -> str:
        return f"StrategyMatrix({len(self.rules)} rules)"

    def _check_ambiguity(self) -> None:
        problems = []
        for i, a in enumerate(self.rules):
            for j in range(i + 1, len(self.rules)):
                b = self.rules[j]
                if a.specificity != b.specificity:
                    continue
                if not all(_overlap(getattr(a, d), getattr(b, d)) for d, _ in _DIMS):
                    continue
                both = [
                    f for f in FIELDS if getattr(a, f) is not None and getattr(b, f) is not None
                ]
                if both:
                    problems.append(
                        f"rules {i + 1} ({a.label()}) and {j + 1} ({b.label()}) both set "
                        f"{', '.join(both)} for the same customers"
                    )
        if problems:
            raise StrategyError(
                "strategy.matrix is ambiguous (same specificity, overlapping patterns):\n- "
                + "\n- ".join(problems)
                + "\nMake one rule more specific (name the reason or tier), or merge them."
            )

    # --- resolution ---------------------------------------------------------------
    def resolve_one(self, churn_type: str, reason: str, tier: str | None) -> dict[str, object]:
        """Fields of one (churn type, reason, tier); ``tier=None`` uses tier-independent rules only.

        Returns ``strategy``, ``channels`` (3-tuple), ``offer`` (None where no rule sets
        the field), ``reason_match`` (the strategy's rule names the reason) and the
        1-based rule number behind each field (``strategy_rule``, ...; 0 = none).
        """
        out: dict[str, object] = {}
        matching = [(i, r) for i, r in enumerate(self.rules) if r.matches(churn_type, reason, tier)]
        for field in FIELDS:
            setting = [(r.specificity, i, r) for i, r in matching if getattr(r, field) is not None]
            if setting:
                _, i, rule = max(setting, key=lambda t: (t[0], -t[1]))
                out[field] = getattr(rule, field)
                out[f"{field}_rule"] = i + 1
                if field == "strategy":
                    out["reason_match"] = rule.reason != ANY
            else:
                out[field] = None
                out[f"{field}_rule"] = 0
                if field == "strategy":
                    out["reason_match"] = False
        return out

    def resolve(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each row's strategy, channels and offer package.

        Parameters
        ----------
        frame : DataFrame
            Columns ``churn_type``, ``reason_code``, ``tier`` (one row per customer).

        Returns
        -------
        DataFrame
            A new frame: ``frame``'s columns plus ``strategy``, ``channel_1``..``channel_3``
            (``preferred`` not yet filled in, see :func:`fill_channels`), ``offer_package``,
            ``reason_match`` and ``strategy_rule`` / ``channels_rule`` / ``offer_rule``.

        Raises
        ------
        StrategyError
            When a row resolves no strategy, channels or offer (naming the combinations).
        """
        _require(frame, ("churn_type", "reason_code", "tier"), "candidates")
        keys = _keys(frame)
        combos = keys.drop_duplicates().reset_index(drop=True)
        rows = []
        for ct, reason, tier in combos.itertuples(index=False):
            res = self.resolve_one(ct, reason, tier)
            ch = res["channels"] or (None, None, None)
            rows.append(
                {
                    "_ct": ct,
                    "_reason": reason,
                    "_tier": tier,
                    "strategy": res["strategy"],
                    "channel_1": ch[0],
                    "channel_2": ch[1],
                    "channel_3": ch[2],
                    "offer_package": res["offer"],
                    "reason_match": res["reason_match"],
                    "strategy_rule": res["strategy_rule"],
                    "channels_rule": res["channels_rule"],
                    "offer_rule": res["offer_rule"],
                }
            )
        table = pd.DataFrame(
            rows,
            columns=[
                "_ct",
                "_reason",
                "_tier",
                "strategy",
                "channel_1",
                "channel_2",
                "channel_3",
                "offer_package",
                "reason_match",
                "strategy_rule",
                "channels_rule",
                "offer_rule",
            ],
        )
        gaps = table[table[["strategy", "channel_1", "offer_package"]].isna().any(axis=1)]
        if len(gaps):
            raise StrategyError(
                "strategy.matrix leaves some customers without a strategy, channels or offer: "
                + "; ".join(
                    f"churn_type={ct} reason={reason} tier={tier}"
                    for ct, reason, tier in gaps[["_ct", "_reason", "_tier"]]
                    .head(10)
                    .itertuples(index=False, name=None)
                )
                + ". Add a rule covering them (a catch-all rule with reason '*' sets all three)."
            )
        merged = keys.merge(
            table, on=["_ct", "_reason", "_tier"], how="left", validate="many_to_one"
        )
        out = frame.reset_index(drop=True).copy()
        for col in [
            "strategy",
            "channel_1",
            "channel_2",
            "channel_3",
            "offer_package",
            "reason_match",
            "strategy_rule",
            "channels_rule",
            "offer_rule",
        ]:
            out[col] = merged[col].to_numpy()
        out["reason_match"] = out["reason_match"].astype(bool)
        return out

    # --- validation -----------------------------------------------------------------
    def check(
        self,
        reasons: Iterable[str],
        churn_types: Mapping[str, str] | None = None,
        tiers: Iterable[object] | None = None,
    ) -> None:
        """Refuse a matrix that does not resolve every reason of the taxonomy.

        Parameters
        ----------
        reasons : iterable of str
            The reason codes of the taxonomy (``unknown`` is always added).
        churn_types : mapping, optional
            Reason code -> ``active`` / ``passive``; without it every churn type is tried.
        tiers : iterable, optional
            The tier ids; rules naming another tier are refused. An extra tier no rule names
            is always tried too.

        Raises
        ------
        StrategyError
            Listing every gap, unknown reason or tier named by a rule, a reason ``unknown``
            whose first contact is not ``care_survey``, and known reasons whose second-contact
            script is ``care_survey`` or missing.
        """
        taxonomy = [str(r) for r in reasons if str(r) != UNKNOWN_REASON]
        known = set(taxonomy) | {UNKNOWN_REASON}
        tier_ids = None if tiers is None else [str(t) for t in tiers]
        problems = []
        for i, rule in enumerate(self.rules):
            if rule.reason != ANY:
                for r in rule.reason:
                    if r not in known:
                        close = difflib.get_close_matches(r, sorted(known), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        problems.append(
                            f"rule {i + 1} ({rule.label()}) names reason {r!r}{hint}, "
                            "which is not in the reason taxonomy"
                        )
            if tier_ids is not None and rule.tier != ANY:
                for t in rule.tier:
                    if t not in tier_ids:
                        problems.append(
                            f"rule {i + 1} ({rule.label()}) names tier {t!r}; the tiers "
                            f"are {tier_ids}"
                        )
        types = dict(churn_types or {})
        tier_list = (
            tier_ids
            if tier_ids is not None
            else [*sorted({t for r in self.rules if r.tier != ANY for t in r.tier}), _OTHER_TIER]
        )
        gaps = []
        for reason in [*taxonomy, UNKNOWN_REASON]:
            cts = (
                [UNKNOWN_REASON]
                if reason == UNKNOWN_REASON and not types.get(reason)
                else ([types[reason]] if reason in types else list(CHURN_TYPES))
            )
            for ct in cts:
                for tier in tier_list:
                    res = self.resolve_one(ct, reason, tier)
                    missing = [f for f in FIELDS if res[f] is None]
                    if missing:
                        gaps.append(
                            f"churn_type={ct} reason={reason} tier={tier}: no {', '.join(missing)}"
                        )
                    elif reason == UNKNOWN_REASON and res["strategy"] != "care_survey":
                        problems.append(
                            f"reason 'unknown' (churn_type={ct}, tier={tier}) starts with "
                            f"{res['strategy']!r}; customers with an unknown reason get "
                            "'care_survey' first"
                        )
        if gaps:
            problems.append(
                f"{len(gaps)} combination(s) resolve no value: "
                + "; ".join(gaps[:10])
                + (" ..." if len(gaps) > 10 else "")
                + ". Add a rule covering them (a catch-all rule with reason '*' sets all three)"
            )
        for reason in taxonomy:
            ct = types.get(reason)
            for c in [ct] if ct else list(CHURN_TYPES):
                res = self.resolve_one(c, reason, None)
                if res["strategy"] is None:
                    problems.append(
                        f"reason {reason!r} (churn_type={c}) has no tier-independent strategy "
                        "for the second-contact script; add a rule with tier '*'"
                    )
                elif res["strategy"] == "care_survey":
                    problems.append(
                        f"reason {reason!r} (churn_type={c}) resolves to 'care_survey': once the "
                        "reason is known, the contact must address it"
                    )
        if problems:
            raise StrategyError(
                "strategy.matrix does not fit the reason taxonomy:\n- " + "\n- ".join(problems)
            )

    # --- tables -----------------------------------------------------------------------
    def second_contact_scripts(
        self, reasons: Iterable[str], churn_types: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """Reason code -> strategy of the contact after a care/survey contact states that reason.

        Uses the tier-independent rules (the call centre does not know the tier at that
        point). A reason with a churn type uses that type; without one the churn type is
        ``*``-only rules.

        Returns
        -------
        DataFrame
            ``reason_code``, ``strategy`` (one row per taxonomy reason, taxonomy order).
        """
        types = dict(churn_types or {})
        rows = []
        for reason in dict.fromkeys(str(r) for r in reasons):
            if reason == UNKNOWN_REASON:
                continue
            res = self.resolve_one(types.get(reason, ""), reason, None)
            if res["strategy"] is None or res["strategy"] == "care_survey":
                raise StrategyError(
                    f"no second-contact strategy for reason {reason!r}: add a rule with reason "
                    f"{reason!r} (tier '*') setting a strategy other than care_survey"
                )
            rows.append({"reason_code": reason, "strategy": res["strategy"]})
        return pd.DataFrame(rows, columns=["reason_code", "strategy"]).astype("str")

    def table(
        self,
        reasons: Iterable[str],
        churn_types: Mapping[str, str] | None = None,
        tiers: Iterable[object] | None = None,
    ) -> pd.DataFrame:
        """The resolved matrix, one row per (reason, churn type, tier), for reading and review.

        ``tiers=None`` shows the tier-independent resolution (tier ``*``).
        """
        types = dict(churn_types or {})
        rows = []
        reason_list = list(dict.fromkeys([*(str(r) for r in reasons), UNKNOWN_REASON]))
        for reason in reason_list:
            ct = types.get(reason, UNKNOWN_REASON if reason == UNKNOWN_REASON else "")
            for tier in [None] if tiers is None else [str(t) for t in tiers]:
                res = self.resolve_one(ct, reason, tier)
                ch = res["channels"] or (None, None, None)
                rows.append(
                    {
                        "reason_code": reason,
                        "churn_type": ct or ANY,
                        "tier": ANY if tier is None else tier,
                        "strategy": res["strategy"],
                        "channel_1": ch[0],
                        "channel_2": ch[1],
                        "channel_3": ch[2],
                        "offer_package": res["offer"],
                        "reason_match": res["reason_match"],
                        "rules": "/".join(
                            str(res[f"{f}_rule"]) for f in ("strategy", "channels", "offer")
                        ),
                    }
                )
        return pd.DataFrame(rows)

    def rules_table(self) -> pd.DataFrame:
        """The rules as written, with their specificity."""

        def show(p):
            return p if p == ANY else "|".join(p)

        return pd.DataFrame(
            [
                {
                    "rule": i + 1,
                    "churn_type": show(r.churn_type),
                    "reason": show(r.reason),
                    "tier": show(r.tier),
                    "specificity": r.specificity,
                    "strategy": r.strategy,
                    "channels": None
                    if r.channels is None
                    else " > ".join(c or "-" for c in r.channels),
                    "offer": r.offer,
                    "note": r.note,
                }
                for i, r in enumerate(self.rules)
            ]
        )


# --------------------------------------------------------------------------- helpers


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise StrategyError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StrategyError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def _by_value(series: pd.Series, fn) -> pd.Series:
    """``series.astype(object).map(fn)`` with ``fn`` called once per distinct value.

    Text and numpy-number columns (a million customers, a handful of values) are factorized
    first; the result, its dtype included, is the one ``map`` gives. Other dtypes (mixed
    Python objects, where ``1`` and ``1.0`` are one key) are mapped value by value.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=False)
        distinct = pd.Series(uniques).astype(object)
    elif isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        values, codes = np.unique(series.to_numpy(), return_inverse=True)
        distinct = pd.Series(values.astype(object), dtype=object)
    else:
        return series.astype(object).map(fn)
    mapped = distinct.map(fn)
    return mapped.iloc[np.asarray(codes).reshape(-1)].set_axis(series.index).rename(series.name)


def _text(series: pd.Series) -> pd.Series:
    """Trimmed text, missing as None (object dtype)."""
    return _by_value(
        series,
        lambda v: (
            None
            if v is None
            or (isinstance(v, float) and math.isnan(v))
            or v is pd.NA
            or str(v).strip() == ""
            else str(v).strip()
        ),
    )


def tier_text(series: pd.Series) -> pd.Series:
    """Tier ids as text (``1``, ``1.0`` and ``"1"`` are the same tier)."""

    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()

    return _by_value(series, one)


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    reason = _text(frame["reason_code"]).fillna(UNKNOWN_REASON)
    ct = _text(frame["churn_type"])
    ct = ct.where(ct.notna(), np.where(reason == UNKNOWN_REASON, UNKNOWN_REASON, ""))
    tier = tier_text(frame["tier"])
    if tier.isna().any():
        ids = (
            frame.loc[tier.isna().to_numpy(), "customer_id"].astype(str).head(10).tolist()
            if "customer_id" in frame
            else []
        )
        raise StrategyError(
            f"{int(tier.isna().sum())} candidate(s) have no tier (e.g. {ids}); "
            "run stage 3 (tiering) for the month first"
        )
    return pd.DataFrame(
        {"_ct": ct.to_numpy(), "_reason": reason.to_numpy(), "_tier": tier.to_numpy()}
    )


def fill_channels(frame: pd.DataFrame, *, fallback: str = "sms") -> pd.DataFrame:
    """Replace ``preferred`` in ``channel_1..3`` by each customer's ``preferred_channel``.

    A customer with no (or an unknown) preferred channel gets ``fallback``. Returns a new frame.
    """
    _require(frame, ("channel_1", "channel_2", "channel_3"), "frame")
    if fallback not in CHANNEL_ORDER:
        raise StrategyError(
            f"fallback channel {fallback!r} is not a contact channel ({', '.join(CHANNEL_ORDER)})"
        )
    out = frame.copy()
    if "preferred_channel" in out.columns:
        pref = _text(out["preferred_channel"])
        pref = pref.where(pref.isin(CHANNEL_ORDER), fallback)
    else:
        pref = pd.Series(fallback, index=out.index, dtype=object)
    for col in ("channel_1", "channel_2", "channel_3"):
        values = out[col].astype(object)
        values = values.where(values.notna(), None)
        out[col] = values.where(values != PREFERRED, pref).astype(object)
    return out


# --------------------------------------------------------------------------- offers


def category_preference(
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    window_days: int = 365,
    customers: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Each customer's top category and average spend per order, from the store's transactions.

    SQL over ``transactions`` dated on or before ``month``'s last day (one row per order:
    ``order_id`` is the source's key, stage 1 never stores a repeated one). Net spend counts a
    return (``is_return`` true or ``amount < 0``) as ``-abs(amount)``. The window is the
    ``window_days`` days ending on the month end; a customer with no positive net spend in
    the window is described by all their history instead (``preference_window`` =
    ``lifetime``). Net spends are compared in cents (rounded to 2 decimals), so a purchase
    fully refunded counts as zero whatever the order of the floating-point sums.

    ``customers`` (ids) limits the work to those customers' transactions: their rows are the
    rows the whole table gives them (each customer is described by their own transactions
    only), at a fraction of the cost when stage 4 needs a few of a million customers.

    Returns
    -------
    DataFrame
        ``customer_id``; ``top_category`` (largest net spend, ties to the first name in
        sort order; None without a category column or positive category spend);
        ``top_category_share`` (its share of the net spend on categories);
        ``avg_order_value`` (net spend / purchase orders, currency units);
        ``orders`` (purchase orders counted); ``preference_window`` (``<n>d`` or
        ``lifetime``). Only customers with at least one purchase.
    """
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'transactions' "
            "AND table_schema = current_schema()"
        ).fetchall()
    ]
    if not cols:
        raise StrategyError(
            "The store has no table 'transactions': run stage 1 for the month first."
        )
    missing = [c for c in ("order_id", "customer_id", "order_ts", "amount") if c not in cols]
    if missing:
        raise StrategyError(f"Store table 'transactions' lacks column(s) {missing}.")
    is_ret = "(amount < 0" + (" OR coalesce(is_return, false))" if "is_return" in cols else ")")
    category = (
        "nullif(trim(CAST(category AS VARCHAR)), '')"
        if "category" in cols
        else "CAST(NULL AS VARCHAR)"
    )
    end = month_end(month) + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=int(window_days))
    only, wanted = "", None
    if customers is not None:
        ids = pd.Series(list(customers), dtype=object)
        if ids.isna().any():
            raise StrategyError("category_preference: customers holds missing ids")
        wanted = pd.DataFrame({"customer_id": pd.unique(ids.astype(str).to_numpy())})
        only = f"AND customer_id IN (SELECT customer_id FROM {_WANTED})"
    sql = f"""
    WITH tx AS (
        SELECT customer_id, order_id, {category} AS category,
               CAST(CASE WHEN {is_ret} THEN -abs(amount) ELSE amount END AS DECIMAL(18, 4))
                   AS signed,  -- exact sums whatever the order DuckDB adds them in
               (NOT {is_ret} AND amount > 0) AS is_purchase,
               order_ts >= $start AS recent
        FROM transactions WHERE order_ts < $end {only}
    ),
    by_cat AS (
        SELECT customer_id, category,
               sum(signed) FILTER (WHERE recent) AS net_w,
               count(*) FILTER (WHERE recent AND is_purchase) AS orders_w,
               sum(signed) AS net_all,
               count(*) FILTER (WHERE is_purchase) AS orders_all
        FROM tx GROUP BY customer_id, category
    ),
    per AS (
        SELECT customer_id, sum(net_w) AS net_w, sum(orders_w) AS orders_w,
               sum(net_all) AS net_all, sum(orders_all) AS orders_all
        FROM by_cat GROUP BY customer_id
    ),
    pick AS (
        SELECT customer_id, use_w,
               CASE WHEN use_w THEN net_w ELSE net_all END AS net,
               CASE WHEN use_w THEN orders_w ELSE orders_all END AS orders
        FROM (SELECT *, (round(coalesce(net_w, 0), 2) > 0 AND orders_w > 0) AS use_w FROM per)
        WHERE orders_all > 0
    ),
    cat AS (
        SELECT c.customer_id, c.category,
               CASE WHEN p.use_w THEN c.net_w ELSE c.net_all END AS spend
        FROM by_cat c JOIN pick p USING (customer_id)
        WHERE c.category IS NOT NULL AND (c.net_w IS NOT NULL OR NOT p.use_w)
    ),
    top AS (  -- largest spend in cents, ties to the first category name
        SELECT customer_id,
               arg_min(category, (-round(spend, 2), category)) AS category,
               arg_min(spend, (-round(spend, 2), category)) AS spend,
               sum(greatest(spend, 0)) AS cat_total
        FROM cat GROUP BY customer_id
    )
    SELECT p.customer_id,
           CASE WHEN round(r.spend, 2) > 0 THEN r.category END AS top_category,
           CAST(CASE WHEN round(r.spend, 2) > 0 THEN r.spend / r.cat_total END AS DOUBLE)
               AS top_category_share,
           CAST(greatest(p.net, 0) / p.orders AS DOUBLE) AS avg_order_value,
           CAST(p.orders AS BIGINT) AS orders,
           CASE WHEN p.use_w THEN '{int(window_days)}d' ELSE 'lifetime' END AS preference_window
    FROM pick p LEFT JOIN top r ON r.customer_id = p.customer_id
    ORDER BY p.customer_id
    """
    args = {"start": start.to_pydatetime(), "end": end.to_pydatetime()}
    if wanted is None:
        frame = fetch_df(con, sql, args)
    else:
        con.register(_WANTED, wanted)
        try:
            frame = fetch_df(con, sql, args)
        finally:
            con.unregister(_WANTED)
        # a text column without any value comes back as object: keep the full table's dtypes
        for col in ("top_category", "preference_window"):
            if frame[col].dtype == object:
                frame[col] = frame[col].astype("str")
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


_WANTED = "_winback_preference_customers"


def preference_customers(
    screened: pd.DataFrame, watchlist: Watchlist | pd.DataFrame | None = None
) -> list[str]:
    """The customers stage 4 may make an offer to: the candidates and the watchlisted.

    The ids (sorted) to pass as ``customers`` to :func:`category_preference`: the win-back
    candidates of ``screened`` (:func:`candidates_of`) and every customer of the early-warning
    ``watchlist`` (the preventive program's candidates are among them).
    """
    ids = set(candidates_of(screened)["customer_id"].astype(str))
    if watchlist is not None:
        frame = watchlist.frame if isinstance(watchlist, Watchlist) else watchlist
        _require(frame, ("customer_id",), "watchlist")
        ids |= set(frame["customer_id"].astype(str))
    return sorted(ids)


def offer_value(
    avg_order_value: np.ndarray | pd.Series,
    *,
    bands: Sequence[OfferBand],
    scale: np.ndarray | pd.Series | float = 1.0,
    rounding: float = 5.0,
) -> np.ndarray:
    """Face value of an offer: ``floor(min(share * avg, cap) * scale / rounding) * rounding``.

    The band is the first whose ``max_avg_spend`` is at least the average spend per order
    (the last band has no upper bound). A missing or non-positive average gives 0.

    Parameters
    ----------
    avg_order_value : array
        Average net spend per order (currency units).
    bands : sequence of OfferBand
        Spend bands in increasing ``max_avg_spend`` order (see :class:`OfferParams`).
    scale : float or array
        The offer package's scale (0 = no offer).
    rounding : float
        Offers are whole multiples of this (currency units), rounded down.
    """
    avg = np.nan_to_num(np.asarray(avg_order_value, dtype=float), nan=0.0)
    avg = np.maximum(avg, 0.0)
    upper = np.array([np.inf if b.max_avg_spend is None else b.max_avg_spend for b in bands])
    idx = np.minimum(np.searchsorted(upper, avg, side="left"), len(bands) - 1)
    share = np.array([b.share for b in bands])[idx]
    cap = np.array([b.cap for b in bands])[idx]
    raw = np.minimum(share * avg, cap) * np.asarray(scale, dtype=float)
    return np.floor(raw / rounding + 1e-9) * rounding


def design_offers(
    frame: pd.DataFrame, preferences: pd.DataFrame, *, offers: OfferParams
) -> pd.DataFrame:
    """Each candidate's offer: their top category, valued from their spend band and package.

    Parameters
    ----------
    frame : DataFrame
        ``customer_id`` and ``offer_package`` (from :meth:`StrategyMatrix.resolve`).
    preferences : DataFrame
        :func:`category_preference` output.
    offers : OfferParams
        Packages, bands and rounding.

    Returns
    -------
    DataFrame
        A new frame: ``frame`` plus ``top_category``, ``avg_order_value``,
        ``preference_window``, ``offer_category`` (None when the package gives nothing,
        the value rounds to 0 or the customer has no category) and ``offer_value``.
    """
    _require(frame, ("customer_id", "offer_package"), "candidates")
    _require(
        preferences, ("customer_id", "top_category", "avg_order_value"), "category preferences"
    )
    unknown = sorted(set(frame["offer_package"].dropna()) - set(offers.packages))
    if unknown:
        raise StrategyError(
            f"unknown offer package(s) {unknown}; defined: {', '.join(offers.packages)}"
        )
    if not preferences["customer_id"].is_unique:
        raise StrategyError("category preferences have duplicate customer_id rows")
    pref_cols = [
        c
        for c in ("top_category", "avg_order_value", "preference_window")
        if c in preferences.columns
    ]
    out = frame.drop(columns=[c for c in pref_cols if c in frame.columns]).merge(
        preferences[["customer_id", *pref_cols]].assign(
            customer_id=lambda d: d["customer_id"].astype(str)
        ),
        on="customer_id",
        how="left",
    )
    scale = out["offer_package"].map(
        lambda p: offers.packages[p].scale if p in offers.packages else 0.0
    )
    value = offer_value(
        out["avg_order_value"],
        bands=offers.bands,
        scale=scale.to_numpy(float),
        rounding=offers.rounding,
    )
    category = _text(out["top_category"])
    give = (value > 0) & category.notna().to_numpy()
    out["offer_category"] = category.where(give, None).astype(object)
    out["offer_value"] = np.where(give, value, 0.0)
    return out


# --------------------------------------------------------------------------- expected value


def prior_table(priors: Mapping[str, WinbackPrior | Mapping[str, float]]) -> pd.DataFrame:
    """The priors as a table: ``strategy``, ``matched``, ``unmatched``."""
    rows = []
    for s in STRATEGIES:
        p = priors[s]
        get = p.get if isinstance(p, Mapping) else (lambda k, p=p: getattr(p, k))
        rows.append(
            {"strategy": s, "matched": float(get("matched")), "unmatched": float(get("unmatched"))}
        )
    return pd.DataFrame(rows)


def update_priors(
    priors: Mapping[str, WinbackPrior | Mapping[str, float]],
    evidence: pd.DataFrame,
    *,
    strength: float = 200.0,
) -> dict[str, dict[str, float]]:
    """Move the priors towards the win-back uplift evaluated on past campaigns.

    The hook for stage 6's results: for each (strategy, reason match) the posterior mean is
    ``(strength * prior + n * uplift) / (strength + n)`` — the prior counts as ``strength``
    treated customers, the evidence as its ``n`` treated customers (a beta-binomial
    update when the uplift is a rate of wins). Clipped to [0, 1].

    Parameters
    ----------
    priors : mapping
        Strategy -> prior (``matched``, ``unmatched``), e.g. ``params.strategy.p_winback``.
    evidence : DataFrame
        ``strategy``, ``reason_match`` (bool), ``n_treated`` (customers), ``uplift``
        (treated minus control win-back rate). Several rows of a cell are pooled.
    strength : float
        Weight of the prior, in treated customers (``strategy.prior_strength``).

    Returns
    -------
    dict
        Strategy -> ``{"matched": p, "unmatched": p}``, usable wherever priors are.
    """
    _require(evidence, ("strategy", "reason_match", "n_treated", "uplift"), "evidence")
    table = prior_table(priors)
    out = {r.strategy: {"matched": r.matched, "unmatched": r.unmatched} for r in table.itertuples()}
    unknown = sorted(set(evidence["strategy"]) - set(STRATEGIES))
    if unknown:
        raise StrategyError(f"evidence names unknown strategies {unknown}")
    ev = evidence.assign(_w=evidence["n_treated"].astype(float) * evidence["uplift"].astype(float))
    pooled = ev.groupby(["strategy", "reason_match"])[["n_treated", "_w"]].sum()
    for (strategy, matched), row in pooled.iterrows():
        key = "matched" if bool(matched) else "unmatched"
        n = float(row["n_treated"])
        post = (strength * out[strategy][key] + float(row["_w"])) / (strength + n)
        out[strategy][key] = float(min(max(post, 0.0), 1.0))
    return out


def won_back_value(
    frame: pd.DataFrame,
    *,
    value_column: str = "future_value",
    basis: str = "if_alive",
    p_alive_floor: float = 0.05,
) -> np.ndarray:
    """The value a win-back brings: the customer's predicted value had they still been alive.

    Stage 3's ``future_value`` is a BG/NBD x Gamma-Gamma expectation, and the BG/NBD's
    expected purchases are ``P(alive) * E[purchases | alive]`` (Fader, Hardie & Lee 2005,
    eq. 10), so for a churned customer it is mostly the chance that they are not gone at
    all. A successful win-back makes them alive again: with ``basis="if_alive"`` the value
    is ``future_value / max(p_alive, p_alive_floor)``. A customer without a repeat purchase
    (``frequency == 0``) is alive with probability 1 in the BG/NBD, so their future value is
    used as is; so is a customer without ``p_alive`` (no purchase). ``basis="as_is"`` uses
    the column unchanged.

    Parameters
    ----------
    frame : DataFrame
        ``value_column``; ``p_alive`` and ``frequency`` (repeat purchase days) for ``if_alive``.
    value_column : str
        Stage 3's value column (currency units over the tiering horizon).
    basis : {"if_alive", "as_is"}
    p_alive_floor : float
        Smallest P(alive) divided by (bounds the value of customers the model deems gone).

    Returns
    -------
    numpy.ndarray
        Currency units per customer.
    """
    _require(frame, (value_column,), "candidates")
    value = pd.to_numeric(frame[value_column], errors="coerce").astype(float).to_numpy()
    if basis == "as_is":
        return value
    if basis != "if_alive":
        raise StrategyError(f"value basis must be 'if_alive' or 'as_is', got {basis!r}")
    _require(frame, ("p_alive", "frequency"), "candidates (value basis if_alive)")
    p = pd.to_numeric(frame["p_alive"], errors="coerce").astype(float).to_numpy()
    freq = pd.to_numeric(frame["frequency"], errors="coerce").astype(float).to_numpy()
    scale = np.where(
        (freq > 0) & np.isfinite(p), np.maximum(np.nan_to_num(p, nan=1.0), p_alive_floor), 1.0
    )
    return value / scale


def expected_value(
    frame: pd.DataFrame,
    *,
    priors: Mapping[str, WinbackPrior | Mapping[str, float]],
    channel_cost: Mapping[str, float],
    value_column: str = "future_value",
) -> pd.DataFrame:
    """P(win back), cost and expected value of contacting each candidate.

    ``p_winback`` = the prior of (strategy, reason_match); ``contact_cost`` = sum of the
    channel costs of the planned attempts; ``cost = contact_cost + p_winback *
    offer_value``; ``expected_value = p_winback * value - cost`` (currency units).

    Returns
    -------
    DataFrame
        A new frame with ``value``, ``p_winback``, ``contact_cost``, ``offer_cost``,
        ``cost``, ``expected_value`` added.
    """
    _require(
        frame,
        (
            "strategy",
            "reason_match",
            "channel_1",
            "channel_2",
            "channel_3",
            "offer_value",
            value_column,
        ),
        "candidates",
    )
    table = prior_table(priors).set_index("strategy")
    unknown = sorted(set(frame["strategy"].dropna()) - set(table.index))
    if unknown or frame["strategy"].isna().any():
        raise StrategyError(
            f"candidates with unknown or missing strategy: {unknown or ['<missing>']}"
        )
    out = frame.copy()
    matched = out["reason_match"].astype(bool).to_numpy()
    strat = out["strategy"].astype(object).to_numpy()
    p = np.where(
        matched, table.loc[strat, "matched"].to_numpy(), table.loc[strat, "unmatched"].to_numpy()
    )
    contact = np.zeros(len(out))
    for col in ("channel_1", "channel_2", "channel_3"):
        ch = out[col].astype(object)
        bad = ch.notna() & ~ch.isin(list(channel_cost))
        if bad.any():
            raise StrategyError(
                f"{col}: channel(s) {sorted(set(ch[bad]))} have no cost in "
                "strategy.channels.cost (fill 'preferred' first with fill_channels)"
            )
        contact += ch.map(lambda c: 0.0 if pd.isna(c) else float(channel_cost[c])).to_numpy(float)
    value = pd.to_numeric(out[value_column], errors="coerce").astype(float).to_numpy()
    if np.isnan(value).any():
        ids = (
            out.loc[np.isnan(value), "customer_id"].astype(str).head(10).tolist()
            if "customer_id" in out
            else []
        )
        raise StrategyError(
            f"{int(np.isnan(value).sum())} candidate(s) have no {value_column!r} "
            f"(e.g. {ids}); run stage 3 (tiering) for the month first"
        )
    offer = out["offer_value"].astype(float).to_numpy()
    out["value"] = value
    out["p_winback"] = p
    out["contact_cost"] = contact
    out["offer_cost"] = p * offer
    out["cost"] = contact + p * offer
    out["expected_value"] = p * value - out["cost"].to_numpy()
    return out


def plan_strategies(
    candidates: pd.DataFrame,
    preferences: pd.DataFrame,
    params: StrategyParams,
    *,
    priors: Mapping[str, WinbackPrior | Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Strategy, channels, offer and expected value of every candidate (matrix -> offers -> EV).

    Parameters
    ----------
    candidates : DataFrame
        One row per candidate: ``customer_id``, ``churn_type``, ``reason_code``, ``tier``,
        the value column, optional ``preferred_channel``.
    preferences : DataFrame
        :func:`category_preference` output.
    params : StrategyParams
        The ``strategy`` params section.
    priors : mapping, optional
        Priors to use instead of ``params.p_winback`` (e.g. from :func:`update_priors`).

    Returns
    -------
    DataFrame
        ``candidates`` plus the resolved fields, the offer and the expected value, sorted
        by ``customer_id``.
    """
    _require(
        candidates,
        ("customer_id", "churn_type", "reason_code", "tier", params.value_column),
        "candidates",
    )
    matrix = params.build_matrix()
    frame = matrix.resolve(candidates)
    frame["reason_code"] = _text(frame["reason_code"]).fillna(UNKNOWN_REASON).astype(object)
    frame["tier"] = tier_text(frame["tier"])
    frame = fill_channels(frame, fallback=params.channels.preferred_fallback)
    frame = design_offers(frame, preferences, offers=params.offers)
    frame["value"] = won_back_value(
        frame,
        value_column=params.value_column,
        basis=params.value_basis,
        p_alive_floor=params.p_alive_floor,
    )
    frame = expected_value(
        frame,
        priors=priors or params.p_winback,
        channel_cost=params.channels.cost,
        value_column="value",
    )
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- candidates

EXCLUSIONS: tuple[str, ...] = (
    "do_not_contact", "lost", "control_hold", "released", "status_not_targeted",
)


def _unique(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    out = frame.copy()
    out["customer_id"] = out["customer_id"].astype(str)
    dup = out["customer_id"].duplicated(keep=False)
    if dup.any():
        ids = sorted(set(out.loc[dup, "customer_id"]))[:10]
        raise StrategyError(
            f"{what} has more than one row for customer(s) {ids}; expected one per customer"
        )
    return out


def screen_candidates(
    status: pd.DataFrame,
    tiers: pd.DataFrame,
    reasons: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    statuses: Sequence[str] = ("churned",),
    value_column: str = "future_value",
    released: Iterable[str] = (),
    held_out: Iterable[str] = (),
) -> pd.DataFrame:
    """Every customer of the month with why they are, or are not, a win-back candidate.

    A candidate has a status in ``statuses``, is not ``lost``, is not flagged
    ``do_not_contact`` (a missing flag counts as not flagged, as in the snapshot) and is
    not ``released`` (treated last campaign, never answered, and params say to leave them
    alone) and not ``held_out`` (in the control group of a recent campaign whose follow-up
    windows are still open: contacting them now would spoil that campaign's comparison).
    ``exclusion`` says why a customer is not one, checked in this order:
    ``do_not_contact``, ``lost``, ``control_hold``, ``released``, ``status_not_targeted``.

    Parameters
    ----------
    status : DataFrame
        ``churn_status`` of the month: ``customer_id``, ``status`` (``churn_score`` or
        ``score``, ``p_alive`` and ``frequency`` kept when present).
    tiers : DataFrame
        Stage 3: ``customer_id``, ``tier``, ``value_column`` (``tier_label``, ``quadrant``
        kept when present).
    reasons : DataFrame
        Stage 2: ``customer_id``, ``reason_code``, ``churn_type`` (``source`` kept as
        ``reason_source``). A customer without a row has reason ``unknown``.
    customers : DataFrame
        ``customer_id``; ``do_not_contact`` and ``preferred_channel`` when the client has them.
    statuses : sequence of str
        Statuses to consider (``churned``, and ``at_risk`` when params say so).
    value_column : str
        The column of ``tiers`` valued in the expected value.
    released : iterable of str
        Customer ids released after not answering the last campaign (stage 6's
        ``no_response`` list when ``evaluation.no_response_action`` is ``release``).
    held_out : iterable of str
        Customer ids in the control group of a campaign of the last
        ``strategy.holdout.keep_months`` months.

    Returns
    -------
    DataFrame
        One row per customer of ``status``: ``customer_id``, ``status``, ``churn_score``,
        ``p_alive``, ``frequency`` (NaN when absent), ``do_not_contact``,
        ``preferred_channel``, ``tier``, ``tier_label``,
        ``quadrant``, ``value_column``, ``reason_code``, ``churn_type``, ``reason_source``,
        ``exclusion`` (None for candidates), sorted by ``customer_id``.

    Raises
    ------
    StrategyError
        On missing columns or duplicate customers, or when a candidate is missing from
        the customers table or the tiers table.
    """
    _require(status, ("customer_id", "status"), "churn_status")
    _require(tiers, ("customer_id", "tier", value_column), "tiers")
    _require(reasons, ("customer_id", "reason_code", "churn_type"), "reasons")
    _require(customers, ("customer_id",), "customers")
    st = _unique(status, "churn_status")
    if "churn_score" not in st.columns and "score" in st.columns:
        st = st.rename(columns={"score": "churn_score"})
    keep = [
        c
        for c in ("customer_id", "status", "churn_score", "p_alive", "frequency")
        if c in st.columns
    ]
    out = st[keep].copy()
    for col in ("churn_score", "p_alive", "frequency"):
        if col not in out.columns:
            out[col] = np.nan
    cu = _unique(customers, "customers")
    cu_cols = ["customer_id"]
    cu = cu.assign(
        do_not_contact=(
            cu["do_not_contact"].astype("boolean").fillna(False).astype(bool)
            if "do_not_contact" in cu.columns
            else False
        ),
        preferred_channel=(
            _text(cu["preferred_channel"]) if "preferred_channel" in cu.columns else None
        ),
    )
    cu_cols += ["do_not_contact", "preferred_channel"]
    unknown = ~isin(out["customer_id"], cu["customer_id"])
    if unknown.any():
        raise StrategyError(
            f"{int(unknown.sum())} customer(s) of churn_status are not in the customers "
            f"table (e.g. {out.loc[unknown, 'customer_id'].head(5).tolist()}); reload stage 1"
        )
    out = out.merge(cu[cu_cols], on="customer_id", how="left")
    ti = _unique(tiers, "tiers")
    ti_cols = [
        c
        for c in ("customer_id", "tier", "tier_label", "quadrant", value_column)
        if c in ti.columns
    ]
    out = out.merge(ti[ti_cols], on="customer_id", how="left")
    for col in ("tier_label", "quadrant"):
        if col not in out.columns:
            out[col] = None
    out["tier"] = tier_text(out["tier"])
    re_ = _unique(reasons, "reasons")
    re_ = pd.DataFrame(
        {
            "customer_id": re_["customer_id"],
            "reason_code": _text(re_["reason_code"]),
            "churn_type": _text(re_["churn_type"]),
            "reason_source": _text(re_["source"]) if "source" in re_.columns else None,
        }
    )
    out = out.merge(re_, on="customer_id", how="left")
    out["reason_code"] = out["reason_code"].fillna(UNKNOWN_REASON).astype(object)
    unknown_reason = out["reason_code"] == UNKNOWN_REASON
    out["churn_type"] = (
        out["churn_type"]
        .astype(object)
        .where(~unknown_reason | out["churn_type"].notna(), UNKNOWN_REASON)
    )
    out["reason_source"] = (
        out["reason_source"].astype(object).where(out["reason_source"].notna(), None)
    )
    stat = _text(out["status"])
    gone = isin(out["customer_id"], [str(r) for r in released])
    hold = isin(out["customer_id"], [str(r) for r in held_out])
    out = _set_exclusion(
        out,
        [
            out["do_not_contact"].to_numpy(bool),
            (stat == "lost").to_numpy(),
            hold,
            gone,
            ~stat.isin(list(statuses)).to_numpy(),
        ],
        EXCLUSIONS,
        who="candidate(s)",
    )
    order = [
        "customer_id",
        "status",
        "churn_score",
        "p_alive",
        "frequency",
        "do_not_contact",
        "preferred_channel",
        "tier",
        "tier_label",
        "quadrant",
        value_column,
        "reason_code",
        "churn_type",
        "reason_source",
        "exclusion",
    ]
    return out[order].sort_values("customer_id", kind="stable").reset_index(drop=True)


def candidate_funnel(screened: pd.DataFrame) -> pd.DataFrame:
    """How many customers of each status are candidates, and why the others are not.

    Returns
    -------
    DataFrame
        Index ``status``; columns ``customers``, ``candidates`` and one count per exclusion.
    """
    _require(screened, ("status", "exclusion"), "screened customers")
    ex = screened["exclusion"].astype(object).where(screened["exclusion"].notna(), "candidate")
    table = pd.crosstab(screened["status"].astype(str), ex)
    for col in ("candidate", *EXCLUSIONS):
        if col not in table.columns:
            table[col] = 0
    table = table[["candidate", *EXCLUSIONS]].rename(columns={"candidate": "candidates"})
    table.insert(0, "customers", table.sum(axis=1))
    table.index.name = "status"
    table.columns.name = None
    order = [s for s in ("new", "active", "at_risk", "churned", "lost") if s in table.index]
    table = table.loc[order + sorted(set(table.index) - set(order))]
    table.loc["total"] = table.sum()
    table.index.name = "status"
    return table.astype(int)


def candidates_of(screened: pd.DataFrame) -> pd.DataFrame:
    """The candidates of :func:`screen_candidates` (rows without an exclusion)."""
    _require(screened, ("exclusion",), "screened customers")
    return screened[screened["exclusion"].isna()].reset_index(drop=True)


# --------------------------------------------------------------------------- store


@dataclass(frozen=True)
class StrategyInputs:
    """What stage 4 reads from the store for one month (customer-level frames, no PII).

    Attributes
    ----------
    month : str
    status, tiers, reasons : DataFrame
        The month's rows of ``churn_status`` (the columns :func:`screen_candidates` reads:
        ``customer_id``, ``status``, ``score`` or ``churn_score``, ``p_alive``,
        ``frequency``), ``tiers`` (stage 3) and ``reasons`` (stage 2; empty when stage 2
        stored no row for the month).
    customers : DataFrame
        ``customer_id``, ``do_not_contact``, ``preferred_channel`` (when the client has them).
    preferences : DataFrame or None
        :func:`category_preference` of the month (None when :func:`load_inputs` was asked
        to leave them for later, for the customers that need them).
    released : list of str
        Customers stage 6 released last month (treated, never answered, params
        ``evaluation.no_response_action: release``): not contacted again.
    held_out : list of str
        Control customers of the campaigns of the last ``keep_months`` months.
    """

    month: str
    status: pd.DataFrame
    tiers: pd.DataFrame
    reasons: pd.DataFrame
    customers: pd.DataFrame
    preferences: pd.DataFrame | None
    released: tuple[str, ...] = ()
    held_out: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"StrategyInputs(month={self.month!r}, customers={len(self.status)}, "
            f"tiered={len(self.tiers)}, with_reason={len(self.reasons)}, "
            "with_purchases="
            f"{'not read' if self.preferences is None else len(self.preferences)})"
        )

    def screen(self, params: StrategyParams) -> pd.DataFrame:
        """:func:`screen_candidates` with the statuses and value column of ``params``."""
        return screen_candidates(
            self.status,
            self.tiers,
            self.reasons,
            self.customers,
            statuses=params.candidate_statuses,
            value_column=params.value_column,
            released=self.released,
            held_out=self.held_out,
        )


STATUS_COLUMNS = ("customer_id", "status", "churn_score", "score", "p_alive", "frequency")


def load_inputs(con, month: str, *, window_days: int = 365, keep_months: int = 3,
                preferences: bool = True) -> StrategyInputs:
    """Read stage 4's inputs for ``month`` from the engagement store.

    The month's ``churn_status``, ``tiers`` and ``reasons`` rows; the contact flags of
    ``customers`` (never names, phones or emails); category preferences from
    ``transactions``; the customers stage 6 released last month (its ``no_response``
    table, rows of the previous month whose action is ``release``); and the control
    customers of the campaigns of the ``keep_months`` months before ``month`` (the
    ``campaign_log``), kept out of contact until their follow-up windows close.

    ``preferences=False`` leaves the category preferences unread (``preferences`` None):
    read them afterwards for the customers that need them only, ``category_preference(con,
    month, window_days=..., customers=preference_customers(screened, watchlist))``, the
    same rows for those customers at a fraction of the cost.

    Raises
    ------
    StrategyError
        When ``churn_status`` or ``tiers`` has no rows for the month, or the ``reasons``
        table is missing (run stages 1-3 for the month first).
    """
    needs = {"churn_status": "stage 1 (churn status)", "tiers": "stage 3 (tiering)"}
    frames = {}
    for table, stage in needs.items():
        cols = table_columns(con, table)
        if not cols:
            raise StrategyError(f"The store has no table {table!r}: run {stage} for {month} first.")
        if table == "churn_status":  # only what screening reads
            select = ", ".join(f'"{c}"' for c in cols if c in STATUS_COLUMNS)
        else:
            select = "*"
        frame = fetch_df(con, f'SELECT {select} FROM "{table}" WHERE month = ?', [month])
        if frame.empty:
            raise StrategyError(
                f"The store's {table!r} has no rows for {month}: run {stage} first."
            )
        frame["customer_id"] = frame["customer_id"].astype(str)
        frames[table] = frame
    if not table_columns(con, "reasons"):
        raise StrategyError(
            f"The store has no table 'reasons': run stage 2 (reason analysis) for {month} first."
        )
    reasons = fetch_df(con, 'SELECT * FROM "reasons" WHERE month = ?', [month])
    reasons["customer_id"] = reasons["customer_id"].astype(str)
    cols = table_columns(con, "customers")
    if not cols:
        raise StrategyError("The store has no table 'customers': run stage 1 for the month first.")
    wanted = [c for c in ("customer_id", "do_not_contact", "preferred_channel") if c in cols]
    customers = fetch_df(con, f"SELECT {', '.join(wanted)} FROM customers ORDER BY customer_id")
    customers["customer_id"] = customers["customer_id"].astype(str)
    prefs = category_preference(con, month, window_days=window_days) if preferences else None
    released: tuple[str, ...] = ()
    no_response = table_columns(con, "no_response")
    if {"month", "customer_id", "action"} <= set(no_response):
        prev = str(pd.Period(month, "M") - 1)
        rows = con.execute(
            "SELECT DISTINCT CAST(customer_id AS VARCHAR) FROM no_response "
            "WHERE month = ? AND action = 'release' ORDER BY 1",
            [prev],
        ).fetchall()
        released = tuple(r[0] for r in rows)
    held_out: tuple[str, ...] = ()
    if keep_months and {"month", "customer_id", "group"} <= set(table_columns(con, "campaign_log")):
        first = str(pd.Period(month, "M") - keep_months)
        rows = con.execute(
            'SELECT DISTINCT CAST(customer_id AS VARCHAR) FROM campaign_log '
            "WHERE month >= ? AND month < ? AND \"group\" = 'control' ORDER BY 1",
            [first, month],
        ).fetchall()
        held_out = tuple(r[0] for r in rows)
    return StrategyInputs(
        month, frames["churn_status"], frames["tiers"], reasons, customers, prefs, released,
        held_out,
    )


def reason_taxonomy(reasons_params) -> tuple[list[str], dict[str, str]]:
    """Reason codes (taxonomy order) and code -> churn type from the ``reasons`` params section."""
    codes = [str(c) for c in reasons_params.taxonomy]
    return codes, {c: str(reasons_params.taxonomy[c].churn_type) for c in codes}


# --------------------------------------------------------------------------- preventive care

#: Catalog keys of :attr:`Watchlist.note`.
WATCHLIST_NOTES: tuple[str, ...] = (
    "text.strategy.watchlist.no_table", "text.strategy.watchlist.first_month",
    "text.strategy.watchlist.too_old", "text.strategy.watchlist.read",
    "text.strategy.watchlist.given",
)

PREVENTIVE_EXCLUSIONS: tuple[str, ...] = (
    "not_in_month", "do_not_contact", "lost", "churned", "winback_candidate", "control_hold",
    "released", "status_not_targeted",
)


@dataclass(frozen=True)
class Watchlist:
    """The early-warning watchlist stage 4 acts on (stage 7 of an earlier month).

    Attributes
    ----------
    month : str or None
        The watchlist's month; None when no usable watchlist is stored.
    frame : DataFrame
        ``customer_id``, ``risk`` (calibrated P(churn within the warning horizon)),
        ``watch_rank`` (1 = riskiest) and ``factor_1``.. (main contributing factors);
        empty when ``month`` is None.
    note : str
        What was read, as a sentence for the report (in English; :meth:`note_in` tells it
        in another language).
    """

    month: str | None
    frame: pd.DataFrame
    note: str

    def note_in(self, language: str) -> str:
        """:attr:`note` in ``language`` (``zh`` or ``en``)."""
        return retell(self.note, WATCHLIST_NOTES, language)

    def __repr__(self) -> str:
        return f"Watchlist(month={self.month!r}, customers={len(self.frame)})"


def _watch_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.rename(columns={"rank": "watch_rank"}).copy()
    out["customer_id"] = out["customer_id"].astype(str)
    if "watch_rank" not in out.columns:
        out["watch_rank"] = np.arange(1, len(out) + 1)
    factors = sorted(c for c in out.columns if c.startswith("factor_"))
    cols = ["customer_id", "risk", "watch_rank", *factors]
    return out[cols].sort_values("watch_rank", kind="stable").reset_index(drop=True)


def load_watchlist(con, month: str, *, max_age_months: int = 1) -> Watchlist:
    """The latest watchlist stored before ``month`` (stage 7's store table ``watchlist``).

    Stage 7 of month ``M-1`` runs after stage 4 of ``M-1``, so its watchlist reaches the
    strategy stage of ``M``. The latest watchlist month before ``month`` is used when it is
    at most ``max_age_months`` months old; an older one is stale (its customers were scored
    on data that no longer describes them) and none is used. In the engagement's first
    month there is none, and the note says so.

    Returns
    -------
    Watchlist
    """
    table = "watchlist"  # winback.warning.WATCHLIST_TABLE (not imported: it loads sklearn)
    empty = pd.DataFrame(
        {"customer_id": pd.Series(dtype=str), "risk": pd.Series(dtype=float),
         "watch_rank": pd.Series(dtype="int64")}
    )
    cols = set(table_columns(con, table))
    if not {"month", "customer_id", "risk"} <= cols:
        return Watchlist(None, empty, message("text.strategy.watchlist.no_table", "en",
                                              month=month))
    row = con.execute(
        f'SELECT max(CAST(month AS VARCHAR)) FROM "{table}" WHERE CAST(month AS VARCHAR) < ?',
        [month],
    ).fetchall()
    latest = row[0][0] if row else None
    if latest is None:
        return Watchlist(None, empty, message("text.strategy.watchlist.first_month", "en",
                                              month=month))
    age = (pd.Period(month, "M") - pd.Period(latest, "M")).n
    if age > max_age_months:
        return Watchlist(None, empty, message("text.strategy.watchlist.too_old", "en",
                                              latest=latest, age=age, max_age=max_age_months))
    frame = fetch_df(con, f'SELECT * FROM "{table}" WHERE CAST(month AS VARCHAR) = ?',
                        [latest])
    frame = _watch_frame(frame)
    return Watchlist(latest, frame, message("text.strategy.watchlist.read", "en", latest=latest,
                                            n=len(frame)))


def screen_preventive(
    screened: pd.DataFrame,
    watchlist: pd.DataFrame,
    *,
    statuses: Sequence[str] = ("active", "at_risk"),
) -> pd.DataFrame:
    """Every watchlisted customer with why they are, or are not, a preventive-care candidate.

    A watchlisted customer (scored active last month) gets a preventive care contact when
    their status this month is in ``statuses`` and nothing else rules them out. The
    ``exclusion`` says why not, checked in this order: ``not_in_month`` (no status this
    month), ``do_not_contact``, ``lost``, ``churned`` (churned since the watchlist: a
    win-back case, never counted twice), ``winback_candidate`` (already a win-back
    candidate this month, e.g. ``at_risk`` when the win-back statuses include it),
    ``control_hold`` (control customer of a recent campaign), ``released`` and
    ``status_not_targeted``.

    Parameters
    ----------
    screened : DataFrame
        :func:`screen_candidates` of the month (every customer, with ``exclusion``).
    watchlist : DataFrame
        ``customer_id``, ``risk``, ``watch_rank`` (or ``rank``), ``factor_*``.
    statuses : sequence of str
        Statuses contacted preventively (``strategy.preventive.statuses``).

    Returns
    -------
    DataFrame
        One row per watchlisted customer: the watchlist's columns, the screened columns
        (status, tier, value, contact flags, ...) and ``exclusion`` (None for candidates),
        in watchlist order.
    """
    _require(screened, ("customer_id", "status", "exclusion"), "screened customers")
    _require(watchlist, ("customer_id", "risk"), "watchlist")
    watch = _unique(_watch_frame(watchlist), "watchlist")
    sc = screened.rename(columns={"exclusion": "_winback_exclusion"})
    out = watch.merge(sc, on="customer_id", how="left")
    stat = _text(out["status"])
    wex = out["_winback_exclusion"].astype(object)
    missing = stat.isna().to_numpy()
    out = _set_exclusion(
        out,
        [
            missing,
            (wex == "do_not_contact").to_numpy(),
            (stat == "lost").to_numpy(),
            (stat == "churned").to_numpy(),
            wex.isna().to_numpy() & ~missing,
            (wex == "control_hold").to_numpy(),
            (wex == "released").to_numpy(),
            ~stat.isin(list(statuses)).to_numpy(),
        ],
        PREVENTIVE_EXCLUSIONS,
        who="preventive candidate(s)",
    )
    return out.drop(columns="_winback_exclusion").reset_index(drop=True)


def _set_exclusion(out: pd.DataFrame, conditions, names, *, who: str) -> pd.DataFrame:
    """``out`` with ``exclusion`` = the first name whose condition holds (None: a candidate).

    Raises
    ------
    StrategyError
        When a candidate has no tier (stage 3 not run for the month).
    """
    exclusion = np.select(conditions, list(names), default="")
    out = out.assign(exclusion=pd.Series(exclusion, dtype=object, index=out.index)
                     .where(exclusion != "", None))
    no_tier = out["exclusion"].isna() & out["tier"].isna()
    if no_tier.any():
        raise StrategyError(
            f"{int(no_tier.sum())} {who} have no row in the tiers table (e.g. "
            f"{out.loc[no_tier, 'customer_id'].head(5).tolist()}); rerun stage 3 for the month"
        )
    return out


def preventive_funnel(screened_watch: pd.DataFrame) -> pd.DataFrame:
    """Watchlisted customers by outcome: candidates, and each reason for leaving one out.

    Returns
    -------
    DataFrame
        ``outcome``, ``customers`` (``candidates`` first, then :data:`PREVENTIVE_EXCLUSIONS`
        in order, then ``watchlisted``, the total).
    """
    _require(screened_watch, ("exclusion",), "screened watchlist")
    ex = screened_watch["exclusion"].astype(object)
    rows = [("candidates", int(ex.isna().sum()))]
    rows += [(name, int((ex == name).sum())) for name in PREVENTIVE_EXCLUSIONS]
    rows.append(("watchlisted", len(screened_watch)))
    return pd.DataFrame(rows, columns=["outcome", "customers"])


def plan_preventive(
    candidates: pd.DataFrame, preferences: pd.DataFrame, params: StrategyParams
) -> pd.DataFrame:
    """Care contact, channels, offer and expected value of each preventive candidate.

    Every candidate gets the care strategy, channel sequence and offer package of
    ``params.preventive``. The value at stake is the customer's future value as it is
    (stage 3's ``value_column``: they are alive, and a kept customer brings it);
    ``p_winback`` is here the probability that the contact keeps a customer who would
    otherwise churn: ``risk x p_save`` (the watchlist's calibrated churn risk times the
    share of would-be churners a care contact keeps). ``contact_cost`` = the channel costs
    of the planned attempts; the offer is counted at its full face value (an active
    customer who buys uses it, churn or not); ``cost = contact_cost + offer_value`` and
    ``expected_value = p_winback x value - cost`` (currency units).

    Returns
    -------
    DataFrame
        ``candidates`` plus ``strategy``, ``channel_1``..``3``, ``offer_package``,
        ``reason_match`` (False), the offer (:func:`design_offers`), ``value``,
        ``p_winback``, ``contact_cost``, ``offer_cost``, ``cost``, ``expected_value``,
        sorted by ``customer_id``.
    """
    pp = params.preventive
    _require(candidates, ("customer_id", "risk", "tier", params.value_column), "candidates")
    frame = candidates.reset_index(drop=True).copy()
    frame["strategy"] = pp.strategy
    for i, ch in enumerate(pp.channels, start=1):
        frame[f"channel_{i}"] = pd.Series([ch] * len(frame), dtype=object)
    frame["offer_package"] = pp.offer
    frame["reason_match"] = False
    frame["tier"] = tier_text(frame["tier"])
    frame = fill_channels(frame, fallback=params.channels.preferred_fallback)
    frame = design_offers(frame, preferences, offers=params.offers)
    value = won_back_value(frame, value_column=params.value_column, basis="as_is")
    if np.isnan(value).any():
        ids = frame.loc[np.isnan(value), "customer_id"].head(10).tolist()
        raise StrategyError(
            f"{int(np.isnan(value).sum())} preventive candidate(s) have no "
            f"{params.value_column!r} (e.g. {ids}); run stage 3 (tiering) for the month first"
        )
    risk = pd.to_numeric(frame["risk"], errors="coerce").astype(float).to_numpy()
    if np.isnan(risk).any() or ((risk < 0) | (risk > 1)).any():
        raise StrategyError("watchlist risk must be a probability in [0, 1] for every candidate")
    contact = np.zeros(len(frame))
    for col in ("channel_1", "channel_2", "channel_3"):
        contact += (
            frame[col].astype(object)
            .map(lambda c: 0.0 if pd.isna(c) else float(params.channels.cost[c]))
            .to_numpy(float)
        )
    p = risk * pp.p_save
    offer = frame["offer_value"].astype(float).to_numpy()
    frame["value"] = value
    frame["p_winback"] = p
    frame["contact_cost"] = contact
    frame["offer_cost"] = offer
    frame["cost"] = contact + offer
    frame["expected_value"] = p * value - frame["cost"].to_numpy()
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- learned priors


def prior_evidence(
    outcomes: pd.DataFrame,
    matrix: StrategyMatrix,
    *,
    alpha: float = 0.05,
    method: str = "newcomb",
) -> pd.DataFrame:
    """Evaluated win-back uplift per strategy, split into the prior's reason-match cells.

    ``outcomes`` are stage 6's per-customer window outcomes of the campaigns evaluated in
    the run month (:func:`winback.evaluation.collect`). For each win-back campaign month
    the longest elapsed window is used (the most complete follow-up); within it, each
    strategy's treated and control customers give the reactivation difference with its
    interval (:func:`winback.uplift.rate_difference`, intention to treat). Unlike stage 6's
    report, no minimum size applies: the evidence's weight is its *effective size*
    ``n_t n_c / (n_t + n_c)`` (the variance of a difference of two rates is that of one rate
    over this many customers), so a strategy with few control customers moves its prior
    little. The evaluation does not say whether the strategy matched the customer's
    reason, so each strategy's effective size is split between the ``matched`` and
    ``unmatched`` cells by the share of its treated customers whose matrix rule names their
    reason (:meth:`StrategyMatrix.resolve` on their churn type, reason and tier).

    Parameters
    ----------
    outcomes : DataFrame
        ``campaign_month``, ``window``, ``customer_id``, ``group``, ``reactivated``,
        ``strategy``, ``churn_type``, ``reason_code``, ``tier`` and optional ``program``
        (win-back when absent; preventive rows are ignored).
    matrix : StrategyMatrix
    alpha, method
        Interval level and method (``evaluation.alpha``, ``evaluation.rate_ci_method``).

    Returns
    -------
    DataFrame
        ``campaign_month``, ``window``, ``strategy``, ``reason_match``, ``n_treated`` (the
        cell's share of the effective size, customers), ``treated``, ``control`` (arm
        sizes of the strategy), ``uplift``, ``ci_low``, ``ci_high``.
    """
    from winback.uplift import rate_difference

    cols = ["campaign_month", "window", "strategy", "reason_match", "n_treated", "treated",
            "control", "uplift", "ci_low", "ci_high"]
    empty = pd.DataFrame({c: [] for c in cols})
    if outcomes is None or outcomes.empty:
        return empty
    _require(outcomes, ("campaign_month", "window", "group", "reactivated", "strategy",
                        "churn_type", "reason_code", "tier"), "outcomes")
    o = outcomes
    if "program" in o.columns:
        o = o[(o["program"].astype("string").fillna("winback") == "winback").to_numpy(bool)]
    o = o[o["strategy"].isin(STRATEGIES).to_numpy(bool)]
    if o.empty:
        return empty
    longest = o.groupby("campaign_month")["window"].transform("max")
    o = o[(o["window"] == longest).to_numpy(bool)].reset_index(drop=True)
    treat = (o["group"] == "treatment").to_numpy(bool)
    resolved = matrix.resolve(o.loc[treat, ["churn_type", "reason_code", "tier"]]
                              .reset_index(drop=True))
    matched = np.zeros(len(o), bool)
    matched[treat] = (resolved["reason_match"].to_numpy(bool)
                      & (resolved["strategy"].to_numpy() == o.loc[treat, "strategy"].to_numpy()))
    o = o.assign(_matched=matched, _won=o["reactivated"].astype("boolean").fillna(False)
                 .astype(bool))
    rows = []
    for (cm, strategy), cell in o.groupby(["campaign_month", "strategy"], sort=True):
        t = cell[cell["group"] == "treatment"]
        c = cell[cell["group"] == "control"]
        if len(t) == 0 or len(c) == 0:
            continue
        comp = rate_difference(int(t["_won"].sum()), len(t), int(c["_won"].sum()), len(c),
                               alpha=alpha, method=method)
        n_eff = len(t) * len(c) / (len(t) + len(c))
        share = float(t["_matched"].mean())
        for is_matched, part in ((True, share), (False, 1.0 - share)):
            if part <= 0:
                continue
            rows.append({
                "campaign_month": str(cm), "window": int(cell["window"].iloc[0]),
                "strategy": str(strategy), "reason_match": is_matched,
                "n_treated": n_eff * part, "treated": len(t), "control": len(c),
                "uplift": comp.diff, "ci_low": comp.ci_low, "ci_high": comp.ci_high,
            })
    if not rows:
        return empty
    return pd.DataFrame(rows, columns=cols).sort_values(
        ["strategy", "reason_match", "campaign_month"], ignore_index=True)


def prior_moves(
    priors: Mapping[str, WinbackPrior | Mapping[str, float]],
    evidence: pd.DataFrame,
    *,
    strength: float = 200.0,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """The priors moved by ``evidence`` (:func:`update_priors`) and a table of what moved.

    Returns
    -------
    tuple
        The posterior priors (strategy -> ``{"matched", "unmatched"}``) and a table with
        one row per (strategy, cell): ``prior``, ``evidence_n`` (the evidence's weight in
        customers: ``n_treated`` summed),
        ``uplift`` (their pooled evaluated uplift, NaN without evidence), ``ci_low`` /
        ``ci_high`` (the widest 95% interval among the pooled evaluations),
        ``posterior``, ``change`` (posterior - prior) and ``weight`` (the evidence's share
        ``n / (strength + n)``).
    """
    post = update_priors(priors, evidence, strength=strength) if len(evidence) else {
        r.strategy: {"matched": r.matched, "unmatched": r.unmatched}
        for r in prior_table(priors).itertuples()
    }
    rows = []
    for r in prior_table(priors).itertuples():
        for cell, matched in (("matched", True), ("unmatched", False)):
            ev = evidence[(evidence["strategy"] == r.strategy)
                          & (evidence["reason_match"].astype(bool) == matched)] \
                if len(evidence) else evidence
            n = float(ev["n_treated"].sum()) if len(ev) else 0.0
            prior = float(getattr(r, cell))
            rows.append({
                "strategy": r.strategy, "cell": cell, "prior": prior, "evidence_n": n,
                "uplift": float((ev["n_treated"] * ev["uplift"]).sum() / n) if n else math.nan,
                "ci_low": float(ev["ci_low"].min()) if n else math.nan,
                "ci_high": float(ev["ci_high"].max()) if n else math.nan,
                "posterior": post[r.strategy][cell],
                "change": post[r.strategy][cell] - prior,
                "weight": n / (strength + n),
            })
    return post, pd.DataFrame(rows)


def learned_priors(outcomes: pd.DataFrame, params: StrategyParams, *, alpha: float = 0.05,
                   method: str = "newcomb"):
    """The month's P(win back) priors: the params priors moved by evaluated campaigns.

    ``outcomes`` are the window outcomes of the campaigns evaluated by the run month
    (:func:`winback.evaluation.collect`); :func:`prior_evidence` turns them into evidence
    and :func:`prior_moves` shrinks each prior toward it. With ``params.learn_priors``
    false the params priors are used unchanged (the table still shows the evidence).

    Returns
    -------
    tuple
        ``(priors, table)`` as :func:`prior_moves`.
    """
    evidence = prior_evidence(outcomes, params.build_matrix(), alpha=alpha, method=method)
    post, table = prior_moves(params.p_winback, evidence, strength=params.prior_strength)
    if not params.learn_priors:
        post = {r.strategy: {"matched": r.matched, "unmatched": r.unmatched}
                for r in prior_table(params.p_winback).itertuples()}
        table = table.assign(posterior=table["prior"], change=0.0)
    return post, table


def describe_prior_moves(table: pd.DataFrame, *, language: str = "en") -> str:
    """A sentence on which priors the evaluated campaigns moved, and by how much.

    ``language`` (``zh`` or ``en``) is the language of the sentence.
    """
    lang = check_language(language)
    moved = table[table["evidence_n"] > 0]
    if moved.empty:
        return message("text.strategy.no_prior_moves", lang)
    big = moved.reindex(moved["change"].abs().sort_values(ascending=False).index).head(3)
    parts = message("common.clause_sep", lang).join(
        message("text.strategy.prior_move", lang, strategy=r.strategy, cell=r.cell, p=r.prior,
                q=r.posterior, u=r.uplift, n=r.evidence_n)
        for r in big.itertuples()
    )
    return message("text.strategy.prior_moves", lang, k=len(moved), n=len(table), parts=parts)
