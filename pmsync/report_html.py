"""`pmsync report --html`: one self-contained page (inline CSS and SVG, nothing fetched)
with the ranked backlog, demand over time for the top issues, revenue against requests,
the customers who ask for the most issues and the themes no issue covers yet."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from linking.report import Report
from models.records import money

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777")
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#6b7280;margin-bottom:16px}
table{border-collapse:collapse;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb;text-align:left;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#ranked td:nth-child(2){white-space:nowrap}
.up{color:#16a34a}.down{color:#dc2626}
.charts{display:flex;flex-wrap:wrap;gap:24px}
.chart{border:1px solid #e5e7eb;border-radius:6px;padding:8px}
svg text{font:11px system-ui,sans-serif;fill:#374151}
.terms{color:#374151}.quote{color:#4b5563;font-style:italic}
a{color:#1d4ed8;text-decoration:none}
"""


def _money(amount: Decimal, currency: str | None) -> str:
    return money(amount, currency)


def _cell(value: Any, exact: Any = None, cls: str = "n") -> str:
    title = (
        f' title="{escape(str(exact))}" data-value="{escape(str(exact))}"'
        if exact is not None
        else ""
    )
    return f'<td class="{cls}"{title}>{escape(str(value))}</td>'


def ranked_table(report: Report) -> str:
    head = "".join(
        f'<th class="n">{h}</th>' if n else f"<th>{h}</th>"
        for h, n in (
            ("#", 1),
            ("Issue", 0),
            ("Summary", 0),
            ("Status", 0),
            ("Requests", 1),
            ("Customers", 1),
            ("Revenue", 1),
            ("Open pipeline", 1),
            ("Naming the issue", 1),
            ("Weighted", 1),
            ("Importance", 1),
            ("Trend (30 d)", 1),
        )
    )
    body = []
    for rank, row in enumerate(report.rows, 1):
        d = row.demand
        trend = row.trend
        arrow = "up" if trend > 0 else "down" if trend < 0 else ""
        body.append(
            f'<tr data-key="{escape(row.key)}">'
            f'<td class="n">{rank}</td>'
            f'<td><a href="{escape(row.url)}">{escape(row.key)}</a></td>'
            f"<td>{escape(row.summary)}</td><td>{escape(row.status)}</td>"
            + _cell(d.requests, d.requests)
            + _cell(d.customers, d.customers)
            + _cell(_money(d.revenue, d.currency), d.revenue)
            + _cell(_money(d.open_pipeline, d.currency), d.open_pipeline)
            + _cell(_money(row.named_pipeline, d.currency), row.named_pipeline)
            + _cell(_money(d.weighted_pipeline, d.currency), d.weighted_pipeline)
            + _cell(d.weighted_requests, d.weighted_requests)
            + f'<td class="n {arrow}">{trend:+d} ({d.requests_last_30d} vs '
            f"{d.requests_prior_30d})</td></tr>"
        )
    return (
        f'<table id="ranked"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _axis_ticks(high: float, count: int = 4) -> list[float]:
    if high <= 0:
        return [0.0]
    step = high / count
    return [step * i for i in range(count + 1)]


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}"


def demand_over_time(
    report: Report, history: dict[str, list[tuple[datetime, dict[str, float]]]], top: int = 5
) -> str:
    """Cumulative requests of the top issues by their creation dates (lines), and the
    requests each publish wrote on the ticket (dots, from the store's demand history)."""
    keys = [r.key for r in report.rows[:top] if report.requested_at.get(r.key)]
    if not keys:
        return "<p>No requests to draw.</p>"
    times = [t for k in keys for t in report.requested_at[k]]
    times += [when for k in keys for when, _ in history.get(k, [])]
    start, end = min(times).timestamp(), max(times).timestamp()
    span = max(end - start, 1.0)
    highest = max(
        [len(report.requested_at[k]) for k in keys]
        + [n["requests"] for k in keys for _, n in history.get(k, [])]
    )
    width, height, left, bottom, top_pad, right = 640, 300, 44, 40, 12, 150

    def x(when: datetime) -> float:
        return left + (when.timestamp() - start) / span * (width - left - right)

    def y(value: float) -> float:
        return height - bottom - value / max(highest, 1) * (height - bottom - top_pad)

    parts = [f'<svg id="over-time" width="{width}" height="{height}" role="img">']
    for tick in _axis_ticks(highest):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e5e7eb"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick:.0f}</text>'
        )
    for when in (min(times), max(times)):
        anchor = "start" if when == min(times) else "end"
        parts.append(
            f'<text x="{x(when):.1f}" y="{height - bottom + 16}" text-anchor="{anchor}">'
            f"{when:%Y-%m-%d}</text>"
        )
    for i, key in enumerate(keys):
        color = PALETTE[i % len(PALETTE)]
        points = [(x(min(times)), y(0))]
        for n, when in enumerate(report.requested_at[key], 1):
            points.append((x(when), points[-1][1]))
            points.append((x(when), y(n)))
        points.append((x(max(times)), points[-1][1]))
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}">'
            f"<title>{escape(key)}: {len(report.requested_at[key])} requests</title></polyline>"
        )
        for when, numbers in history.get(key, []):
            parts.append(
                f'<circle cx="{x(when):.1f}" cy="{y(numbers["requests"]):.1f}" r="4" '
                f'fill="white" stroke="{color}" stroke-width="2"><title>{escape(key)} published '
                f"{when:%Y-%m-%d %H:%M}: {numbers['requests']:.0f} requests</title></circle>"
            )
        legend_y = top_pad + 14 + i * 18
        parts.append(
            f'<rect x="{width - right + 12}" y="{legend_y - 9}" width="10" height="10" '
            f'fill="{color}"/><text x="{width - right + 28}" y="{legend_y}">{escape(key)} '
            f"({len(report.requested_at[key])})</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}">Cumulative requests by date asked; dots: what '
        "each publish wrote on the ticket</text></svg>"
    )
    return "".join(parts)


def scatter(report: Report, label: int = 8) -> str:
    """Revenue against requests, one dot per issue; the top rows are labelled."""
    rows = report.rows
    if not rows:
        return "<p>No issues to draw.</p>"
    width, height, left, bottom, pad = 520, 300, 56, 36, 14
    most = max(r.demand.requests for r in rows) or 1
    richest = float(max(r.demand.revenue for r in rows)) or 1.0

    def x(requests: int) -> float:
        return left + requests / most * (width - left - pad * 3)

    def y(revenue: Decimal) -> float:
        return height - bottom - float(revenue) / richest * (height - bottom - pad)

    parts = [f'<svg id="scatter" width="{width}" height="{height}" role="img">']
    for tick in _axis_ticks(richest):
        ty = height - bottom - tick / richest * (height - bottom - pad)
        parts.append(
            f'<line x1="{left}" x2="{width - pad}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{_short(tick)}</text>'
        )
    for tick in _axis_ticks(float(most)):
        tx = left + tick / most * (width - left - pad * 3)
        parts.append(
            f'<text x="{tx:.1f}" y="{height - bottom + 14}" text-anchor="middle">{tick:.0f}</text>'
        )
    for rank, row in enumerate(rows):
        d = row.demand
        cx, cy = x(d.requests), y(d.revenue)
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="#2563eb" fill-opacity="0.55">'
            f"<title>{escape(row.key)}: {d.requests} requests, "
            f"{_money(d.revenue, d.currency)} revenue</title></circle>"
        )
        if rank < label:  # labels near the right edge read leftwards, inside the chart
            tx, anchor = (cx - 7, "end") if cx > width - 70 else (cx + 7, "start")
            parts.append(
                f'<text x="{tx:.1f}" y="{cy - 5:.1f}" text-anchor="{anchor}">'
                f"{escape(row.key)}</text>"
            )
    parts.append(
        f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">Requests</text>'
        f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" '
        'text-anchor="middle">Revenue</text></svg>'
    )
    return "".join(parts)


def customers_chart(report: Report) -> str:
    """The customers who ask for the most issues, as bars, with their revenue."""
    rows = report.customers
    if not rows:
        return "<p>No customers.</p>"
    width, bar, left = 640, 18, 220
    most = max(len(c.issues) for c in rows)
    height = len(rows) * (bar + 6) + 10
    parts = [f'<svg id="customers" width="{width}" height="{height}" role="img">']
    for i, c in enumerate(rows):
        top = 5 + i * (bar + 6)
        length = len(c.issues) / most * (width - left - 170)
        parts.append(
            f'<text x="{left - 8}" y="{top + 13}" text-anchor="end">{escape(c.name[:30])}</text>'
            f'<rect x="{left}" y="{top}" width="{length:.1f}" height="{bar}" fill="#7c3aed" '
            f'fill-opacity="0.7"><title>{escape(", ".join(c.issues))}</title></rect>'
            f'<text x="{left + length + 6:.1f}" y="{top + 13}">{len(c.issues)} issues, '
            f"{c.requests} requests, {_money(c.revenue, report.currency)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def themes_section(themes: Sequence[Any], currency: str | None) -> str:
    """Demand with no issue yet (linking.themes.Theme rows)."""
    if not themes:
        return "<p>Every request links to an issue.</p>"
    items = []
    for theme in themes:
        quotes = "".join(
            f'<li class="quote"><a href="{escape(q.url)}">{escape(q.customer)}</a>: '
            f"{escape(q.text)}</li>"
            for q in theme.quotes
        )
        items.append(
            f'<tr data-theme="{theme.id}"><td>{escape(", ".join(theme.terms))}</td>'
            f'<td class="n">{theme.size}</td><td class="n">{theme.customers}</td>'
            f'<td class="n">{_money(theme.revenue, currency)}</td><td><ul>{quotes}</ul></td></tr>'
        )
    return (
        '<table id="themes"><thead><tr><th>Terms</th><th class="n">Requests</th>'
        '<th class="n">Customers</th><th class="n">Revenue</th><th>Examples</th></tr></thead>'
        f"<tbody>{''.join(items)}</tbody></table>"
    )


def render(
    report: Report,
    history: dict[str, list[tuple[datetime, dict[str, float]]]],
    *,
    generated: datetime,
    described: str,
    themes: Sequence[Any] | None = None,
) -> str:
    total_requests = sum(r.demand.requests for r in report.rows)
    sections = [
        f"<h1>Backlog by customer demand</h1><p class='meta'>{escape(described)}; "
        f"{len(report.rows)} issues, {total_requests} requests; generated "
        f"{generated:%Y-%m-%d %H:%M} UTC by pmsync</p>",
        "<h2>Ranked issues</h2>",
        ranked_table(report),
        "<h2>Charts</h2><div class='charts'>",
        f"<div class='chart'><b>Demand over time, top issues</b><br>"
        f"{demand_over_time(report, history)}</div>",
        f"<div class='chart'><b>Revenue against requests</b><br>{scatter(report)}</div>",
        "</div>",
        "<h2>Customers who ask for the most issues</h2>",
        customers_chart(report),
    ]
    if themes is not None:
        sections += ["<h2>Demand with no issue yet</h2>", themes_section(themes, report.currency)]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>pmsync demand report</title>"
        f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>"
    )
