"""``{% load metrics_tags %}``

* ``{% metric_charts object %}`` — the kind's charts for any mirrored row, with the
  1 h / 24 h / 7 d / 30 d switch (HTMX) and the chart script's assets.
* ``{% sparkline row rows %}`` — a small inline SVG of the row's headline metric. The
  first call loads the sparklines of every row in ``rows`` (a list, queryset or Page) in
  one query; the others reuse it.
* ``{% metrics_past_threshold %}`` — the overview's table of resources currently past a
  threshold, worst first (``limit=20``; ``breaches=`` reuses a list already loaded).
* ``{% metrics_breaches as breaches %}`` — all of them, as a list.
* ``{% latest_metric object "VolumeBytesUsed" as volume %}`` — the newest mirrored
  point of one of the row's series (``.display``, ``.at``), or None.
* ``{% metric_assets %}`` — the chart script and styles alone (for base.html's head, so
  pages that arrive through an HTMX swap have them too).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from metrics import queries
from metrics.views import frame_context

register = template.Library()

UPLOT_JS = "vendor/uplot-1.6.32.iife.min.js"
UPLOT_CSS = "vendor/uplot-1.6.32.min.css"


@register.simple_tag
def metric_assets() -> SafeString:
    return format_html(
        '<link rel="stylesheet" href="{}"><link rel="stylesheet" href="{}">'
        '<script src="{}" defer></script><script src="{}" defer></script>',
        static(UPLOT_CSS),
        static("metrics/metrics.css"),
        static(UPLOT_JS),
        static("metrics/charts.js"),
    )


@register.simple_tag
def latest_metric(obj: Any, metric: str) -> queries.LatestPoint | None:
    arn = getattr(obj, "arn", "")
    return queries.latest_point(arn, metric) if arn else None


@register.simple_tag(takes_context=True)
def metric_charts(context: template.Context, obj: Any, range_key: str = "") -> SafeString:
    request = context.get("request")
    if type(obj) not in queries.SLUGS:
        return format_html(
            '<p class="metric-empty">Estate mirrors no metrics for {}.</p>',
            obj._meta.verbose_name_plural,
        )
    chosen = range_key or (request.GET.get("range") if request is not None else "") or ""
    if chosen not in queries.RANGES:
        chosen = queries.DEFAULT_RANGE
    ctx = frame_context(obj, chosen)
    ctx["assets"] = metric_assets()
    return render_to_string("metrics/_charts_block.html", ctx, request=request)


_W, _H = 80, 18


def _svg(line: queries.Sparkline) -> SafeString:
    """An inline SVG polyline (no script, no style attribute: CSP-safe). Built with plain
    string formatting: every interpolated value is a number except the escaped title."""
    present = [v for v in line.values if v is not None]
    title = escape(line.title)
    if not present:
        return mark_safe(f'<span class="sparkline sparkline-empty" title="{title}">no data</span>')
    low, high = min(present), max(present)
    spread = (high - low) or 1.0
    step = _W / (len(line.values) - 1)
    segments: list[list[str]] = [[]]
    for i, v in enumerate(line.values):
        if v is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{i * step:.1f},{(_H - 1) - (v - low) / spread * (_H - 2):.1f}")
    polylines = "".join(
        f'<polyline points="{" ".join(seg)}"></polyline>' for seg in segments if seg
    )
    return mark_safe(
        f'<svg class="sparkline" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img" aria-label="{title}"><title>{title}</title>{polylines}</svg>'
    )


@register.simple_tag(takes_context=True)
def sparkline(context: template.Context, obj: Any, rows: Any = None) -> SafeString:
    """Render ``obj``'s sparkline (a mirrored row or an inventory dict with "arn");
    ``rows`` is the page it belongs to, loaded once per render."""
    source = rows if rows is not None else [obj]
    source = getattr(source, "object_list", source)  # a Page
    cache: dict[int, dict[str, queries.Sparkline]] = context.render_context.setdefault(
        "metrics_sparklines", {}
    )
    key = id(source)
    if key not in cache:
        cache[key] = queries.sparklines(list(source))
    line = cache[key].get(obj["arn"] if isinstance(obj, dict) else obj.arn)
    if line is None:
        return mark_safe("")
    return _svg(line)


@register.inclusion_tag("metrics/_past_threshold.html")
def metrics_past_threshold(limit: int = 20, breaches: list | None = None) -> dict[str, Any]:
    """``breaches``: those ``{% metrics_breaches %}`` already loaded (no second query)."""
    found = queries.past_threshold(limit) if breaches is None else breaches[:limit]
    return {"breaches": found}


@register.simple_tag
def metrics_breaches() -> list[queries.Breach]:
    """Every resource currently past a threshold, worst first, for
    ``{% metrics_breaches as breaches %}`` (the overview's "Needs attention"); bounded
    queries (``queries.past_threshold``)."""
    return queries.past_threshold(None)
