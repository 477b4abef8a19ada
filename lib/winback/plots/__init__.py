"""The kit's charts: one theme, axes-level ``plot_*(data, *, ax=None, **kw) -> Axes`` functions.

Each stage's charts live in a submodule named for the stage's subject
(``winback.plots.reasons``, ``winback.plots.tiers``, ...). Every chart has a title,
labelled axes with units, and a one-line takeaway written from the data
(:func:`takeaway`). :func:`use_theme` is called on import so notebooks and the batch
draw alike; Chinese labels use the first CJK font found (:func:`cjk_font`). In a Jupyter
kernel the inline chart is the PNG that is saved (:func:`show_saved_png`), so a chart
shown and then saved is drawn once.
"""

from __future__ import annotations

from winback.plots.theme import (
    PALETTE,
    SAVE_DPI,
    cjk_font,
    figure_png,
    format_money,
    format_pct,
    interval_errors,
    new_axes,
    show_saved_png,
    takeaway,
    takeaway_of,
    use_theme,
)

__all__ = [
    "PALETTE", "SAVE_DPI", "cjk_font", "figure_png", "format_money", "format_pct",
    "interval_errors", "new_axes", "show_saved_png", "takeaway", "takeaway_of", "use_theme",
]

use_theme()
show_saved_png()
