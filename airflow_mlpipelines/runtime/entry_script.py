"""``EntryScript``: what SDK v1's ``azureml_user.parallel_run.EntryScript`` gives a ParallelRunStep's
entry script (``from airflow_mlpipelines.core import EntryScript``).

The child process of a mini-batch (``runtime/parallel_main.py``) sets the environment it reads, so the
class needs no arguments, as in SDK v1: ``EntryScript().logger`` writes to the mini-batch task's log,
``output_dir`` is a folder whose files end up in the step's output (``summary_only`` steps write their
results there), ``working_dir`` a scratch folder of this mini-batch.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Final

OUTPUT_DIR_ENV: Final = "MLP_PARALLEL_OUTPUT_DIR"
WORKING_DIR_ENV: Final = "MLP_PARALLEL_WORKING_DIR"
LEVEL_ENV: Final = "MLP_PARALLEL_LOGGING_LEVEL"
MINI_BATCH_ENV: Final = "MLP_PARALLEL_MINI_BATCH"
LOGGER_NAME: Final = "airflow_mlpipelines.parallel_run"
_FORMAT: Final = "%(asctime)s %(levelname)s [mini-batch %(mini_batch)s] %(message)s"


class _MiniBatchFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.mini_batch = os.environ.get(MINI_BATCH_ENV, "?")
        return True


def _logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)  # streamed into the task log line by line
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(_MiniBatchFilter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(os.environ.get(LEVEL_ENV, "INFO").upper())
    return logger


class EntryScript:
    """The entry script's view of its ParallelRunStep (SDK v1's ``EntryScript``)."""

    @property
    def logger(self) -> logging.Logger:
        """A logger whose lines go to the mini-batch task's log (level: ``logging_level``)."""
        return _logger()

    @property
    def output_dir(self) -> str:
        """A folder whose files are copied into the step's output after the mini-batch succeeded."""
        return os.environ.get(OUTPUT_DIR_ENV, os.getcwd())

    @property
    def working_dir(self) -> str:
        """This mini-batch's scratch folder (deleted afterwards)."""
        return os.environ.get(WORKING_DIR_ENV, os.getcwd())

    @property
    def config(self) -> dict[str, str]:
        """Where things are, as SDK v1's ``EntryScript().config`` lists them."""
        return {"output_dir": self.output_dir, "working_dir": self.working_dir}
