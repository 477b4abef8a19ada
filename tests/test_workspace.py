"""RunOutputs writes a stage's tables and figures into its run folder."""

import io

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from winback.workspace import RunOutputs


def test_figure_is_the_tight_110_dpi_png(tmp_path):
    out = RunOutputs(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.set_title("月度流失率")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path = out.figure("trend", ax)
    assert path == tmp_path / "figures" / "trend.png"
    assert path.read_bytes() == buf.getvalue()
    ax.set_title("changed")
    assert out.figure("trend2", fig).read_bytes() != buf.getvalue()
    plt.close(fig)


def test_tables_round_trip_and_a_missing_one_is_named(tmp_path):
    out = RunOutputs(tmp_path)
    frame = pd.DataFrame({"customer_id": ["a", "b"], "score": [0.1, 0.9]})
    out.table("scores", frame)
    pd.testing.assert_frame_equal(out.read_table("scores"), frame)
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        out.read_table("nothing_here")
