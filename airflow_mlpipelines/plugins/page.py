"""HTML of the outputs page: every value passes through ``html.escape``; no script, inline CSS only."""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_mlpipelines.frames.preview import FramePreview
    from airflow_mlpipelines.plugins.step_outputs import OutputView, Published

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
"""Sent with every page: only our own images and inline styles load, and only Airflow may frame it."""


def headers(content_security_policy: str = CONTENT_SECURITY_POLICY) -> dict[str, str]:
    """The response headers of every page and image of the plugin (a page with forms relaxes
    ``form-action`` to ``'self'``): no sniffing, no caching, no referrer outside the site."""
    return {
        "Content-Security-Policy": content_security_policy,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
    }


def mount_root(scope: Mapping[str, Any]) -> str:
    """Where the plugin's app is mounted, from the ASGI scope (``/mlpipelines`` below any ``[api]
    base_url`` path): the prefix of every link a page writes."""
    return str(scope.get("root_path", "")).rstrip("/")


_CSS = """
body{font-family:system-ui,sans-serif;margin:16px;color:#1f2933;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:17px;margin:20px 0 6px} h3{font-size:15px;margin:14px 0 6px}
code{background:#eef2f6;padding:0 3px;border-radius:3px} .meta,.url{color:#52606d;font-size:13px}
.url{overflow-wrap:anywhere}
.step{border-top:1px solid #d9e2ec;margin-top:18px;padding-top:8px}
.figures{display:flex;flex-wrap:wrap;gap:14px} figure{margin:0;border:1px solid #d9e2ec;padding:6px}
figure img{max-width:min(640px,100%);height:auto;display:block} figcaption{font-size:12px;color:#52606d}
table{border-collapse:collapse;font-size:13px;margin:4px 0 10px}
th,td{border:1px solid #d9e2ec;padding:2px 6px}
th{background:#f5f7fa;text-align:left} .problem{color:#a61b1b} .empty{color:#52606d;font-style:italic}
form.edit{display:flex;gap:4px;align-items:center} .saved{color:#1d6b36}
ol.preview{margin:4px 0;font-size:13px}
"""


def _q(segment: str) -> str:
    return quote(segment, safe="")


def image_url(root: str, dag_id: str, run_id: str, step: str, output: str, name: str) -> str:
    """Path of one PNG below the app's mount point ``root``."""
    return f"{root}/dags/{_q(dag_id)}/runs/{_q(run_id)}/steps/{_q(step)}/files/{_q(output)}/{_q(name)}"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], css_class: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _frame(frame: FramePreview) -> str:
    parts = [
        f'<div class="frame"><h3>DataFrame <code>data.parquet</code>: '
        f"{frame.rows} rows × {frame.columns} columns ({frame.size} bytes)</h3>",
        _table(
            ("column", "dtype", "arrow type"),
            ((c.name, c.dtype, c.arrow_type) for c in frame.schema),
            "schema",
        ),
    ]
    if frame.head:
        parts.append(f'<p class="meta">first {len(frame.head)} rows</p>')
        parts.append(_table((c.name for c in frame.schema), frame.head, "head"))
    if frame.note:
        parts.append(f'<p class="problem">{escape(frame.note)}</p>')
    parts.append("</div>")
    return "".join(parts)


def _output(root: str, dag_id: str, run_id: str, step: str, view: OutputView) -> str:
    parts = [f'<section class="output"><h2>Output <code>{escape(view.name)}</code></h2>']
    parts.append(f'<p class="url">{escape(view.url)}</p>')
    shown = [i for i in view.images if i.problem is None]
    if shown:
        parts.append('<div class="figures">')
        for image in shown:
            src = image_url(root, dag_id, run_id, step, view.name, image.name)
            parts.append(
                f'<figure><img src="{escape(src)}" alt="{escape(image.name)}">'
                f"<figcaption>{escape(image.name)} ({image.size} bytes)</figcaption></figure>"
            )
        parts.append("</div>")
    parts.extend(
        f'<p class="problem">{escape(i.name)}: {escape(i.problem)}</p>' for i in view.images if i.problem
    )
    if view.frame is not None:
        parts.append(_frame(view.frame))
    parts.extend(f'<p class="problem">{escape(p)}</p>' for p in view.problems)
    if not view.images and view.frame is None and not view.problems:
        parts.append('<p class="empty">no PNG figures and no data.parquet in this output</p>')
    parts.append("</section>")
    return "".join(parts)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 200 else text[:197] + "..."


def record_section(root: str, dag_id: str, run_id: str, step: str, record: dict[str, Any]) -> str:
    """A step's run record: status, latest metrics and series, tables, tags, logged images, git."""
    parts = [f'<section class="record"><h2>Run <code>{escape(str(record.get("id")))}</code></h2>']
    meta = f"status {record.get('status')} · run {record.get('run_id')}"
    git = record.get("git")
    if isinstance(git, dict):
        dirty = " (dirty)" if git.get("dirty") else ""
        meta += f" · git {str(git.get('commit'))[:12]}{dirty} on {git.get('branch')}"
    parts.append(f'<p class="meta">{escape(meta)}</p>')
    metrics = record.get("metrics", {})
    latest = record.get("latest", {})
    if metrics:
        rows = []
        for name, value in sorted(metrics.items()):
            series = value if isinstance(value, list) else [value]
            shown = latest.get(name, series[-1] if series else "")
            rows.append((name, _short(shown), str(len(series)), _short(value)))
        parts.append(_table(("metric", "latest", "values", "all values"), rows, "metrics"))
    else:
        parts.append('<p class="empty">the script logged no metrics</p>')
    tags = record.get("tags", {})
    if tags:
        parts.append(_table(("tag", "value"), sorted((str(k), str(v)) for k, v in tags.items()), "tags"))
    images = record.get("images", [])
    if images:
        parts.append('<div class="figures">')
        for name in images:
            src = f"{root}/dags/{_q(dag_id)}/runs/{_q(run_id)}/steps/{_q(step)}/record/{_q(name)}"
            parts.append(
                f'<figure><img src="{escape(src)}" alt="{escape(name)}">'
                f"<figcaption>{escape(name)}</figcaption>"
                "</figure>"
            )
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def metrics_page(dag_id: str, rows: list[tuple[str, str, dict[str, Any]]], metric: str | None) -> str:
    """One metric across a pipeline's runs: a table (run, step, value) and a line chart (inline SVG)."""
    title = f"Metrics of {dag_id}"
    names = sorted({name for _, _, latest in rows for name in latest})
    if not names:
        return message(title, f"No run of {dag_id!r} has logged a metric yet.")
    chosen = metric if metric in names else names[0]
    links = " · ".join(
        f'<a href="?metric={_q(n)}">{escape(n)}</a>' if n != chosen else f"<b>{escape(n)}</b>" for n in names
    )
    points = [
        (run, step, latest[chosen])
        for run, step, latest in rows
        if isinstance(latest.get(chosen), int | float)
    ]
    body = [f"<h1>{escape(title)}</h1>", f'<p class="meta">metric: {links}</p>', _chart(points)]
    body.append(_table(("run", "step", chosen), ((r, s, _short(v)) for r, s, v in points), "metrics"))
    return document(title, "".join(body))


def _chart(points: list[tuple[str, str, Any]], width: int = 640, height: int = 220) -> str:
    """An inline SVG line per step (no script: the page's CSP allows none)."""
    if not points:
        return '<p class="empty">no numeric values of this metric</p>'
    values = [float(v) for _, _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    runs = list(dict.fromkeys(r for r, _, _ in points))
    step_x = (width - 40) / max(len(runs) - 1, 1)
    lines = []
    for step in dict.fromkeys(s for _, s, _ in points):
        coords = [
            (20 + runs.index(r) * step_x, height - 20 - (float(v) - low) / span * (height - 40))
            for r, s, v in points
            if s == step
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        lines.append(
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{path}">'
            f"<title>{escape(step)}</title></polyline>"
        )
        lines.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f77b4"/>' for x, y in coords)
    return (
        f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="metric over runs">'
        f'<text x="4" y="14" font-size="11">{escape(_short(high))}</text>'
        f'<text x="4" y="{height - 4}" font-size="11">{escape(_short(low))}</text>{"".join(lines)}</svg>'
    )


def render(
    root: str,
    dag_id: str,
    run_id: str,
    steps: list[tuple[Published, list[OutputView]]],
    title: str,
    records: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The whole page: one block per step, one section per output, and the step's run record."""
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">DAG <code>{escape(dag_id)}</code> · run <code>{escape(run_id)}</code></p>',
    ]
    for published, outputs in steps:
        origin = "reused from an earlier run" if published.reused else "computed in this run"
        body.append(
            f'<div class="step"><h2>Step <code>{escape(published.step)}</code></h2>'
            f'<p class="meta">{origin} · published by <code>{escape(published.task_id)}</code></p>'
        )
        body.extend(_output(root, dag_id, run_id, published.step, view) for view in outputs)
        if not outputs:
            body.append('<p class="empty">this step has no outputs</p>')
        record = (records or {}).get(published.step)
        if record is not None:
            body.append(record_section(root, dag_id, run_id, published.step, record))
        body.append("</div>")
    return document(title, "".join(body))


def definition(dag_id: str, path: str | None, text: str) -> str:
    """The pipeline definition a DAG was built from, as text (escaped)."""
    title = f"Definition of {dag_id}"
    where = f'<p class="meta">from <code>{escape(path)}</code></p>' if path else ""
    return document(title, f'<h1>{escape(title)}</h1>{where}<pre class="definition">{escape(text)}</pre>')


def message(title: str, text: str) -> str:
    """A page that only says something (nothing published yet, an unknown step)."""
    return document(title, f'<h1>{escape(title)}</h1><p class="empty">{escape(text)}</p>')


def document(title: str, body: str) -> str:
    """A whole page: the title, the shared inline CSS, the body (already escaped by the caller)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>"
    )
