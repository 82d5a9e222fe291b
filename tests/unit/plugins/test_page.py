"""The outputs page's HTML: every user-controlled text is escaped, image URLs are quoted path segments."""

from __future__ import annotations

from airflow_mlpipelines.frames.preview import Column, FramePreview
from airflow_mlpipelines.plugins import page
from airflow_mlpipelines.plugins.step_outputs import Image, OutputView, Published, step_of

EVIL = '<script>alert("x")</script>&'
EVIL_ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"


def _page() -> str:
    frame = FramePreview(
        path="/x/data.parquet",
        size=10,
        rows=1,
        columns=1,
        schema=[Column(EVIL, "object", "string")],
        head=[[EVIL]],
        note=EVIL,
    )
    view = OutputView(
        name=EVIL,
        url=f"/data/{EVIL}",
        images=[Image(f"{EVIL}.png", 5), Image("bad.png", 3, problem=EVIL)],
        frame=frame,
        problems=[EVIL],
    )
    published = Published(step=EVIL, task_id=f"{EVIL}.run", outputs={EVIL: view.url})
    return page.render("/mlpipelines", EVIL, EVIL, [(published, [view])], title=EVIL)


def test_no_raw_markup_from_any_value() -> None:
    html = _page()
    assert "<script" not in html
    assert html.count(EVIL_ESCAPED) >= 10


def test_image_urls_quote_every_segment() -> None:
    url = page.image_url(
        "/base/mlpipelines", "d", "manual__2024-01-01T00:00:00+00:00", "s", "o", "../a b.png"
    )
    assert url == (
        "/base/mlpipelines/dags/d/runs/manual__2024-01-01T00%3A00%3A00%2B00%3A00/steps/s/files/o/..%2Fa%20b.png"
    )
    assert 'src="/mlpipelines/dags/%3Cscript%3E' in _page()


def test_message_page_is_escaped() -> None:
    html = page.message(EVIL, EVIL)
    assert "<script" not in html
    assert html.count(EVIL_ESCAPED) == 3


def test_step_of_task_ids() -> None:
    assert step_of("train.run") == "train"
    assert step_of("train.reuse") == "train"
    assert step_of("group.train.run") == "group.train"
    assert step_of("train") == "train"
    assert step_of("train.other") == "train.other"
