"""Execute Python Script conformance: every rule of seeds 000/003 (issue 5, items 1, 2, 4 and 5), one by one.

Each rule runs the real child process (``python -m airflow_mlpipelines.runtime.eps_main``) through
``EpsRunner``, exactly as the operator starts it; the rules that involve the operator (ports bound to
inputs, outputs, the sandbox's lifetime, bundle errors) call ``ExecutePythonScriptOperator.execute``
with a stand-in TaskInstance that records XCom pushes.
"""

from __future__ import annotations

import os
import pickle
import textwrap
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.frames import codec
from airflow_mlpipelines.runtime.bundle import BundleError, BundleLimits, extract
from airflow_mlpipelines.runtime.eps_job import EpsJob, EpsRunner, write_inline_script

pytestmark = pytest.mark.integration


@dataclass
class Outcome:
    """What one run left: the stored output frame, the PNG names, the child's output lines."""

    frame: pd.DataFrame
    summary: dict[str, Any]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


def run_script(
    tmp_path: Path,
    script: str,
    *,
    dataframe1: pd.DataFrame | Path | None = None,
    dataframe2: pd.DataFrame | Path | None = None,
    bundle: Path | None = None,
    time_limit: float = 0,
    memory_mb: int = 0,
    lines: dict[str, list[str]] | None = None,
) -> Outcome:
    """Run ``script`` as the operator would (inline script, sandbox, child process); raise on failure."""
    sandbox = tmp_path / "sandbox"
    out = tmp_path / "out"
    for folder in (sandbox, out / "df", out / "vis"):
        folder.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, dict[str, str] | None] = {}
    for port, value in (("dataframe1", dataframe1), ("dataframe2", dataframe2)):
        if value is None:
            inputs[port] = None
        elif isinstance(value, pd.DataFrame):
            path = sandbox / f"{port}.arrow"
            codec.write(value, str(path), "arrow")
            inputs[port] = {"path": str(path), "format": "arrow"}
        else:
            inputs[port] = {"path": str(value), "format": "table"}
    bundle_dir = None
    if bundle is not None:
        bundle_dir = str(sandbox / "bundle")
        extract(str(bundle), bundle_dir)
    job = EpsJob(
        sandbox=str(sandbox),
        script=write_inline_script(str(sandbox), textwrap.dedent(script)),
        script_label="azureml_main.py",
        dataframe_output=str(out / "df"),
        visualizations_output=str(out / "vis"),
        inputs=inputs,
        bundle_dir=bundle_dir,
        memory_limit_bytes=memory_mb * 1024 * 1024,
    )
    lines = lines if lines is not None else {"stdout": [], "stderr": []}
    runner = EpsRunner(
        job,
        step="eps",
        time_limit_seconds=time_limit,
        grace_seconds=1,
        on_stdout=lines["stdout"].append,
        on_stderr=lines["stderr"].append,
    )
    summary = runner.run()
    frame = codec.read(str(out / "df" / "data.parquet"), "parquet")
    return Outcome(frame, summary, lines["stdout"], lines["stderr"])


ECHO_PORTS = """
import pandas as pd

def azureml_main(*frames):
    return pd.DataFrame({"arg": range(len(frames)), "first_value": [f.iloc[0, 0] for f in frames]}),
"""


def _frame(value: object) -> pd.DataFrame:
    return pd.DataFrame({"v": [value, value]})


# -- item 1: ports -> parameters by position ----------------------------------------------------------
class TestInputMapping:
    def test_one_input(self, tmp_path: Path) -> None:
        out = run_script(tmp_path, ECHO_PORTS, dataframe1=_frame("one"))
        assert out.frame.to_dict("list") == {"arg": [0], "first_value": ["one"]}

    def test_two_inputs_in_port_order(self, tmp_path: Path) -> None:
        out = run_script(tmp_path, ECHO_PORTS, dataframe1=_frame("first"), dataframe2=_frame("second"))
        assert out.frame.to_dict("list") == {"arg": [0, 1], "first_value": ["first", "second"]}

    def test_second_port_only_is_the_first_parameter(self, tmp_path: Path) -> None:
        out = run_script(tmp_path, ECHO_PORTS, dataframe2=_frame("second"))
        assert out.frame.to_dict("list") == {"arg": [0], "first_value": ["second"]}

    def test_no_input_calls_without_arguments(self, tmp_path: Path) -> None:
        script = "import pandas as pd\ndef azureml_main():\n    return pd.DataFrame({'x': [1]}),\n"
        assert run_script(tmp_path, script).frame.to_dict("list") == {"x": [1]}

    def test_seed_style_defaults_accept_any_number_of_inputs(self, tmp_path: Path) -> None:
        script = (
            "def azureml_main(dataframe1=None, dataframe2=None):\n"
            "    dataframe1['second_connected'] = dataframe2 is not None\n"
            "    return dataframe1,\n"
        )
        out = run_script(tmp_path, script, dataframe1=_frame(1))
        assert out.frame["second_connected"].tolist() == [False, False]

    def test_too_many_inputs_for_the_signature_is_a_clear_error(self, tmp_path: Path) -> None:
        script = "def azureml_main(only):\n    return only\n"
        with pytest.raises(StepExecutionError, match=r"cannot be called with 2 DataFrame argument\(s\)"):
            run_script(tmp_path, script, dataframe1=_frame(1), dataframe2=_frame(2))

    def test_missing_entry_point(self, tmp_path: Path) -> None:
        with pytest.raises(StepExecutionError, match="defines no function azureml_main"):
            run_script(tmp_path, "def main():\n    pass\n")


# -- item 1: return forms ---------------------------------------------------------------------------------
RETURNS = {
    "tuple": "return (df, 'ignored')",
    "list": "return [df]",
    "numpy array": "arr = np.empty(2, dtype=object); arr[0] = df; arr[1] = None; return arr",
    "bare DataFrame": "return df",
}


class TestReturnValue:
    @pytest.mark.parametrize("form", list(RETURNS))
    def test_first_element_of_a_sequence_or_a_bare_frame(self, tmp_path: Path, form: str) -> None:
        script = (
            "import numpy as np\nimport pandas as pd\n"
            f"def azureml_main():\n    df = pd.DataFrame({{'x': [1, 2]}})\n    {RETURNS[form]}\n"
        )
        assert run_script(tmp_path, script).frame.to_dict("list") == {"x": [1, 2]}

    def test_none_is_an_empty_output(self, tmp_path: Path) -> None:
        out = run_script(tmp_path, "def azureml_main():\n    return None\n")
        assert out.frame.shape == (0, 0)
        assert out.summary["rows"] == 0

    @pytest.mark.parametrize(
        ("body", "named"),
        [
            ("return 42", "returned a int"),
            ("return {'x': [1]}", "returned a dict"),
            ("return ('not a frame',)", "tuple whose first element is a str"),
            ("return []", "returned an empty list"),
            ("import pandas as pd\n    return pd.Series([1])", "returned a pandas.Series"),
        ],
    )
    def test_anything_else_is_an_error_naming_it(self, tmp_path: Path, body: str, named: str) -> None:
        with pytest.raises(StepExecutionError, match=named):
            run_script(tmp_path, f"def azureml_main():\n    {body}\n")


# -- item 2: type translation ---------------------------------------------------------------------------
class TestTypeTranslation:
    def test_input_index_is_always_int64_zero_to_n_minus_one(self, tmp_path: Path) -> None:
        stored = pd.DataFrame({"v": [1, 2, 3]}, index=pd.Index(["x", "y", "z"], name="key"))
        script = (
            "import pandas as pd\n"
            "def azureml_main(df):\n"
            "    ok = isinstance(df.index, pd.RangeIndex) and df.index.dtype == 'int64' "
            "and list(df.index) == [0, 1, 2] and df.index.name is None\n"
            "    return pd.DataFrame({'ok': [ok], 'columns': [','.join(df.columns)]}),\n"
        )
        out = run_script(tmp_path, script, dataframe1=stored)
        assert out.frame.to_dict("list") == {"ok": [True], "columns": ["v"]}

    def test_csv_input_missing_values_arrive_as_nan(self, tmp_path: Path) -> None:
        csv = tmp_path / "in.csv"
        csv.write_text("a,b\n1,x\n,\n3,z\n")
        script = (
            "import pandas as pd\n"
            "def azureml_main(df):\n"
            "    return pd.DataFrame({'na': [int(df['a'].isna().sum()), int(df['b'].isna().sum())]}),\n"
        )
        assert run_script(tmp_path, script, dataframe1=csv).frame["na"].tolist() == [1, 1]

    def test_an_unreadable_input_is_a_clear_error(self, tmp_path: Path) -> None:
        folder = tmp_path / "no_tables"
        folder.mkdir()
        (folder / "model.pkl").write_bytes(b"\x80")
        with pytest.raises(
            StepExecutionError, match=r"cannot read an input DataFrame: input folder .* holds no table"
        ):
            run_script(tmp_path, "def azureml_main(df):\n    return df\n", dataframe1=folder)

    def test_parquet_input_nulls_arrive_as_na(self, tmp_path: Path) -> None:
        stored = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "f": [0.5, np.nan]})
        script = (
            "import pandas as pd\n"
            "def azureml_main(df):\n"
            "    return pd.DataFrame({'n_is_na': [df['n'][1] is pd.NA],\n"
            "                         'f_is_nan': [bool(pd.isna(df['f'][1]))]}),\n"
        )
        assert run_script(tmp_path, script, dataframe1=stored).frame.iloc[0].tolist() == [True, True]

    def test_output_na_is_stored_as_missing(self, tmp_path: Path) -> None:
        script = (
            "import numpy as np, pandas as pd\n"
            "def azureml_main():\n"
            "    return pd.DataFrame({'f': [1.0, np.nan], 's': ['a', None],\n"
            "                         'n': pd.array([None, 2], dtype='Int64')}),\n"
        )
        run_script(tmp_path, script)
        table = pq.read_table(tmp_path / "out" / "df" / "data.parquet")
        assert [table.column(c).null_count for c in ("f", "s", "n")] == [1, 1, 1]

    def test_output_index_is_dropped(self, tmp_path: Path) -> None:
        script = (
            "import pandas as pd\n"
            "def azureml_main():\n"
            "    return pd.DataFrame({'v': [1, 2]}, index=pd.Index(['a', 'b'], name='key')),\n"
        )
        run_script(tmp_path, script)
        table = pq.read_table(tmp_path / "out" / "df" / "data.parquet")
        assert table.column_names == ["v"]
        assert list(codec.read(str(tmp_path / "out" / "df" / "data.parquet"), "parquet").index) == [0, 1]

    def test_non_string_names_become_str(self, tmp_path: Path) -> None:
        script = (
            "import pandas as pd\n"
            "def azureml_main():\n"
            "    df = pd.DataFrame([[1, 2, 3, 4]])\n"
            "    df.columns = [0, 2.5, ('a', 'b'), None]\n"
            "    return df,\n"
        )
        frame = run_script(tmp_path, script).frame
        assert list(frame.columns) == ["0", "2.5", "('a', 'b')", "None"]
        assert all(type(c) is str for c in frame.columns)

    @pytest.mark.parametrize(
        ("names", "expected"),
        [
            (["a", "a"], ["a", "a (2)"]),
            (["a", "a", "a"], ["a", "a (2)", "a (3)"]),
            (["a", "b", "a", "b", "a"], ["a", "b", "a (2)", "b (2)", "a (3)"]),
            (["a", "a", "a (2)"], ["a", "a (3)", "a (2)"]),  # a suffixed name that collides keeps counting
            ([1, "1"], ["1", "1 (2)"]),  # str() first, then duplicates
        ],
    )
    def test_duplicate_names_get_seed_suffixes(
        self, tmp_path: Path, names: list[object], expected: list[str]
    ) -> None:
        script = (
            "import pandas as pd\n"
            "def azureml_main():\n"
            f"    df = pd.DataFrame([list(range({len(names)}))])\n"
            f"    df.columns = {names!r}\n"
            "    return df,\n"
        )
        frame = run_script(tmp_path, script).frame
        assert list(frame.columns) == expected
        assert frame.iloc[0].tolist() == list(range(len(names)))

    def test_bytes_columns_round_trip_as_bytes_and_are_never_unpickled(self, tmp_path: Path) -> None:
        marker = tmp_path / "unpickled"
        payload = pickle.dumps(_Trap(str(marker)))
        script = (
            "import pickle, pandas as pd\n"
            "def azureml_main(df):\n"
            "    model = {'weights': [0.1, 0.2]}\n"
            "    return pd.DataFrame({'model': [pickle.dumps(model)], 'trap': [df['blob'][0]]}),\n"
        )
        out = run_script(tmp_path, script, dataframe1=pd.DataFrame({"blob": [payload]}))
        assert out.frame["trap"][0] == payload
        assert isinstance(out.frame["model"][0], bytes)
        assert pickle.loads(out.frame["model"][0]) == {"weights": [0.1, 0.2]}  # noqa: S301 - the user's own bytes
        assert str(pq.read_schema(tmp_path / "out" / "df" / "data.parquet").field("trap").type) == "binary"
        assert not marker.exists()


class _Trap:
    """Unpickling this writes a marker file: proof that nothing on our path unpickles."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


# -- item 4: the script bundle ---------------------------------------------------------------------------
def _zip(path: Path, entries: dict[str, str], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc")
    return path


class TestBundle:
    def test_bundle_is_on_sys_path_as_in_the_seed(self, tmp_path: Path) -> None:
        bundle = (
            Path(__file__).resolve().parents[2] / "dags_examples" / "definitions" / "bundles" / "Hello.zip"
        )
        script = (
            "import pandas as pd\nimport Hello\n"
            "def azureml_main(dataframe1=None, dataframe2=None):\n"
            "    return pd.DataFrame({'greeting': [Hello.print_hello('World')]}),\n"
        )
        out = run_script(tmp_path, script, bundle=bundle)
        assert out.frame["greeting"].tolist() == ["Hello, World!"]
        assert "Hello, World!" in out.stdout

    def test_packages_in_folders_import(self, tmp_path: Path) -> None:
        bundle = _zip(tmp_path / "pkg.zip", {"mylib/__init__.py": "", "mylib/core.py": "VALUE = 7\n"})
        script = (
            "import pandas as pd\nfrom mylib.core import VALUE\n"
            "def azureml_main():\n    return pd.DataFrame({'v': [VALUE]})\n"
        )
        assert run_script(tmp_path, script, bundle=bundle).frame["v"].tolist() == [7]

    @pytest.mark.parametrize(
        ("entry", "reason"),
        [
            ("../evil.py", "climbs out of the bundle"),
            ("sub/../../evil.py", "climbs out of the bundle"),
            ("..\\evil.py", "climbs out of the bundle"),
            ("/tmp/evil.py", "absolute path"),
            ("C:/evil.py", "absolute path"),
        ],
    )
    def test_zip_slip_is_refused_and_nothing_is_written(
        self, tmp_path: Path, entry: str, reason: str
    ) -> None:
        bundle = _zip(tmp_path / "b.zip", {"ok.py": "", entry: "print('pwned')"})
        dest = tmp_path / "deep" / "sandbox" / "bundle"
        with pytest.raises(BundleError, match=reason):
            extract(str(bundle), str(dest))
        assert not dest.exists()
        assert sorted(p.name for p in tmp_path.rglob("*.py")) == []
        assert not Path("/tmp/evil.py").exists()

    def test_symlinks_are_refused(self, tmp_path: Path) -> None:
        bundle = _zip(tmp_path / "b.zip", {"ok.py": ""}, symlink="etc_link")
        with pytest.raises(BundleError, match="is a symbolic link"):
            extract(str(bundle), str(tmp_path / "bundle"))
        assert not (tmp_path / "bundle").exists()

    def test_uncompressed_size_over_the_limit_is_refused(self, tmp_path: Path) -> None:
        bundle = tmp_path / "bomb.zip"
        with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("zeros.bin", b"\0" * (8 * 1024 * 1024))  # 8 MiB that compress to ~8 KiB
        assert bundle.stat().st_size < 64 * 1024
        with pytest.raises(
            BundleError, match=r"would unpack to 8388608 bytes, more than the limit of 1048576"
        ):
            extract(str(bundle), str(tmp_path / "bundle"), BundleLimits(max_bytes=1024 * 1024))
        assert not (tmp_path / "bundle").exists()

    def test_headers_that_understate_the_size_are_caught_while_writing(self, tmp_path: Path) -> None:
        bundle = tmp_path / "liar.zip"
        with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("a.bin", b"\0" * 4096)
            zf.writestr("b.bin", b"\0" * 4096)
        limits = BundleLimits(max_bytes=6000)
        # Forge the central directory so the declared total looks small; inflating still counts bytes.
        with zipfile.ZipFile(bundle) as zf:
            infos = zf.infolist()
        from airflow_mlpipelines.runtime import bundle as bundle_module

        def lying_check(zf: zipfile.ZipFile, name: str, lim: BundleLimits) -> list[zipfile.ZipInfo]:
            return zf.infolist()

        original = bundle_module.check
        bundle_module.check = lying_check  # type: ignore[assignment]
        try:
            with pytest.raises(BundleError, match="unpacks to more than the limit of 6000 bytes"):
                extract(str(bundle), str(tmp_path / "bundle"), limits)
        finally:
            bundle_module.check = original
        assert len(infos) == 2
        assert not (tmp_path / "bundle").exists()

    def test_file_count_over_the_limit_is_refused(self, tmp_path: Path) -> None:
        bundle = _zip(tmp_path / "many.zip", {f"m{i}.py": "" for i in range(11)})
        with pytest.raises(BundleError, match="has 11 entries, more than the limit of 10"):
            extract(str(bundle), str(tmp_path / "bundle"), BundleLimits(max_files=10))

    def test_not_a_zip(self, tmp_path: Path) -> None:
        bad = tmp_path / "b.zip"
        bad.write_text("not a zip")
        with pytest.raises(BundleError, match="is not a zip file"):
            extract(str(bad), str(tmp_path / "bundle"))


# -- item 5: sandbox, limits and errors -------------------------------------------------------------------
class TestSandboxAndErrors:
    def test_runs_in_a_child_process_in_a_fresh_empty_working_directory(self, tmp_path: Path) -> None:
        script = (
            "import os, pandas as pd\n"
            "def azureml_main():\n"
            "    return pd.DataFrame({'pid': [os.getpid()], 'cwd': [os.getcwd()],\n"
            "                         'files': [len(os.listdir('.'))]}),\n"
        )
        out = run_script(tmp_path, script)
        assert out.frame["pid"][0] != os.getpid()
        assert out.frame["cwd"][0] == str(tmp_path / "sandbox" / "work")
        assert out.frame["files"][0] == 0

    def test_mplbackend_is_agg_and_pngs_and_open_figures_are_collected(self, tmp_path: Path) -> None:
        script = (
            "import matplotlib, matplotlib.pyplot as plt, pandas as pd\n"
            "def azureml_main():\n"
            "    fig = plt.figure(); fig.gca().plot([1, 2]); fig.savefig('saved.png'); plt.close(fig)\n"
            "    plt.figure(); plt.plot([3, 1])  # left open\n"
            "    return pd.DataFrame({'backend': [matplotlib.get_backend()]}),\n"
        )
        out = run_script(tmp_path, script)
        assert out.frame["backend"][0].lower() == "agg"
        assert sorted(out.summary["visualizations"]) == ["figure_1.png", "saved.png"]
        for name in ("saved.png", "figure_1.png"):
            assert (tmp_path / "out" / "vis" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_time_limit_kills_the_process_group(self, tmp_path: Path) -> None:
        pid_file = tmp_path / "grandchild.pid"
        script = (
            "import subprocess, time\n"
            "def azureml_main():\n"
            # a grandchild that ignores SIGTERM: only killing the whole group stops it
            "    p = subprocess.Popen(['sh', '-c', 'trap \"\" TERM; while :; do sleep 1; done'])\n"
            f"    open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
            "    time.sleep(300)\n"
        )
        started = time.monotonic()
        with pytest.raises(StepExecutionError, match=r"ran longer than its time limit of 2 s"):
            run_script(tmp_path, script, time_limit=2)
        assert time.monotonic() - started < 20
        grandchild = int(pid_file.read_text())
        time.sleep(0.2)
        assert _gone_or_zombie(grandchild)


def _gone_or_zombie(pid: int) -> bool:
    """A killed process whose parent died is re-parented; until reaped it is a zombie (state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"

    def test_memory_limit(self, tmp_path: Path) -> None:
        script = (
            "import numpy as np\n"
            "def azureml_main():\n"
            "    block = np.ones(3 * 1024 ** 3 // 8)  # 3 GiB\n"
            "    return None\n"
        )
        with pytest.raises(StepExecutionError, match=r"raised MemoryError.*memory limit is 1536 MiB"):
            run_script(tmp_path, script, memory_mb=1536)

    def test_user_exception_shows_their_traceback_and_line(self, tmp_path: Path) -> None:
        script = (
            "import pandas as pd\n"  # line 1
            "\n"
            "def helper(df):\n"
            "    raise ValueError(f'bad rows: {len(df)}')\n"  # line 4
            "\n"
            "def azureml_main(df):\n"
            "    return helper(df)\n"  # line 7
        )
        lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        with pytest.raises(StepExecutionError) as info:
            run_script(tmp_path, script, dataframe1=_frame(1), lines=lines)
        assert "raised ValueError: bad rows: 2 at line 4 of azureml_main.py" in str(info.value)
        log = "\n".join(lines["stderr"])
        script_path = tmp_path / "sandbox" / "azureml_main.py"
        assert f'File "{script_path}", line 7, in azureml_main' in log
        assert f'File "{script_path}", line 4, in helper' in log
        assert "raise ValueError(f'bad rows: {len(df)}')" in log
        assert "eps_main.py" not in log  # no wrapper frames
        assert log.rstrip().endswith("ValueError: bad rows: 2")

    def test_syntax_error_names_the_line(self, tmp_path: Path) -> None:
        with pytest.raises(StepExecutionError, match=r"raised SyntaxError.*at line 2 of azureml_main.py"):
            run_script(tmp_path, "def azureml_main():\n    return (\n")

    def test_unstorable_output_column_is_a_clear_error(self, tmp_path: Path) -> None:
        script = "import pandas as pd\ndef azureml_main():\n    return pd.DataFrame({'obj': [object()]}),\n"
        with pytest.raises(StepExecutionError, match=r"column 'obj' .*cannot be stored without pickle"):
            run_script(tmp_path, script)
