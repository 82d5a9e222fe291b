"""Where in the user's own code an SDK object was built: errors and warnings point there."""

from __future__ import annotations

import contextvars
import os
import sys

from airflow_mlpipelines.exceptions import SourceLocation

_HERE = os.path.dirname(os.path.abspath(__file__))


def caller_location() -> SourceLocation:
    """File:line of the user's code that called into this package (cheap frame walk, no inspect.stack)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _HERE:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return SourceLocation("<unknown>")
    return SourceLocation(frame.f_code.co_filename, frame.f_lineno)


DEFINING: contextvars.ContextVar[bool] = contextvars.ContextVar("mlp_defining", default=False)
"""True while a Python pipeline definition module is imported (set by the Python loader)."""


def defining() -> bool:
    """Whether a pipeline definition module is being imported right now: SDK objects that would look
    something up (``Model(ws, name)``) stay references then, because parse time does no I/O."""
    return DEFINING.get()
