"""Charts render Chinese text with a real CJK font, never missing-glyph boxes."""

import warnings

import matplotlib.pyplot as plt
import pytest

from winback.plots import cjk_font, format_money, format_pct, takeaway, use_theme


def test_a_cjk_font_is_installed_by_the_kit():
    assert cjk_font() is not None, "the kit's set-up installs Noto Sans SC (pylopdf-fonts-zh-cn)"


def test_chinese_labels_render_without_missing_glyphs(tmp_path):
    use_theme()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig, ax = plt.subplots()
        ax.bar(["华东", "华北", "华南"], [0.12, 0.08, 0.2])
        ax.set_title("各地区流失率")
        ax.set_xlabel("地区")
        ax.set_ylabel("流失率 (%)")
        format_pct(ax)
        takeaway(ax, "华南流失率最高：20%，高于平均 13%")
        fig.savefig(tmp_path / "zh.png")
    plt.close(fig)
    assert (tmp_path / "zh.png").stat().st_size > 5000


def test_missing_glyphs_would_be_caught(tmp_path):
    """The check above is live: a font without CJK glyphs makes matplotlib warn."""
    fig, ax = plt.subplots()
    ax.set_title("流失率", fontfamily="DejaVu Sans")
    with pytest.warns(UserWarning, match="missing from font"):
        fig.savefig(tmp_path / "boxes.png")
    plt.close(fig)


def test_number_formats():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 25_000])
    format_money(ax)
    assert ax.yaxis.get_major_formatter()(25_000, 0) == "25k"
    assert ax.yaxis.get_major_formatter()(2_500_000, 0) == "2.5M"
    format_pct(ax, "x", decimals=1)
    assert ax.xaxis.get_major_formatter()(0.125, 0) == "12.5%"
    plt.close(fig)


def test_interval_errors_never_negative():
    import numpy as np

    from winback.plots import interval_errors

    err = interval_errors([0.0, 0.5], [1e-17, 0.4], [0.2, 0.5 - 1e-17])
    assert (err >= 0).all()
    np.testing.assert_allclose(err, [[0.0, 0.1], [0.2, 0.0]])


def _chart():
    use_theme()
    fig, ax = plt.subplots()
    ax.bar(["流失", "活跃"], [3, 5])
    ax.set_title("客户状态")
    return fig, ax


def _saved(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def test_figure_png_is_the_saved_rendering_and_reused_while_unchanged(monkeypatch):
    from winback.plots import SAVE_DPI, figure_png

    fig, ax = _chart()
    expected = _saved(fig)
    assert SAVE_DPI == 110
    assert figure_png(ax) == expected  # an Axes stands for its figure
    draws = []
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: draws.append(1))
    assert figure_png(fig) == expected and draws == []  # unchanged: not drawn again
    monkeypatch.undo()
    ax.set_title("客户状态（更新）")  # any change marks the figure stale
    changed = figure_png(fig)
    assert changed != expected and changed == _saved(fig)
    plt.close(fig)


def test_figure_png_draws_again_when_save_params_change():
    import matplotlib as mpl

    from winback.plots import figure_png

    fig, _ = _chart()
    first = figure_png(fig)
    with mpl.rc_context({"savefig.facecolor": "#eeeeee"}):
        assert figure_png(fig) != first
    plt.close(fig)


def test_inline_png_shows_the_saved_bytes_at_screen_size():
    import base64

    from winback.plots.theme import _inline_png, figure_png

    fig, _ = _chart()
    data, meta = _inline_png(fig)
    png = figure_png(fig)
    assert base64.b64decode(data) == png
    width = int.from_bytes(png[16:20], "big")
    assert meta == {"width": round(width * 100 / 110)}
    plt.close(fig)


def test_show_saved_png_leaves_plain_python_alone():
    from winback.plots import show_saved_png

    assert show_saved_png() is False  # no IPython kernel here
