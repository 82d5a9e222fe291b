"""``Run.get_context()`` in a step's script: metrics, tags, images and files of the run (SDK v1's ``Run``).

Ported code keeps ``run = Run.get_context()`` and ``run.log("accuracy", 0.93)``. The runner hands the
script its run in ``$MLP_RUN_CONTEXT`` (a JSON file: run id, pipeline run, step, inputs, and the folder
the run's record is written to); every call appends to that folder at once (one line per metric), so
what a script logged survives the script failing afterwards, and the runner commits the record with the
step's outputs. No Airflow and no server: this runs in any step image, local, Docker or Kubernetes.

Outside a pipeline (a script run by hand) ``get_context()`` returns an offline run, as SDK v1 does: its
id starts with ``OfflineRun_`` and logging is printed instead of stored.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import numbers
import os
import shutil
import sys
import time
import uuid
from typing import Any

from airflow_mlpipelines.exceptions import MLPipelinesError

ENV = "MLP_RUN_CONTEXT"
"""The environment variable naming the run context file."""
METRICS_FILE = "metrics.jsonl"
TAGS_FILE = "tags.json"
IMAGES_DIR = "images"
FILES_DIR = "files"
MODELS_FILE = "models.jsonl"


class RunError(MLPipelinesError, ValueError):
    """A call on the run was given something it cannot record (the message says what and why)."""


class Workspace:
    """The workspace of a run's experiment (a name: there is no Azure workspace here)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r})"


class Experiment:
    """A run's experiment: the pipeline (``name``), in its ``workspace``."""

    def __init__(self, name: str, workspace: Workspace) -> None:
        self.name = name
        self.workspace = workspace

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


class _TabularInput:
    """A tabular dataset handed to the step: its file or folder, read on request."""

    def __init__(self, name: str, path: str, partition_format: str | None = None) -> None:
        self.name = name
        self.path = path
        self.partition_format = partition_format

    def to_pandas_dataframe(self) -> Any:
        """The dataset as a pandas DataFrame (CSV or Parquet files, concatenated in name order; with the
        partition columns of ``partition_format`` when it has one)."""
        from airflow_mlpipelines.frames.tables import read_table

        return read_table(self.path, self.partition_format)

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


class _Inputs(dict[str, Any]):
    """``run.input_datasets``: an unknown name is an error listing the known ones (with did-you-mean)."""

    def __missing__(self, key: str) -> Any:
        close = difflib.get_close_matches(str(key), list(self), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no input dataset {key!r} (this step's: {', '.join(sorted(self)) or 'none'}){hint}")


class Run:
    """The run of one step execution (``Run.get_context()``); see the module docstring."""

    def __init__(self, context: dict[str, Any] | None) -> None:
        self._offline = context is None
        data = context or {}
        self.id: str = str(data.get("id") or f"OfflineRun_{uuid.uuid4()}")
        self.name: str = str(data.get("step") or "offline")
        self.display_name = self.name
        self.number: int = int(data.get("attempt") or 1)
        self._record = str(data.get("record") or "")
        self._context = data
        parent = data.get("parent")
        self.parent: Run | None = None
        if isinstance(parent, dict):
            self.parent = Run._parent(parent, str(data.get("pipeline") or ""))
        self.experiment = Experiment(
            str(data.get("pipeline") or "offline"), Workspace(str(data.get("workspace") or "local"))
        )
        self.input_datasets = _Inputs()
        for name, item in dict(data.get("inputs") or {}).items():
            path = str(item.get("path"))
            self.input_datasets[name] = (
                _TabularInput(name, path, item.get("partition_format"))
                if item.get("kind") == "tabular"
                else path
            )
        self._tags: dict[str, Any] = {}

    @classmethod
    def _parent(cls, parent: dict[str, Any], pipeline: str) -> Run:
        run = cls.__new__(cls)
        run._offline = True
        run.id = f"{parent.get('dag_id')}/{parent.get('run_id')}"
        run.name = run.display_name = str(parent.get("run_id"))
        run.number = 1
        run._record = ""
        run._context = {}
        run.parent = None
        run.experiment = Experiment(pipeline, Workspace("local"))
        run.input_datasets = _Inputs()
        run._tags = {"dag_id": parent.get("dag_id"), "run_id": parent.get("run_id")}
        return run

    # -- getting one --------------------------------------------------------------------------------
    @classmethod
    def get_context(cls, allow_offline: bool = True, **_kwargs: Any) -> Run:
        """The current step's run, or an offline run outside a pipeline (SDK v1's behaviour)."""
        path = os.environ.get(ENV)
        if not path:
            if not allow_offline:
                raise RunError("not running inside a pipeline step (no run context) and allow_offline=False")
            return cls(None)
        try:
            with open(path, encoding="utf-8") as fh:
                return cls(json.load(fh))
        except (OSError, ValueError) as exc:
            raise RunError(f"the run context {path} cannot be read: {exc}") from None

    @property
    def is_offline(self) -> bool:
        """Whether logging is printed instead of recorded."""
        return self._offline

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, step={self.name!r}, experiment={self.experiment.name!r})"

    # -- recording ----------------------------------------------------------------------------------
    def _append(self, kind: str, name: str, value: Any, description: str = "") -> None:
        entry = {"name": name, "kind": kind, "value": value, "time": time.time()}
        if description:
            entry["description"] = description
        if self._offline:
            _say(f"Attempted to log {kind} metric {name}:\n{value}")
            return
        line = json.dumps(entry, allow_nan=False)
        with open(os.path.join(self._record, METRICS_FILE), "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a number (or a short text); calling again with the same name makes a series."""
        self._append("scalar", _name(name), _value(name, value), description)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Log a list of numbers as one entry."""
        self._append("list", _name(name), [_number(name, v) for v in list(value)], description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of a table (column name -> value); rows with the same name make the table."""
        self._append(
            "row", _name(name), {k: _value(f"{name}.{k}", v) for k, v in kwargs.items()}, description or ""
        )

    def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
        """Log a table as columns (column name -> list of values, all of one length)."""
        columns = {k: [_value(f"{name}.{k}", v) for v in list(values)] for k, values in dict(value).items()}
        if len({len(v) for v in columns.values()}) > 1:
            raise RunError(f"log_table({name!r}): the columns have different lengths")
        self._append("table", _name(name), columns, description)

    def log_image(self, name: str, path: str | None = None, plot: Any = None, description: str = "") -> None:
        """Log an image: a PNG file (``path``) or a matplotlib figure/pyplot (``plot``)."""
        name = _name(name)
        if (path is None) == (plot is None):
            raise RunError(f"log_image({name!r}): give exactly one of path= and plot=")
        if path is not None and not os.path.isfile(path):
            raise RunError(f"log_image({name!r}): the image {path} does not exist")
        if self._offline:
            _say(f"Attempted to log image metric {name}:\n{path or plot}")
            return
        target = os.path.join(self._record, IMAGES_DIR, f"{_safe(name)}.png")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if path is not None:
            shutil.copyfile(path, target)
        else:
            figure = plot.gcf() if hasattr(plot, "gcf") else plot
            figure.savefig(target, format="png")
        self._append("image", name, f"{IMAGES_DIR}/{os.path.basename(target)}", description)

    def tag(self, key: str, value: Any = None) -> None:
        """Tag the run (``value`` None: a tag without a value, as SDK v1)."""
        self._tags[_name(key)] = "" if value is None else str(value)
        if self._offline:
            _say(f"Attempted to tag run with {key}:{value}")
            return
        with open(os.path.join(self._record, TAGS_FILE), "w", encoding="utf-8") as fh:
            json.dump(self._tags, fh, sort_keys=True)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Several tags at once."""
        for key, value in dict(tags).items():
            self.tag(key, value)

    def get_tags(self) -> dict[str, Any]:
        """The tags set so far."""
        return dict(self._tags)

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        """Keep a file with the run's record (``name``: its path there, e.g. ``outputs/model.pkl``)."""
        rel = os.path.normpath(str(name).lstrip("/"))
        if rel.startswith(".."):
            raise RunError(f"upload_file({name!r}): the name must stay inside the run's files")
        if self._offline:
            _say(f"Attempted to upload file {name}")
            return
        target = os.path.join(self._record, FILES_DIR, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if isinstance(path_or_stream, str | os.PathLike):
            if not os.path.isfile(path_or_stream):
                raise RunError(f"upload_file({name!r}): {path_or_stream} does not exist")
            shutil.copyfile(path_or_stream, target)
        else:
            with open(target, "wb") as out:
                shutil.copyfileobj(path_or_stream, out)

    def get_metrics(self, name: str | None = None, **_kwargs: Any) -> dict[str, Any]:
        """What was logged so far: name -> value (a series: the list of values), as SDK v1 returns it."""
        if self._offline:
            return {}
        return metrics_of(read_entries(self._record), name)

    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **_kwargs: Any,
    ) -> Any:
        """Register a model this run produced as the next version of ``model_name``; returns the
        ``Model``. ``model_path`` (default: ``model_name``) is, as in SDK v1, a path among the run's files:
        one kept with ``upload_file``, else relative to the working directory (SDK v1's ``./outputs``),
        else an absolute path (e.g. inside one of the step's outputs)."""
        from airflow_mlpipelines.runtime.sdk_model import Model, registry_for

        source = self._model_source(model_path or model_name)
        if self._offline:
            return Model.register(
                self.experiment.workspace, source, model_name, tags=tags, properties=properties,
                description=description, model_framework=model_framework,
                model_framework_version=model_framework_version,
            )  # fmt: skip
        registry = registry_for(self.experiment.workspace)
        parent = dict(self._context.get("parent") or {})
        record = registry.register(
            model_name,
            source,
            tags=tags,
            properties=properties,
            description=description,
            framework=model_framework,
            framework_version=model_framework_version,
            run={
                "id": self.id,
                "pipeline": self.experiment.name,
                "step": self.name,
                "dag_id": parent.get("dag_id"),
                "run_id": parent.get("run_id"),
            },
        )
        entry = {"name": record.name, "version": record.version, "digest": record.digest, "url": record.url}
        with open(os.path.join(self._record, MODELS_FILE), "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**entry, "record": record.to_json()}) + "\n")
        return Model._of(record, registry, self.experiment.workspace)

    def _model_source(self, model_path: str) -> str:
        """The local file or folder ``model_path`` names (see :meth:`register_model`)."""
        if os.path.isabs(model_path):
            candidates = [model_path]
        else:
            rel = os.path.normpath(model_path)
            candidates = [os.path.join(self._record, FILES_DIR, rel)] if self._record else []
            candidates.append(os.path.abspath(rel))
        for candidate in candidates:
            if os.path.exists(candidate):
                return candidate
        raise RunError(
            f"register_model: no model at {model_path!r} (looked in the run's uploaded files and at "
            f"{os.path.abspath(model_path)}); write it there, or upload_file it first"
        )

    def complete(self, **_kwargs: Any) -> None:
        """Nothing to do: the runner completes the run when the script ends."""

    def get_status(self) -> str:
        """``Running`` while the script runs."""
        return "Running"


def _say(text: str) -> None:
    """An offline run prints what it would have recorded (SDK v1 does the same)."""
    sys.stdout.write(text + "\n")


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise RunError(f"a metric or tag name must be a non-empty string, got {name!r}")
    return name


def _number(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RunError(f"metric {name!r}: {value!r} is not a number")
    number = float(value) if not isinstance(value, numbers.Integral) else int(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise RunError(f"metric {name!r}: {value!r} cannot be recorded (NaN and infinity are not numbers)")
    return number


def _value(name: str, value: Any) -> Any:
    """A number (finite), a bool or a short text; anything else is an error naming the metric."""
    if isinstance(value, str | bool) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        with contextlib.suppress(Exception):
            value = value.item()
    return _number(name, value)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120] or "image"


def read_entries(record: str) -> list[dict[str, Any]]:
    """Every entry a run recorded, in order (a line cut short by a kill is skipped)."""
    path = os.path.join(record, METRICS_FILE)
    entries = []
    with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
    return entries


def read_models(record: str) -> list[dict[str, Any]]:
    """The model versions a run registered (name, version, digest, url, and the full record), in order."""
    found = []
    with (
        contextlib.suppress(FileNotFoundError),
        open(os.path.join(record, MODELS_FILE), encoding="utf-8") as fh,
    ):
        for line in fh:
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


def metrics_of(entries: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    """name -> value; a name logged more than once (a series, rows of a table) -> the list of values."""
    grouped: dict[str, list[Any]] = {}
    for entry in entries:
        if name is None or entry.get("name") == name:
            grouped.setdefault(str(entry["name"]), []).append(entry["value"])
    return {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}


def latest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """name -> the last scalar value logged (the summary other tasks read)."""
    found: dict[str, Any] = {}
    for entry in entries:
        if entry.get("kind") == "scalar":
            found[str(entry["name"])] = entry["value"]
    return found
