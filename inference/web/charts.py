"""Geometry for the server-rendered charts: probability bars, similarity bars, line charts.

Pure functions, no Django: the templates draw SVG from what these return. Everything is
in SVG user units (bars on a 0–100 track, line charts in a fixed viewBox that scales
with the page), so no inline ``style=`` is ever needed (the CSP forbids it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

BAR_TRACK = 100.0


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def bar_width(value: object, *, lo: float = 0.0, hi: float = 1.0) -> float:
    """Where ``value`` falls between ``lo`` and ``hi`` on a 0–100 track (clamped)."""
    number = _number(value)
    if number is None or hi <= lo:
        return 0.0
    share = (number - lo) / (hi - lo)
    return round(max(0.0, min(1.0, share)) * BAR_TRACK, 2)


def scale_top(top: object) -> float:
    """The ``hi`` of probability bars scaled to the largest value shown (``top``); 1.0 (the
    whole 0–1 range) when there is no usable top."""
    number = _number(top)
    return number if number is not None and 0 < number <= 1 else 1.0


@dataclass(frozen=True)
class SignedBar:
    """A bar growing left or right from the middle of a track, for values in [-1, 1]."""

    x: float
    width: float
    negative: bool


def signed_bar(value: object, *, limit: float = 1.0) -> SignedBar:
    number = _number(value) or 0.0
    share = max(-1.0, min(1.0, number / limit))
    half = BAR_TRACK / 2
    width = round(abs(share) * half, 2)
    x = round(half - width if share < 0 else half, 2)
    return SignedBar(x=x, width=width, negative=share < 0)


# --- Line charts ------------------------------------------------------------------------


def nice_step(span: float, count: int) -> float:
    """A round tick spacing (1, 2, 2.5 or 5 × 10^n) giving about ``count`` ticks."""
    if span <= 0 or count < 1:
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + 1
    step = nice_step(hi - lo, count)
    quotient = lo / step
    nearest = round(quotient)
    # 0.3 / 0.1 is 2.9999999999999996: snap what is a tick but for rounding noise.
    start = (nearest if abs(quotient - nearest) < 1e-9 else math.floor(quotient)) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def tick_label(value: float, step: float) -> str:
    """``value`` with as many decimals as the tick spacing needs (2.5 → 1, 0.25 → 2)."""
    digits = 0
    while digits < 4 and abs(step * 10**digits - round(step * 10**digits)) > 1e-6:
        digits += 1
    if digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


@dataclass(frozen=True)
class Series:
    key: str  # css hook: line-<key>
    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


@dataclass(frozen=True)
class Tick:
    value: float
    pos: float  # x for the x axis, y for the y axis
    label: str


@dataclass
class PlottedSeries:
    key: str
    label: str
    path: str  # "x,y x,y ..." for <polyline points=...>
    dashed: bool
    end_x: float
    end_y: float
    last_value: float | None


@dataclass
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    series: list[PlottedSeries] = field(default_factory=list)
    x_label: str = ""
    y_label: str = ""

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top

    @property
    def y_tick_x(self) -> float:
        """Where the y axis' tick labels end (they are right-aligned)."""
        return self.left - 8

    @property
    def x_tick_y(self) -> float:
        return self.bottom + 18

    @property
    def x_title_y(self) -> float:
        return self.height - 6

    @property
    def center_x(self) -> float:
        return round((self.left + self.right) / 2, 1)

    @property
    def center_y(self) -> float:
        return round((self.top + self.bottom) / 2, 1)

    @property
    def end_label_x(self) -> float:
        return self.right + 8


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 560,
    height: int = 300,
    x_label: str = "",
    y_label: str = "",
    y_floor: float | None = 0.0,
    margin: tuple[float, float, float, float] = (16, 120, 44, 56),  # top, right, bottom, left
) -> LineChart:
    """Scale the series into a ``width`` × ``height`` viewBox with round ticks.

    The right margin leaves room for a label at the end of each line, so lines are named
    in text, not by colour alone.
    """
    top, right, bottom, left = margin
    chart = LineChart(
        width=width,
        height=height,
        left=left,
        right=width - right,
        top=top,
        bottom=height - bottom,
        x_label=x_label,
        y_label=y_label,
    )
    xs = [x for s in series for x, _ in s.points if _number(x) is not None]
    ys = [y for s in series for _, y in s.points if _number(y) is not None]
    if not xs or not ys:
        return chart
    x_ticks = nice_ticks(0.0 if min(xs) >= 0 else min(xs), max(xs), 5)
    y_lo = min(ys) if y_floor is None else min(y_floor, min(ys))
    y_ticks = nice_ticks(y_lo, max(ys), 5)
    x_lo, x_hi = x_ticks[0], x_ticks[-1]
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return round(chart.left + (x - x_lo) / (x_hi - x_lo) * chart.plot_width, 1)

    def sy(y: float) -> float:
        return round(chart.bottom - (y - y_lo) / (y_hi - y_lo) * chart.plot_height, 1)

    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    chart.x_ticks = [Tick(v, sx(v), tick_label(v, x_step)) for v in x_ticks]
    chart.y_ticks = [Tick(v, sy(v), tick_label(v, y_step)) for v in y_ticks]
    for s in series:
        points = [(x, y) for x, y in s.points if _number(x) is not None and _number(y) is not None]
        if not points:
            continue
        scaled = [(sx(x), sy(y)) for x, y in points]
        chart.series.append(
            PlottedSeries(
                key=s.key,
                label=s.label,
                path=" ".join(f"{x},{y}" for x, y in scaled),
                dashed=s.dashed,
                end_x=scaled[-1][0],
                end_y=scaled[-1][1],
                last_value=points[-1][1],
            )
        )
    _spread_end_labels(chart)
    return chart


def _spread_end_labels(chart: LineChart, gap: float = 14.0) -> None:
    """Nudge line-end labels apart vertically so they never overlap."""
    ordered = sorted(chart.series, key=lambda s: s.end_y)
    previous = None
    for item in ordered:
        if previous is not None and item.end_y - previous < gap:
            item.end_y = round(previous + gap, 1)
        previous = item.end_y


def downsample(
    points: Sequence[tuple[float, float]], limit: int = 240
) -> list[tuple[float, float]]:
    """At most ``limit`` points, evenly spaced, always keeping the first and the last."""
    points = list(points)
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]
