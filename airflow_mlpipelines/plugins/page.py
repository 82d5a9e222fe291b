"""HTML of the outputs page: every value passes through ``html.escape``; no script, inline CSS only."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_mlpipelines.frames.preview import FramePreview
    from airflow_mlpipelines.plugins.step_outputs import OutputView, Published

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
"""Sent with every page: only our own images and inline styles load, and only Airflow may frame it."""

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


def render(
    root: str, dag_id: str, run_id: str, steps: list[tuple[Published, list[OutputView]]], title: str
) -> str:
    """The whole page: one block per step, one section per output."""
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
        body.append("</div>")
    return _document(title, "".join(body))


def definition(dag_id: str, path: str | None, text: str) -> str:
    """The pipeline definition a DAG was built from, as text (escaped)."""
    title = f"Definition of {dag_id}"
    where = f'<p class="meta">from <code>{escape(path)}</code></p>' if path else ""
    return _document(title, f'<h1>{escape(title)}</h1>{where}<pre class="definition">{escape(text)}</pre>')


def message(title: str, text: str) -> str:
    """A page that only says something (nothing published yet, an unknown step)."""
    return _document(title, f'<h1>{escape(title)}</h1><p class="empty">{escape(text)}</p>')


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>"
    )
