"""One chart style for the kit: seaborn theme, palette, number formats, CJK font."""

from __future__ import annotations

import base64
import functools
import io
import struct

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import font_manager
from matplotlib.ticker import FuncFormatter

__all__ = [
    "PALETTE", "SAVE_DPI", "TAKEAWAY_GID", "cjk_font", "figure_png", "format_money",
    "format_pct", "interval_errors", "new_axes", "show_saved_png", "takeaway", "takeaway_of",
    "use_theme",
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


# Resolution of the PNG charts written to a run's figures/ folder (and shown inline).
SAVE_DPI = 110
_RENDERED = "_winback_png"  # figure attribute: (settings, PNG bytes) of its last rendering


def _save_settings() -> tuple:
    """What a saved PNG depends on besides the figure itself (the ``savefig.*`` params)."""
    return SAVE_DPI, tuple(sorted((k, repr(v)) for k, v in mpl.rcParams.items()
                                  if k.startswith("savefig.")))


def figure_png(fig) -> bytes:
    """The chart as a PNG file's bytes, rendered as ``figures/`` holds it.

    ``savefig(dpi=SAVE_DPI, bbox_inches="tight")``. A figure rendered before (e.g. shown
    inline by :func:`show_saved_png`'s formatter) and unchanged since (matplotlib marks a
    figure *stale* whenever one of its artists changes) is not drawn again: its bytes are
    reused, identical to a new rendering.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        The chart (an Axes stands for its figure).

    Returns
    -------
    bytes
        The PNG file.
    """
    fig = getattr(fig, "figure", fig)
    settings = _save_settings()
    cached = getattr(fig, _RENDERED, None)
    if cached is not None and cached[0] == settings and not fig.stale:
        return cached[1]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=SAVE_DPI, bbox_inches="tight")
    data = buffer.getvalue()
    setattr(fig, _RENDERED, (settings, data))
    # A tight-bbox save leaves the figure marked stale although nothing changed; any later
    # change to an artist marks it stale again, which makes the next call draw afresh.
    fig.stale = False
    return data


def _png_width(data: bytes) -> int:
    """Pixel width of a PNG (from its IHDR chunk)."""
    return struct.unpack(">I", data[16:20])[0]


def _inline_png(fig):
    """IPython's ``image/png`` formatter for figures: the saved PNG, shown at screen size."""
    data = figure_png(fig)
    width = round(_png_width(data) * fig.dpi / SAVE_DPI)
    return base64.b64encode(data).decode("ascii"), {"width": width}


def show_saved_png() -> bool:
    """In a Jupyter kernel drawing inline: show charts as the very PNG that is saved.

    Matplotlib's inline backend draws each figure shown by a cell at screen resolution;
    saving the figure (``RunOutputs.figure``) then drew it again at :data:`SAVE_DPI`. With
    this formatter the inline chart is the saved rendering (displayed at the screen size
    the figure had before, ``figure.dpi``), and saving the unchanged figure reuses it, so
    each chart is drawn once. Nothing changes outside an IPython kernel, with another
    backend, or when the inline backend was configured to other formats or options.

    Returns
    -------
    bool
        Whether the formatter is in place.
    """
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    backend = str(mpl.rcParams._get("backend"))
    if backend not in ("inline", "module://matplotlib_inline.backend_inline"):
        return False
    try:
        import matplotlib_inline.backend_inline  # noqa: F401  (sets up inline display first)
        from matplotlib_inline.config import InlineBackend
    except ImportError:
        return False
    config = InlineBackend.instance(parent=shell)
    if set(config.figure_formats) != {"png"} or config.print_figure_kwargs != {
            "bbox_inches": "tight"}:
        return False
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _inline_png)
    return True


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
