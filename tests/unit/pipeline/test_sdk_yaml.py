"""Azure ML SDK v1's pipeline YAML dialect (``Pipeline.load_yaml``): the model it loads into, SDK v1's
input resolution order and defaults, and bad files reported at file:line, step id and field."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import Pipeline, Workspace, load_definition
from airflow_mlpipelines.pipeline.model import Argument, PipelineSpec, Ref

SAMPLE = """\
pipeline:
    name: SamplePipelineFromYaml
    parameters:
        PipelineParam1:
            type: int
            default: 3
        Rate:
            type: float
        Flag:
            type: bool
            default: 1
        Label:
            type: string
            default: 7
    data_references:
        DataReference1:
            datastore: workspaceblobstore
            path_on_datastore: testfolder/sample.txt
    default_compute: cpu-cluster
    steps:
        Step2:
            type: "PythonScriptStep"
            script_name: "score.py"
            arguments: [input:model, "--flag", "parameter:Flag"]
            inputs:
                model:
                    source: Output4
        Step1:
            runconfig: "D:\\\\Yaml\\\\default_runconfig.yml"
            parameters:
                NUM_ITERATIONS_2:
                    source: PipelineParam1
                NUM_ITERATIONS_1: 7
            type: "PythonScriptStep"
            name: "MyPythonScriptStep"
            script_name: "train.py"
            allow_reuse: False
            source_directory: "scripts"
            hash_paths: [conf.json]
            arguments:
            - "--input"
            - input:InputData
            - "--n"
            - parameter:NUM_ITERATIONS_2
            - "--m"
            - parameter:NUM_ITERATIONS_1
            - output:OutputData
            - output:nope
            inputs:
                InputData:
                    source: DataReference1
                    bind_mode: download
            outputs:
                OutputData:
                    destination: Output4
                    datastore: outstore
                    bind_mode: mount
"""


def _write(tmp_path: Path, text: str, name: str = "sample.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _load(path: Path) -> PipelineSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MLPipelinesWarning)
        (spec,) = load_definition(str(path))
    return spec


def test_sample_loads_with_sdk_v1_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, SAMPLE)
    with pytest.warns(MLPipelinesWarning) as caught:
        (spec,) = load_definition(str(path))
    assert spec.name == "sample"  # the file's stem; SDK v1's `name` is the description
    assert spec.description == "SamplePipelineFromYaml"
    params = {p.name: (p.default, p.type) for p in spec.parameters}
    assert params == {
        "PipelineParam1": (3, "integer"),
        "Rate": (0.0, "number"),  # SDK v1's defaults when none is given
        "Flag": (True, "boolean"),
        "Label": ("7", "string"),  # converted as SDK v1 did: str(7)
    }
    assert [s.name for s in spec.steps] == ["Step1", "Step2"]  # keyed by id, ordered by data
    step1, step2 = spec.steps
    assert step1.kind == "python_script"
    assert step1.script_name == "train.py"
    assert step1.source_directory == str(tmp_path / "scripts")
    assert step1.allow_reuse is False
    assert step1.hash_paths == ("conf.json",)
    assert step1.compute.name == "cpu-cluster"
    assert step1.arguments == (
        Argument(("--input",)),
        Argument((Ref("input", "DataReference1"),)),
        Argument(("--n",)),
        Argument((Ref("parameter", "PipelineParam1"),)),  # through the step's parameter
        Argument(("--m",)),
        Argument(("7",)),  # a literal step parameter
        Argument((Ref("output", "Output4"),)),
        Argument(("output:nope",)),  # no such port: text, as in SDK v1 (with a warning)
    )
    assert step1.outputs[0].name == "Output4"
    assert step1.outputs[0].datastore == "outstore"
    assert step1.location is not None
    assert step1.location.line == 28  # the step's key
    assert step2.inputs == ("Output4",)
    assert step2.source_directory == str(tmp_path)
    assert step2.arguments[2] == Argument((Ref("parameter", "Flag"),))  # a pipeline parameter by name
    (dataset,) = spec.datasets
    assert (dataset.name, dataset.datastore, dataset.paths, dataset.mode) == (
        "DataReference1",
        "workspaceblobstore",
        ("testfolder/sample.txt",),
        "download",
    )
    assert [d.name for d in spec.datastores] == ["outstore"]
    assert [t.name for t in spec.compute_targets] == ["cpu-cluster"]
    messages = [str(w.message) for w in caught]
    assert any("runconfig is not read" in m for m in messages)
    assert any("'output:nope' names no port" in m for m in messages)
    assert all(w.filename == str(path) for w in caught)


def test_pipeline_load_yaml_is_an_sdk_pipeline(tmp_path: Path) -> None:
    path = _write(tmp_path, SAMPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MLPipelinesWarning)
        pipeline = Pipeline.load_yaml(Workspace.from_config(), str(path))
    assert isinstance(pipeline, Pipeline)
    assert pipeline.validate() == []
    spec = pipeline.to_spec()
    assert spec == _load(path).__class__(**{**_load(path).__dict__, "definition_text": None})
    assert spec.source is not None
    assert spec.source.file == str(path)  # Experiment.submit(local=True) runs the file


RESOLUTION = """\
pipeline:
    parameters:
        shared:
            type: datapath
            default: {datastore: paramstore, path_on_datastore: from_param.txt}
    data_references:
        shared: {datastore: refstore, path_on_datastore: from_ref.txt}
        only_ref: {datastore: refstore, path_on_datastore: only_ref.txt}
    steps:
        produce:
            type: PythonScriptStep
            script_name: p.py
            outputs:
                out: {destination: only_data}
        consume:
            type: PythonScriptStep
            script_name: c.py
            arguments: [input:a, input:b, input:c]
            inputs:
                a: {source: shared}
                b: {source: only_ref}
                c: {source: only_data}
"""


def test_input_resolution_order_datapath_then_data_reference_then_pipeline_data(tmp_path: Path) -> None:
    spec = _load(_write(tmp_path, RESOLUTION))
    consume = spec.step("consume")
    assert consume.inputs == ("shared", "only_ref", "only_data")
    datasets = {d.name: (d.datastore, d.paths) for d in spec.datasets}
    assert datasets == {
        "shared": ("paramstore", ("from_param.txt",)),  # the datapath parameter wins
        "only_ref": ("refstore", ("only_ref.txt",)),
    }
    assert spec.producers()["only_data"] == "produce"  # another step's output
    assert [s.name for s in spec.steps] == ["produce", "consume"]
    # A datapath parameter is a data path parameter: its default, or the path a run's conf names.
    (shared,) = spec.parameters
    assert shared.datapath
    assert shared.default == {"datastore": "paramstore", "path_on_datastore": "from_param.txt"}
    assert {d.name: d.parameter for d in spec.datasets}["shared"] == "shared"


COMMAND = """\
pipeline:
    data_references:
        raw: {datastore: workspaceblobstore, path_on_datastore: raw.txt}
    parameters:
        n: {type: int, default: 2}
    steps:
        pack:
            type: CommandStep
            command: "tar -czf output:bundle -C input:src ."
            inputs:
                src: {source: raw}
            outputs:
                bundle: {destination: tarball}
        listing:
            type: CommandStep
            command: [ls, -l, input:tar, parameter:n]
            inputs:
                tar: {source: tarball}
"""


def test_command_step_in_the_dialect(tmp_path: Path) -> None:
    spec = _load(_write(tmp_path, COMMAND))
    pack, listing = spec.steps
    assert (pack.kind, pack.script_name, listing.kind) == ("command", "", "command")
    assert [str(a) for a in pack.arguments] == [
        "tar",
        "-czf",
        "${{outputs.tarball}}",
        "-C",
        "${{inputs.raw}}",
        ".",
    ]
    assert [str(a) for a in listing.arguments] == ["ls", "-l", "${{inputs.tarball}}", "${{parameters.n}}"]


def _error(tmp_path: Path, text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        _load(_write(tmp_path, text))
    return info.value


STEPS = """\
pipeline:
    data_references:
        raw: {{datastore: workspaceblobstore, path_on_datastore: raw.txt}}
    steps:
        ok:
            type: PythonScriptStep
            script_name: ok.py
        broken:
{step}
"""


@pytest.mark.parametrize(
    ("step", "line", "field", "message"),
    [
        (
            "            type: PythonScriptStp\n            script_name: x.py\n",
            9,
            "type",
            "unknown step type 'PythonScriptStp'",
        ),
        (
            "            type: ParallelRunStep\n            input_data:\n"
            "                data: {source: raw}\n            parallel_run_config:\n"
            "                entry_script: x.py\n"
            "                output_action: append_rows\n",
            12,
            "parallel_run_config.output_action",
            "output_action must be one of append_row, summary_only, not 'append_rows'",
        ),
        (
            "            type: ParallelRunStep\n            parallel_run_config: {entry_script: x.py}\n",
            8,
            "input_data",
            "a ParallelRunStep needs an input to cut into mini-batches",
        ),
        ("            type: ModuleStep\n", 9, "type", "ModuleStep is an Azure-only step"),
        ("            script_name: x.py\n", 8, "type", "the step has no type"),
        (
            "            type: PythonScriptStep\n            source_directory: src\n",
            8,
            "script_name",
            "needs script_name",
        ),
        (
            "            type: PythonScriptStep\n            script_name: x.py\n            inputs:\n"
            "                data: {source: rwa}\n",
            12,
            "inputs.data.source",
            "unknown source 'rwa'",
        ),
        (
            "            type: PythonScriptStep\n            script_name: x.py\n            inputs:\n"
            "                data:\n                    source: raw\n                    bind_mode: copy\n",
            14,
            "inputs.data.bind_mode",
            "bind_mode 'copy' must be mount or download",
        ),
        (
            "            type: PythonScriptStep\n            script_name: x.py\n            outputs:\n"
            "                out:\n                    destination: o\n"
            "                    bind_mode: download\n",
            14,
            "outputs.out.bind_mode",
            "bind_mode 'download' must be mount or upload",
        ),
        (
            "            type: PythonScriptStep\n            script_name: x.py\n            outputs:\n"
            "                out: {datastore: workspaceblobstore}\n",
            12,
            "outputs.out.destination",
            "output 'out' must have a destination",
        ),
        (
            "            type: PythonScriptStep\n            script_name: x.py\n            parameters:\n"
            "                p: {source: Missing}\n",
            12,
            "parameters.p.source",
            "assigned to source 'Missing', which doesn't exist",
        ),
        ("            type: CommandStep\n            command: ''\n", 8, "command", "the command is empty"),
        (
            "            type: PythonScriptStep\n            script_name: x.py\n"
            "            allow_reuse: maybe\n",
            11,
            "allow_reuse",
            "allow_reuse must be true or false",
        ),
    ],
)
def test_errors_name_file_line_step_and_field(
    tmp_path: Path, step: str, line: int, field: str, message: str
) -> None:
    error = _error(tmp_path, STEPS.format(step=step))
    assert message in str(error)
    assert error.step == "broken"
    assert error.field == field
    assert error.location is not None
    assert (error.location.file, error.location.line) == (str(tmp_path / "sample.yaml"), line)
    assert str(error).startswith(f"{tmp_path / 'sample.yaml'}:{line}, step 'broken', field '{field}'")


def test_parameter_errors(tmp_path: Path) -> None:
    error = _error(tmp_path, "pipeline:\n  parameters:\n    p: {type: integer}\n  steps: {}\n")
    assert "must have a type of string, int, float, bool or datapath, got 'integer'" in str(error)
    assert (error.field, error.location.line if error.location else None) == ("parameters.p.type", 3)
    error = _error(
        tmp_path, "pipeline:\n  parameters:\n    p:\n      type: int\n      default: x\n  steps: {}\n"
    )
    assert (error.field, error.location.line if error.location else None) == ("parameters.p.default", 5)
    error = _error(
        tmp_path, "pipeline:\n  parameters:\n    d: {type: datapath, default: {datastore: s}}\n  steps: {}\n"
    )
    assert "needs a default with datastore and path_on_datastore" in str(error)


def test_data_reference_to_a_registered_dataset_is_refused(tmp_path: Path) -> None:
    error = _error(
        tmp_path,
        "pipeline:\n  data_references:\n    titanic: {dataset_name: titanic_ds}\n"
        "  steps:\n    s: {type: PythonScriptStep, script_name: s.py}\n",
    )
    assert "names a registered dataset" in str(error)
    assert error.location is not None
    assert error.location.line == 3


def test_several_bad_steps_are_all_reported(tmp_path: Path) -> None:
    error = _error(
        tmp_path,
        "pipeline:\n  steps:\n    a: {type: Nope}\n    b: {type: PythonScriptStep}\n",
    )
    assert [(e.step, e.field) for e in (error, *error.others)] == [("a", "type"), ("b", "script_name")]


TRANSFER = """\
pipeline:
    data_references:
        lake: {datastore: lakestore, path_on_datastore: raw/}
        copy: {datastore: workspaceblobstore, path_on_datastore: copy/}
        sales: {datastore: warehouse, sql_table: public.sales}
    default_compute: adf-compute
    steps:
        copy_files:
            type: DataTransferStep
            source_data_reference:
                lake_in: {source: lake}
            destination_data_reference:
                out: {source: staged}
            source_reference_type: directory
        export:
            type: DataTransferStep
            source_data_reference:
                s: {source: sales}
            destination_data_reference:
                d: {source: copy}
        use:
            type: PythonScriptStep
            script_name: use.py
            arguments: [input:staged]
            inputs:
                staged: {source: staged}
"""


def test_data_transfer_steps(tmp_path: Path) -> None:
    spec = _load(_write(tmp_path, TRANSFER))
    copy_files, export = spec.step("copy_files"), spec.step("export")
    assert copy_files.kind == export.kind == "data_transfer"
    assert copy_files.transfer is not None
    assert export.transfer is not None
    assert copy_files.transfer.source.datastore == "lakestore"
    assert copy_files.transfer.source.reference_type == "directory"
    assert copy_files.outputs[0].name == "staged"
    assert copy_files.outputs[0].path is None  # a PipelineData: a fresh folder per run
    assert export.transfer.source.sql_table == "public.sales"
    assert export.outputs[0].path == "copy/"  # a data reference: exactly that path
    stores = {d.name: d.connection for d in spec.datastores}
    assert stores == {"lakestore": None, "warehouse": "warehouse"}
    assert spec.step("use").inputs == ("staged",)
    # A transfer's compute (Data Factory) is ignored: it runs on the worker; the script step's is a name.
    assert (copy_files.compute.name, spec.step("use").compute.name) == ("local", "adf-compute")
