"""One chart style for the kit: seaborn theme, palette, number formats, CJK font."""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import font_manager
from matplotlib.ticker import FuncFormatter

__all__ = [
    "PALETTE", "TAKEAWAY_GID", "cjk_font", "format_money", "format_pct", "interval_errors",
    "new_axes", "takeaway", "takeaway_of", "use_theme",
]

# Qualitative palette (colour-blind safe, seaborn "colorblind"), first colour = the kit's accent.
PALETTE = sns.color_palette("colorblind", 10).as_hex()

# Fonts with Simplified Chinese glyphs, in order of preference.
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
    "Heiti SC", "Sarasa Gothic SC", "Droid Sans Fallback", "AR PL UMing CN",
)


@functools.cache
def cjk_font() -> str | None:
    """Name of a font with Simplified Chinese glyphs, or ``None`` when none is available.

    The kit's set-up installs Noto Sans SC (OFL) as a Python package; it is registered with
    matplotlib here, so charts do not depend on the machine's system fonts.
    """
    try:
        import pylopdf_fonts_zh_cn

        font_manager.fontManager.addfont(str(pylopdf_fonts_zh_cn.sans_path()))
    except (ImportError, OSError, RuntimeError):
        pass
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def use_theme() -> None:
    """Apply the kit's chart theme (idempotent)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    family = [f for f in (cjk_font(),) if f] + ["DejaVu Sans"]
    plt.rcParams.update({
        "font.family": "sans-serif",
        "font.sans-serif": family + list(plt.rcParams["font.sans-serif"]),
        "axes.unicode_minus": False,
        "axes.titleweight": "normal",
        "axes.titlesize": 12,
        "axes.labelsize": 10,
        "figure.figsize": (8, 4.2),
        "figure.dpi": 100,
        "savefig.dpi": 110,
    })


def new_axes(ax=None, figsize=None):
    """``ax`` itself, or a fresh Axes on a new figure."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def format_pct(ax, axis: str = "y", decimals: int = 0) -> None:
    """Show an axis holding shares (0-1) as percentages."""
    fmt = FuncFormatter(lambda v, _: f"{v * 100:.{decimals}f}%")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def format_money(ax, axis: str = "y", currency: str = "CNY") -> None:
    """Show an axis holding amounts with thousands separators (and k/M for large values)."""

    def _fmt(v, _):
        if abs(v) >= 1e6:
            return f"{v / 1e6:,.1f}M"
        if abs(v) >= 1e4:
            return f"{v / 1e3:,.0f}k"
        return f"{v:,.0f}"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(_fmt))


TAKEAWAY_GID = "winback-takeaway"


def takeaway(ax, text: str) -> None:
    """Write a chart's one-line takeaway under its title (computed from the data by the caller).

    The line is an annotation tagged :data:`TAKEAWAY_GID`; :func:`takeaway_of` reads it back.
    """
    note = ax.annotate(text, xy=(0, 1), xycoords="axes fraction", xytext=(0, 6),
                       textcoords="offset points", fontsize=9, color="#444444", ha="left",
                       va="bottom")
    note.set_gid(TAKEAWAY_GID)
    ax.set_title(ax.get_title(), pad=22)


def takeaway_of(ax) -> str | None:
    """The takeaway line written on ``ax`` by :func:`takeaway` (``None`` when there is none)."""
    notes = [t.get_text() for t in ax.texts if t.get_gid() == TAKEAWAY_GID]
    return notes[-1] if notes else None


def interval_errors(values, low, high) -> np.ndarray:
    """``yerr`` for ``errorbar`` from interval bounds: distances below and above each value.

    Bounds that sit a rounding error on the wrong side of their value give 0, not a
    negative length (matplotlib refuses those).
    """
    v = np.asarray(values, float)
    return np.vstack([np.clip(v - np.asarray(low, float), 0, None),
                      np.clip(np.asarray(high, float) - v, 0, None)])
