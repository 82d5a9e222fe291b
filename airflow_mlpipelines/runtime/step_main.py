"""``python -m airflow_mlpipelines.runtime.step_main PLAN_JSON``: run one step inside its container or pod.

The reuse sensor writes the step's run-time plan (fingerprint, input and output URLs, manifest location,
argument parts, parameter values) to XCom on a miss; the official DockerOperator/KubernetesPodOperator
pass it here as the one argument. This module then does exactly what the local compute task does —
resolve inputs (in place when the path is mounted, else downloaded), run the user's script with
substituted arguments, upload outputs, describe them and commit the manifest last — so local, Docker and
Kubernetes steps are interchangeable and reuse works the same across them. It imports no Airflow (only
fsspec for remote datastores), so a step image needs just Python, fsspec and this package.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from typing import TYPE_CHECKING, Any

import fsspec

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.paths import local_path
from airflow_mlpipelines.reuse import lease, store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime.script_step import ScriptProcess, resolve_arguments

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

PLAN_VERSION = 1
PLAN_ENV = "MLP_STEP_PLAN"
"""Environment variable that may carry the plan instead of the argument (``-`` reads stdin)."""
EXIT_SETUP_ERROR = 3
"""Exit status when the plan or the data cannot be used (the user's script did not run)."""


def _say(text: str) -> None:
    """One line to stdout: the container's log, which the operators copy into the task log."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def _held(spec: Mapping[str, Any] | None) -> Iterator[None]:
    """Renew the run's in-flight lease while the script runs (when the datastore root is mounted here).

    The reuse sensor took the lease on the worker; the step keeps it alive and releases it when done,
    exactly as the local compute task does, so a concurrent run of the same step waits instead of
    recomputing.
    """
    if not spec or not os.path.isdir(str(spec["directory"])):
        yield
        return
    directory, holder, seconds = str(spec["directory"]), str(spec["holder"]), float(spec["seconds"])
    lease.renew(directory, holder, seconds)
    with lease.kept(directory, holder, seconds):
        yield


def _fresh_dir(path: str) -> str:
    if os.path.isdir(path):
        import shutil

        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    return path


def _input_path(name: str, url: str, staging: str) -> str:
    local = local_path(url)
    if local is not None:
        if not os.path.exists(local):
            raise StepExecutionError(
                f"input '{name}' does not exist at {local} (is its datastore mounted into the container?)"
            )
        return local
    fs, path = fsspec.core.url_to_fs(url)
    dest = os.path.join(staging, "inputs", name)
    _say(f"downloading input {name} from {url}")
    if fs.isdir(path):
        fs.get(path.rstrip("/") + "/", dest, recursive=True)
    else:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        fs.get(path, dest)
    return dest


def _output_path(name: str, url: str, staging: str) -> str:
    local = local_path(url)
    return _fresh_dir(local if local is not None else os.path.join(staging, "outputs", name))


def _upload(local_dir: str, url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    _say(f"uploading output to {url}")
    fs.put(local_dir.rstrip("/") + "/", path, recursive=True)


def run_plan(plan: Mapping[str, Any], python: str = sys.executable) -> dict[str, Any]:
    """Run the step a plan describes and commit its manifest; returns the manifest."""
    if plan.get("plan_version") != PLAN_VERSION:
        raise StepExecutionError(f"unsupported plan version {plan.get('plan_version')!r}")
    step = str(plan["step"])
    fp = Fingerprint.from_json(plan["fingerprint"])
    outputs: dict[str, str] = dict(plan["outputs"])
    with _held(plan.get("lease")), tempfile.TemporaryDirectory(prefix=f"mlp-{step}-") as staging:
        inputs = {name: _input_path(name, url, staging) for name, url in dict(plan["inputs"]).items()}
        out_paths = {name: _output_path(name, url, staging) for name, url in outputs.items()}
        argv = resolve_arguments(
            plan["arguments"], inputs=inputs, outputs=out_paths, parameters=dict(plan["parameters"])
        )
        _run_script(plan, python, argv)
        described = store.describe_outputs(out_paths)
        for name, url in outputs.items():
            if local_path(url) is None:
                _upload(out_paths[name], url)
        manifest = store.build_manifest(
            pipeline=str(plan["pipeline"]),
            step=step,
            fingerprint=fp,
            outputs=described,
            urls=outputs,
            produced_by=dict(plan["produced_by"]),
        )
        store.commit(str(plan["manifest"]), manifest)
    _say(f"committed outputs of {step} (fingerprint {fp.short})")
    return manifest


def _run_script(plan: Mapping[str, Any], python: str, argv: Sequence[str]) -> None:
    source = str(plan["source_directory"])
    script = os.path.join(source, str(plan["script_name"]))
    if not os.path.isfile(script):
        raise StepExecutionError(
            f"script '{plan['script_name']}' not found in {source} "
            "(is the source directory mounted or baked into the image?)"
        )
    _say(f"Running step {plan['step']}: python {plan['script_name']} {' '.join(argv)}")
    process = ScriptProcess(
        python=python,
        script=script,
        argv=argv,
        cwd=source,
        env={**os.environ, **dict(plan.get("env", {}))},
        on_stdout=_say,
        on_stderr=lambda line: _say(f"[stderr] {line}"),
    )

    def stop(signum: int, _frame: object) -> None:
        # As PID 1 of a container, SIGTERM would otherwise be ignored: stop the script's group and exit.
        process.terminate(float(plan.get("kill_grace_seconds", 10.0)))
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    result = process.run()
    if result.returncode != 0:
        tail = "\n".join(result.stderr_tail)
        raise StepExecutionError(
            f"step '{plan['step']}': script {plan['script_name']} exited with code {result.returncode}; "
            f"last lines of stderr:\n{tail}"
        )


def load_plan(argv: Sequence[str]) -> dict[str, Any]:
    """The plan from the first argument (JSON text, or ``-`` for stdin), else from ``$MLP_STEP_PLAN``."""
    text = argv[0] if argv else os.environ.get(PLAN_ENV, "")
    if text == "-":
        text = sys.stdin.read()
    if not text:
        raise StepExecutionError(f"no step plan: pass it as the first argument or in ${PLAN_ENV}")
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise StepExecutionError(f"the step plan is not JSON: {exc}") from None
    if not isinstance(plan, dict):
        raise StepExecutionError("the step plan must be a JSON object")
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; a failure prints one line (no traceback) and returns a non-zero status."""
    try:
        run_plan(load_plan(sys.argv[1:] if argv is None else argv))
    except StepExecutionError as exc:
        _say(f"ERROR: {exc}")
        return EXIT_SETUP_ERROR if "exited with code" not in str(exc) else 1
    except (OSError, KeyError) as exc:
        _say(f"ERROR: step setup failed: {type(exc).__name__}: {exc}")
        return EXIT_SETUP_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
