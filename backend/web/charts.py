"""Inline SVG charts: geometry computed here, drawn by the templates (no script, no assets).

A line chart for the SOH over time and bar charts for the SoC and temperature histograms,
in a fixed 320×180 viewBox that the page scales to its width.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

WIDTH: Final = 320
HEIGHT: Final = 180
LEFT: Final = 36
RIGHT: Final = 10
TOP: Final = 12
BOTTOM: Final = 30


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class LineChart:
    points: list[Point]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    bottom_edge: int = HEIGHT - BOTTOM

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class BarChart:
    bars: list[Bar]
    unit: str
    total: int
    y_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    bottom_edge: int = HEIGHT - BOTTOM


def _plot_y(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return HEIGHT - BOTTOM - (value - low) / span * (HEIGHT - BOTTOM - TOP)


def line_chart(points: Sequence[tuple[datetime, float]]) -> LineChart:
    """SOH values (%) over time; the y axis spans the data rounded out to 5 %, up to 100 %."""
    values = [value for _, value in points]
    low = max(0.0, math.floor((min(values) - 1) / 5) * 5)
    high = min(100.0, max(low + 5, math.ceil((max(values) + 1) / 5) * 5))
    if max(values) > high:
        high = math.ceil(max(values))
    first = points[0][0].timestamp()
    last = points[-1][0].timestamp()
    span = (last - first) or 1.0
    inner = WIDTH - LEFT - RIGHT
    plotted = [
        Point(
            LEFT + (inner / 2 if last == first else (at.timestamp() - first) / span * inner),
            _plot_y(value, low, high),
            f"{at:%Y-%m-%d}: {value:g} %",
        )
        for at, value in points
    ]
    step = (high - low) / 4
    y_ticks = [Tick(_plot_y(low + i * step, low, high), f"{low + i * step:g}") for i in range(5)]
    x_ticks = [Tick(plotted[0].x, f"{points[0][0]:%Y-%m-%d}")]
    if last != first:
        x_ticks.append(Tick(plotted[-1].x, f"{points[-1][0]:%Y-%m-%d}"))
    return LineChart(plotted, y_ticks, x_ticks)


def bucket_labels(edges: Sequence[float]) -> list[str]:
    """`edges` are inner boundaries: n edges make n + 1 buckets, open at both ends."""
    if not edges:
        return ["all"]
    labels = [f"<{edges[0]:g}"]
    labels += [f"{a:g}–{b:g}" for a, b in itertools.pairwise(edges)]
    labels.append(f"≥{edges[-1]:g}")
    return labels


def bar_chart(edges: Sequence[float], counts: Sequence[int], unit: str) -> BarChart:
    labels = bucket_labels(edges)
    peak = max(max(counts, default=0), 1)
    inner = WIDTH - LEFT - RIGHT
    slot = inner / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        y = _plot_y(count, 0, peak)
        bars.append(
            Bar(
                x=LEFT + index * slot + slot * 0.1,
                y=y,
                width=slot * 0.8,
                height=HEIGHT - BOTTOM - y,
                label=labels[index] if index < len(labels) else str(index),
                count=count,
            )
        )
    y_ticks = [Tick(_plot_y(0, 0, peak), "0"), Tick(_plot_y(peak, 0, peak), str(peak))]
    return BarChart(bars, unit, sum(counts), y_ticks)
