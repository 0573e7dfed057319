"""SVG charts of benches/RESULTS.md, drawn from its tables (the numbers have one home).

    python3 benches/compare/charts.py [--results benches/RESULTS.md] [--out benches/charts]

writes:
- ``quota-streams.svg``: rows/s against streams opened, at the service's per-stream quota
  (the "Against the service's quota" table), with the ideal line streams × quota;
- ``quota-cpu.svg`` and ``no-quota-cpu.svg``: client CPU seconds per 1M rows of each
  contender, at the quota and without it.

Plain SVG written by hand, no plotting library: it renders in any browser and on GitHub.
run.py calls ``draw`` after each run; run it by hand after editing RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUOTA_SECTION = "Against the service's quota"
NO_QUOTA_SECTION = "Client efficiency (no quota)"
QUOTA_RECORDS_PER_SEC = 100_000

# The Markdown that shows the charts, at the end of each section run.py writes.
QUOTA_IMAGES = (
    "![rows/s against streams opened at the quota](charts/quota-streams.svg)\n\n"
    "![client CPU seconds per 1M rows at the quota](charts/quota-cpu.svg)"
)
NO_QUOTA_IMAGES = "![client CPU seconds per 1M rows without a quota](charts/no-quota-cpu.svg)"

OURS = "#1f6feb"
OFFICIAL = "#d1242f"
IDEAL = "#8c959f"
FONT = "font-family='-apple-system,Segoe UI,Helvetica,Arial,sans-serif'"


def section_table(markdown: str, heading: str) -> list[dict[str, str]]:
    """The first table under ``## heading``: one dict per row, keyed by column header."""
    start = markdown.find(f"## {heading}\n")
    if start < 0:
        return []
    end = markdown.find("\n## ", start + 1)
    lines = markdown[start : end if end > 0 else None].splitlines()
    rows = [ln for ln in lines if ln.startswith("|")]
    if len(rows) < 3:
        return []
    cells = lambda ln: [c.strip() for c in ln.strip().strip("|").split("|")]  # noqa: E731
    head = cells(rows[0])
    return [dict(zip(head, cells(ln))) for ln in rows[2:]]


def number(text: str) -> float | None:
    """``1,254,941`` → 1254941.0; anything that is not a number (a failure note) → None."""
    m = re.fullmatch(r"-?[\d,]+(\.\d+)?", text.strip())
    return float(text.replace(",", "")) if m else None


def svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {FONT} font-size='12'>\n"
        f"<title>{escape(title)}</title>\n"
        f"<rect width='{width}' height='{height}' fill='white'/>\n" + "\n".join(body) + "\n</svg>\n"
    )


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``value``."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * exp >= value:
            return m * exp
    return 10 * exp


def short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def streams_chart(rows: list[dict[str, str]]) -> str | None:
    """rows/s against streams opened, one series per transport, and the ideal."""
    series: dict[str, list[tuple[float, float, str]]] = {}
    for r in rows:
        name = r.get("contender", "")
        rps, streams = number(r.get("rows/s", "")), number(r.get("streams opened", ""))
        if rps is None or streams is None:
            continue
        if name.startswith("ours: Rust `send_all`, max_streams"):
            key = "ours: Rust send_all (proto), max_streams fixed"
        elif name.startswith("ours"):
            key = "ours: defaults and other front ends"
        else:
            key = "official SDKs"
        series.setdefault(key, []).append((streams, rps, name))
    if not series:
        return None
    width, height, left, right, top, bottom = 760, 440, 80, 250, 40, 50
    max_streams = max(s for pts in series.values() for s, _, _ in pts)
    max_streams = 2 ** math.ceil(math.log2(max(max_streams, 2)))
    y_max = nice_max(max(max(r for pts in series.values() for _, r, _ in pts), max_streams * QUOTA_RECORDS_PER_SEC))
    plot_w, plot_h = width - left - right, height - top - bottom
    x = lambda s: left + plot_w * math.log2(s) / math.log2(max_streams)  # noqa: E731
    y = lambda v: top + plot_h * (1 - v / y_max)  # noqa: E731
    body = [
        f"<text x='{left}' y='22' font-size='14' font-weight='600'>Rows/s against streams, at the "
        f"service's quota ({QUOTA_RECORDS_PER_SEC:,} records/s per stream)</text>"
    ]
    for k in range(6):
        v = y_max * k / 5
        body.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#eaeef2'/>")
        body.append(f"<text x='{left - 8}' y='{y(v) + 4:.1f}' text-anchor='end'>{short(v)}</text>")
    s = 1
    while s <= max_streams:
        body.append(f"<line x1='{x(s):.1f}' x2='{x(s):.1f}' y1='{top}' y2='{top + plot_h}' stroke='#eaeef2'/>")
        body.append(f"<text x='{x(s):.1f}' y='{top + plot_h + 18}' text-anchor='middle'>{s}</text>")
        s *= 2
    body.append(
        f"<text x='{left + plot_w / 2}' y='{height - 10}' text-anchor='middle'>streams opened (log scale)</text>"
    )
    body.append(
        f"<text transform='translate(16,{top + plot_h / 2}) rotate(-90)' text-anchor='middle'>rows/s</text>"
    )
    # streams × quota is a curve on a log x axis: draw it through every doubling.
    points, s = [], 1
    while s <= max_streams:
        points.append(f"{x(s):.1f},{y(s * QUOTA_RECORDS_PER_SEC):.1f}")
        s *= 2
    ideal = " ".join(points)
    body.append(f"<polyline points='{ideal}' fill='none' stroke='{IDEAL}' stroke-dasharray='5 4'/>")
    legend = [("streams × quota (the ceiling)", IDEAL, "dash")]
    colours = {
        "ours: Rust send_all (proto), max_streams fixed": (OURS, "line"),
        "ours: defaults and other front ends": ("#0a7f3f", "dot"),
        "official SDKs": (OFFICIAL, "dot"),
    }
    for key, pts in series.items():
        colour, kind = colours[key]
        pts.sort()
        if kind == "line":
            body.append(
                f"<polyline points='{' '.join(f'{x(s):.1f},{y(r):.1f}' for s, r, _ in pts)}' "
                f"fill='none' stroke='{colour}' stroke-width='2'/>"
            )
        for s, r, name in pts:
            body.append(
                f"<circle cx='{x(s):.1f}' cy='{y(r):.1f}' r='4' fill='{colour}'>"
                f"<title>{escape(name)}: {r:,.0f} rows/s on {s:g} streams</title></circle>"
            )
        legend.append((key, colour, kind))
    for i, (label, colour, kind) in enumerate(legend):
        ly = top + 10 + 22 * i
        lx = left + plot_w + 20
        if kind == "dash":
            body.append(f"<line x1='{lx}' x2='{lx + 20}' y1='{ly}' y2='{ly}' stroke='{colour}' stroke-dasharray='5 4'/>")
        else:
            body.append(f"<circle cx='{lx + 10}' cy='{ly}' r='4' fill='{colour}'/>")
        body.append(f"<text x='{lx + 28}' y='{ly + 4}' font-size='11'>{escape(label)}</text>")
    return svg(width, height, body, "rows/s against streams at the quota")


def cpu_chart(rows: list[dict[str, str]], title: str) -> str | None:
    """Client CPU seconds per 1M rows, one bar per contender, the cheapest first."""
    bars = []
    for r in rows:
        cpu = number(r.get("client CPU s per 1M rows", ""))
        if cpu is not None:
            bars.append((cpu, r.get("contender", "")))
    if not bars:
        return None
    bars.sort()
    label_w, bar_h, gap, top, right = 470, 16, 6, 44, 70
    width = 1000
    plot_w = width - label_w - right
    height = top + len(bars) * (bar_h + gap) + 30
    x_max = nice_max(max(c for c, _ in bars))
    body = [f"<text x='10' y='22' font-size='14' font-weight='600'>{escape(title)}</text>"]
    for k in range(6):
        v = x_max * k / 5
        gx = label_w + plot_w * v / x_max
        body.append(f"<line x1='{gx:.1f}' x2='{gx:.1f}' y1='{top - 6}' y2='{height - 24}' stroke='#eaeef2'/>")
        body.append(f"<text x='{gx:.1f}' y='{height - 8}' text-anchor='middle' font-size='11'>{v:g}</text>")
    for i, (cpu, name) in enumerate(bars):
        by = top + i * (bar_h + gap)
        colour = OURS if name.startswith("ours") else OFFICIAL
        label = name.replace("`", "")
        body.append(
            f"<text x='{label_w - 8}' y='{by + bar_h - 4}' text-anchor='end' font-size='11'>{escape(label)}</text>"
        )
        body.append(
            f"<rect x='{label_w}' y='{by}' width='{max(plot_w * cpu / x_max, 1):.1f}' height='{bar_h}' "
            f"fill='{colour}'><title>{escape(label)}: {cpu:.2f} CPU s per 1M rows</title></rect>"
        )
        body.append(
            f"<text x='{label_w + plot_w * cpu / x_max + 6:.1f}' y='{by + bar_h - 4}' font-size='11'>{cpu:.2f}</text>"
        )
    return svg(width, height, body, title)


def draw(results: Path, out: Path) -> list[Path]:
    """Write every chart whose table RESULTS.md has; the paths written."""
    text = results.read_text(encoding="utf-8")
    quota, no_quota = section_table(text, QUOTA_SECTION), section_table(text, NO_QUOTA_SECTION)
    charts = {
        "quota-streams.svg": streams_chart(quota),
        "quota-cpu.svg": cpu_chart(quota, "Client CPU seconds per 1M rows, at the service's quota (lower is better)"),
        "no-quota-cpu.svg": cpu_chart(
            no_quota, "Client CPU seconds per 1M rows, no quota (lower is better)"
        ),
    }
    written = []
    for name, chart in charts.items():
        if chart is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(chart, encoding="utf-8")
            written.append(out / name)
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(REPO / "benches" / "RESULTS.md"))
    ap.add_argument("--out", default=str(REPO / "benches" / "charts"))
    args = ap.parse_args()
    written = draw(Path(args.results), Path(args.out))
    for path in written:
        print(f"wrote {path}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
