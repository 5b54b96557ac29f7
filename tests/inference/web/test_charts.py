from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference.web.charts import (
    Series,
    bar_width,
    downsample,
    line_chart,
    nice_ticks,
    signed_bar,
    tick_label,
)


@pytest.mark.parametrize(
    ("value", "width"),
    [(0.4321, 43.21), (0, 0.0), (1, 100.0), (1.7, 100.0), (-0.2, 0.0), ("0.5", 50.0),
     (None, 0.0), ("x", 0.0), (math.nan, 0.0), (math.inf, 0.0)],
)  # fmt: skip
def test_bar_width_is_a_clamped_share_of_the_track(value, width):
    assert bar_width(value) == width


def test_signed_bars_grow_from_the_middle():
    left = signed_bar(-0.5)
    right = signed_bar(0.3)
    assert (left.x, left.width, left.negative) == (25.0, 25.0, True)
    assert (right.x, right.width, right.negative) == (50.0, 15.0, False)
    assert signed_bar(-3).x == 0.0 and signed_bar(None).width == 0.0


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(0.001, 1e6, allow_nan=False),
)
def test_nice_ticks_cover_the_range_with_round_steps(lo, span):
    hi = lo + span
    ticks = nice_ticks(lo, hi)
    slack = 1e-9 * max(span, abs(lo), abs(hi))  # float noise, relative to the numbers
    assert ticks[0] <= lo + slack and ticks[-1] >= hi - slack
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(ticks) <= 12
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    # the step is a difference of two ticks, so it carries their float noise (a 0.0002 step
    # between ticks near 298316 comes out as 0.00020000013)
    noise = 1e-12 * max(abs(lo), abs(hi), 1) / step
    assert any(abs(mantissa - m) <= max(1e-6, noise) for m in (1, 2, 2.5, 5, 10)), mantissa
    assert max(steps) - min(steps) <= 1e-6 * max(1, step)


@pytest.mark.parametrize(
    ("value", "step", "label"),
    [(2.5, 2.5, "2.5"), (0.25, 0.25, "0.25"), (1000, 500, "1,000"), (0.4, 0.2, "0.4"),
     (5.0, 1.0, "5")],
)  # fmt: skip
def test_tick_labels_use_the_decimals_the_step_needs(value, step, label):
    assert tick_label(value, step) == label


def test_line_chart_scales_points_into_the_plot_and_labels_line_ends():
    chart = line_chart(
        [
            Series("bert", "BERT", [(0, 7.0), (1, 5.0), (2, 3.0)]),
            Series("gpt", "GPT", [(0, 7.0), (2, 3.1)], dashed=True),
        ],
        width=500,
        height=300,
    )
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert chart.x_ticks[0].pos == chart.left and chart.x_ticks[-1].pos == chart.right
    first = chart.series[0]
    points = [tuple(map(float, p.split(","))) for p in first.path.split()]
    assert all(chart.left <= x <= chart.right and chart.top <= y <= chart.bottom for x, y in points)
    assert points[0][1] < points[-1][1]  # loss falls, so the line goes down the screen
    # End labels never overlap even when the lines end at almost the same value.
    assert abs(chart.series[0].end_y - chart.series[1].end_y) >= 14
    assert chart.series[1].dashed and chart.series[0].last_value == 3.0


def test_line_chart_without_points_is_empty_not_an_error():
    chart = line_chart([Series("a", "A", [])])
    assert chart.series == [] and chart.x_ticks == []


def test_downsample_keeps_the_ends():
    points = [(i, i * 2) for i in range(1000)]
    kept = downsample(points, 50)
    assert len(kept) == 50 and kept[0] == points[0] and kept[-1] == points[-1]
    assert downsample(points[:10], 50) == points[:10]
