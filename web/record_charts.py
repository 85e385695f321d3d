"""Charts of the record: each sampled critical parameter of a phase over time, with its limit band.

Plain SVG drawn here (no JavaScript): the record page shows it inline and WeasyPrint
draws it in the PDF. The values come from the stored samples (connectors' readings with
a `sampling_id`, purpose "sampled"); the band is the tag's registered low/high.

    svg = sample_chart(samples, low=40.0, high=60.0, unit="degC", title="FBD-01.product_temp")
"""
from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Sequence

WIDTH, HEIGHT = 720, 210
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 22, 34


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def sample_chart(samples: Sequence[dict[str, Any]], *, low: float | None, high: float | None, unit: str,
                 title: str) -> str:
    """An SVG line chart of `samples` ({"t": ISO time, "value": number, "within_limits": bool}),
    with the band low..high shaded and every sample outside it marked in red."""
    values = [float(s["value"]) for s in samples if isinstance(s.get("value"), (int, float))]
    points = [s for s in samples if isinstance(s.get("value"), (int, float))]
    bounds = values + [b for b in (low, high) if b is not None]
    y_min, y_max = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
    if y_max - y_min < 1e-9:
        y_min, y_max = y_min - 1.0, y_max + 1.0
    pad = (y_max - y_min) * 0.08
    y_min, y_max = y_min - pad, y_max + pad
    times = [_time(s.get("t")) for s in points]
    known = [t for t in times if t is not None]
    span = (max(known) - min(known)).total_seconds() if len(known) == len(points) and known else 0.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(index: int) -> float:
        if span > 0:
            return LEFT + plot_w * (times[index] - known[0]).total_seconds() / span  # type: ignore[operator]
        return LEFT + (plot_w * index / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - (value - y_min) / (y_max - y_min))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="record-chart" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}" '
           f'font-family="Noto Sans CJK SC, Noto Sans, DejaVu Sans, sans-serif" font-size="10">',
           f'<text x="{LEFT}" y="14" font-weight="bold">{html.escape(title)}'
           f'{" (" + html.escape(unit) + ")" if unit else ""}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#888" stroke-width="0.6"/>']
    if low is not None or high is not None:
        band_top = y_of(high) if high is not None else TOP
        band_bottom = y_of(low) if low is not None else TOP + plot_h
        out.append(f'<rect class="limit-band" x="{LEFT}" y="{band_top:.1f}" width="{plot_w}" '
                   f'height="{max(band_bottom - band_top, 0):.1f}" fill="#d9f0d9" stroke="none"/>')
        for bound, name in ((low, "low"), (high, "high")):
            if bound is not None:
                y = y_of(bound)
                out.append(f'<line class="limit-{name}" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
                           f'stroke="#2e7d32" stroke-width="0.8" stroke-dasharray="4 3"/>'
                           f'<text x="{LEFT + plot_w - 2}" y="{y - 2:.1f}" text-anchor="end" fill="#2e7d32">'
                           f'{name} {_number(bound)}</text>')
    for tick in _ticks(y_min + pad, y_max - pad):
        y = y_of(tick)
        out.append(f'<line x1="{LEFT - 3}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#888"/>'
                   f'<text x="{LEFT - 5}" y="{y + 3:.1f}" text-anchor="end">{_number(tick)}</text>')
    if known:
        first, last = min(known), max(known)
        out.append(f'<text x="{LEFT}" y="{HEIGHT - 18}">{first.strftime("%Y-%m-%d %H:%M:%S")} UTC</text>')
        if span > 0:
            out.append(f'<text x="{LEFT + plot_w}" y="{HEIGHT - 18}" text-anchor="end">'
                       f'{last.strftime("%H:%M:%S")} UTC (+{span:.0f} s)</text>')
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 5}" fill="#444">{len(points)} samples</text>')
    if points:
        path = " ".join(f"{x_of(i):.1f},{y_of(float(p['value'])):.1f}" for i, p in enumerate(points))
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f4e9c" stroke-width="1.2"/>')
        for i, p in enumerate(points):
            if not p.get("within_limits", True):
                out.append(f'<circle class="outside" cx="{x_of(i):.1f}" cy="{y_of(float(p["value"])):.1f}" r="3" '
                           f'fill="#c62828"/>')
    out.append("</svg>")
    return "".join(out)
