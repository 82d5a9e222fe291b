"""The child process of an Execute Python Script step: ``python -m airflow_mlpipelines.runtime.eps_main JOB``.

It imports no Airflow (it is what runs the user's code, so it could run in a step image). The operator
prepares a fresh sandbox (working directory, extracted bundle, job file) and starts this module in it,
in its own process group; this module then:

1. caps its own memory (``RLIMIT_AS``) when the job asks;
2. puts the bundle folder first on ``sys.path`` (``import Hello`` as in the seed);
3. reads the connected inputs and gives each a 0..n-1 64-bit index (:mod:`frames.eps_rules`);
4. loads the user's script under its own file name (``azureml_main.py`` for inline scripts), so a
   traceback points at *their* line, and calls ``azureml_main`` with the connected frames by position;
5. turns the return value into the output frame (seed rules) and writes ``<dataframe output>/data.parquet``;
6. copies every PNG from the working directory into the visualisations output, and saves figures
   left open that the script never saved itself as ``figure_<n>.png``.

A failure writes ``error.json`` beside the job (what the operator reports) and exits non-zero; the
user's own exceptions print their traceback from the first frame of their code, without ours.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import shutil
import sys
import time
import traceback
import types
from typing import Any, NoReturn

from airflow_mlpipelines.exceptions import ScriptContractError as ContractError

EXIT_USER_ERROR = 1
"""The user's code raised: its traceback is on stderr."""
EXIT_CONTRACT_ERROR = 2
"""The script broke the module's contract (no ``azureml_main``, bad return value, unstorable frame)."""
ENTRY_POINT = "azureml_main"
DATA_FILE = "data.parquet"


def _write_json(path: str, value: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh)
    os.replace(tmp, path)


def limit_memory(max_bytes: int) -> None:
    """Cap this process's address space; allocations beyond it raise ``MemoryError`` in the user's code."""
    if max_bytes <= 0:
        return
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def _read_inputs(inputs: dict[str, dict[str, str] | None]) -> dict[str, Any]:
    from airflow_mlpipelines.frames import codec, eps_rules, tables

    frames: dict[str, Any] = {}
    for port in eps_rules.PORTS:
        spec = inputs.get(port)
        if spec is None:
            frames[port] = None
            continue
        if spec["format"] == "arrow":
            frame = codec.read(spec["path"], "arrow")
        else:
            frame = tables.read_table(spec["path"])
        frames[port] = eps_rules.input_frame(frame)
    return frames


def _load_script(path: str) -> types.ModuleType:
    """Execute the script as module ``azureml_main`` with its real file name (for tracebacks)."""
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    module = types.ModuleType(ENTRY_POINT)
    module.__file__ = path
    sys.modules[ENTRY_POINT] = module
    code = compile(source, path, "exec")
    exec(code, module.__dict__)  # noqa: S102 - running the user's script is this module's job
    return module


def _entry_point(module: types.ModuleType, label: str, args: list[Any], ports: list[str]) -> Any:
    func = getattr(module, ENTRY_POINT, None)
    if not callable(func):
        raise ContractError(
            f"{label} defines no function {ENTRY_POINT}(dataframe1, dataframe2); "
            "the module calls it with the connected DataFrames"
        )
    try:
        inspect.signature(func).bind(*args)
    except TypeError as exc:
        connected = ", ".join(ports) or "none"
        raise ContractError(
            f"{ENTRY_POINT} cannot be called with {len(args)} DataFrame argument(s) "
            f"(connected inputs: {connected}; the first connected input is the first parameter): {exc}"
        ) from None
    except ValueError:  # no signature (a builtin): just call it
        pass
    return func


_SAVED_FIGURES: set[int] = set()
"""``id()`` of every figure the script saved itself (recorded by the wrapped ``Figure.savefig``)."""


class SavefigRecorder(importlib.abc.MetaPathFinder):
    """When the script imports matplotlib, wrap ``Figure.savefig`` to remember which figures it saved.

    A meta-path hook instead of importing matplotlib up front: scripts that draw nothing do not pay
    for matplotlib's import (~0.5 s).
    """

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "matplotlib.figure":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            original(module)
            _record_savefig(module.Figure)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _record_savefig(figure_class: Any) -> None:
    original = figure_class.savefig

    @functools.wraps(original)
    def savefig(self: Any, *args: Any, **kwargs: Any) -> Any:
        _SAVED_FIGURES.add(id(self))
        return original(self, *args, **kwargs)

    figure_class.savefig = savefig


def _save_open_figures(vis_dir: str, taken: set[str]) -> list[str]:
    """Figures still open when ``azureml_main`` returned and never saved, as ``figure_<n>.png``."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    saved = []
    for num in plt.get_fignums():
        if id(plt.figure(num)) in _SAVED_FIGURES:
            continue  # the script saved it under its own name
        name = f"figure_{num}.png"
        if name in taken:
            name = f"figure_{num}_open.png"
        plt.figure(num).savefig(os.path.join(vis_dir, name))
        saved.append(name)
    plt.close("all")
    return saved


def collect_pngs(work_dir: str, vis_dir: str) -> list[str]:
    """Copy every ``*.png`` under the working directory into ``vis_dir`` (sub-folders joined by ``__``)."""
    names = []
    for dirpath, dirnames, filenames in os.walk(work_dir):
        dirnames.sort()
        for filename in sorted(filenames):
            if not filename.lower().endswith(".png"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, filename), work_dir)
            name = rel.replace(os.sep, "__")
            shutil.copyfile(os.path.join(dirpath, filename), os.path.join(vis_dir, name))
            names.append(name)
    return names


def _user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Drop this module's frames from the top of a traceback: the user sees their code only."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _user_line(exc: BaseException, script: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == script:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == script:
            line = lineno
    return line


def _fail_user(job: dict[str, Any], exc: BaseException) -> NoReturn:
    tb = _user_frames(exc.__traceback__)
    sys.stderr.write(f"{ENTRY_POINT} failed; the traceback of {job['script_label']}:\n")
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    sys.stderr.flush()
    _write_json(
        job["error_file"],
        {
            "kind": "user",
            "type": type(exc).__name__,
            "message": str(exc),
            "line": _user_line(exc, job["script"]),
        },
    )
    sys.exit(EXIT_USER_ERROR)


def _fail_contract(job: dict[str, Any], message: str) -> NoReturn:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
    _write_json(job["error_file"], {"kind": "contract", "message": message})
    sys.exit(EXIT_CONTRACT_ERROR)


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (see the module docstring); returns what is written to ``result.json``."""
    from airflow_mlpipelines.frames import codec, eps_rules, tables

    timings: dict[str, float] = {}
    start = time.perf_counter()
    tables.preload()
    try:
        frames = _read_inputs(job["inputs"])
    except codec.FrameError as exc:
        _fail_contract(job, f"cannot read an input DataFrame: {exc}")
    limit_memory(int(job.get("memory_limit_bytes") or 0))
    args = eps_rules.connected_arguments(frames)
    ports = [p for p in eps_rules.PORTS if frames.get(p) is not None]
    timings["read"] = time.perf_counter() - start
    if job.get("bundle_dir"):
        sys.path.insert(0, job["bundle_dir"])
    if "matplotlib.figure" not in sys.modules:
        sys.meta_path.insert(0, SavefigRecorder())
    sys.argv = [job["script"]]
    start = time.perf_counter()
    try:
        module = _load_script(job["script"])
        func = _entry_point(module, job["script_label"], args, ports)
        value = func(*args)
    except ContractError as exc:
        _fail_contract(job, str(exc))
    except BaseException as exc:  # the user's code: anything, SystemExit and MemoryError included
        _fail_user(job, exc)
    timings["call"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        frame = eps_rules.output_frame(eps_rules.unwrap_result(value))
        info = codec.write(frame, os.path.join(job["dataframe_output"], DATA_FILE), "parquet")
    except (eps_rules.ScriptResultError, codec.FrameError) as exc:
        _fail_contract(job, str(exc))
    except OSError as exc:  # a full disk, a read-only datastore: say where, not a traceback
        _fail_contract(
            job, f"cannot write the output DataFrame to {job['dataframe_output']}: {exc.strerror or exc}"
        )
    timings["write"] = time.perf_counter() - start
    try:
        pngs = collect_pngs(os.getcwd(), job["visualizations_output"])
        pngs += _save_open_figures(job["visualizations_output"], set(pngs))
    except OSError as exc:
        _fail_contract(
            job, f"cannot write the visualisations to {job['visualizations_output']}: {exc.strerror or exc}"
        )
    return {
        "rows": info.rows,
        "columns": [list(c) for c in info.columns],
        "visualizations": pngs,
        "seconds": timings,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``eps_main JOB_JSON``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m airflow_mlpipelines.runtime.eps_main JOB_JSON\n")
        return 64
    with open(args[0], encoding="utf-8") as fh:
        job = json.load(fh)
    result = run(job)
    _write_json(job["result_file"], result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
