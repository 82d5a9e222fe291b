"""CommandStep in YAML (``type: command``) and in SDK-style Python: the words it runs, and bad commands
reported at the definition's line, step and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import load_definition
from airflow_mlpipelines.pipeline.model import Argument, PipelineSpec, Ref

YAML = """\
name: cmd
datasets:
  raw: {path: raw.txt}
steps:
  - name: prep
    type: command
    command: "python prep.py --in ${{ inputs.raw }} --out=${{outputs.out}} --tag 'a b' --n ${{parameters.n}}"
    outputs: [out]
  - name: pack
    type: command
    command: [tar, -czf, {output: tarball}, -C, {input: out}, "."]
    outputs: [tarball]
parameters:
  n: 3
"""


def _load(tmp_path: Path, text: str, name: str = "def.yaml") -> PipelineSpec:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    (spec,) = load_definition(str(path))
    return spec


def test_yaml_command_words(tmp_path: Path) -> None:
    spec = _load(tmp_path, YAML)
    prep, pack = spec.step("prep"), spec.step("pack")
    assert (prep.kind, prep.script_name, pack.kind) == ("command", "", "command")
    assert prep.arguments == (
        Argument(("python",)),
        Argument(("prep.py",)),
        Argument(("--in",)),
        Argument((Ref("input", "raw"),)),
        Argument(("--out=", Ref("output", "out"))),
        Argument(("--tag",)),
        Argument(("a b",)),  # quotes keep a word whole, as in a shell
        Argument(("--n",)),
        Argument((Ref("parameter", "n"),)),
    )
    assert prep.inputs == ("raw",)  # an input named only in the command is an input, as for arguments
    assert [str(a) for a in pack.arguments] == [
        "tar",
        "-czf",
        "${{outputs.tarball}}",
        "-C",
        "${{inputs.out}}",
        ".",
    ]
    assert [s.name for s in spec.steps] == ["prep", "pack"]  # pack consumes prep's output


@pytest.mark.parametrize(
    ("command", "field", "message"),
    [
        ('""', "command", "the command is empty"),
        ("[]", "command", "the command is empty"),
        ('"python \'unclosed"', "command", "cannot split the command into words"),
        ('"python x.py ${{inputs.nope}}"', "inputs", "input 'nope' is not produced by any step"),
        ('"python x.py ${{parameters.nope}}"', "command[2]", "word 2 refers to unknown parameter 'nope'"),
        ('"python x.py ${{outputs.nope}}"', "command", "output 'nope' that the step does not declare"),
        ("[python, {input: a, output: b}]", "command[1]", "an argument mapping must be one of"),
        ('"python a.py && python b.py"', "command[2]", "the shell operator '&&'"),
        ('"python a.py | tee log.txt"', "command[2]", "commands run without a shell"),
    ],
)
def test_bad_commands_name_file_line_step_and_field(
    tmp_path: Path, command: str, field: str, message: str
) -> None:
    text = f"""\
        name: bad
        steps:
          - name: ok
            script: ok.py
          - name: broken
            type: command
            command: {command}
        """
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text)
    error = info.value
    assert message in str(error)
    assert (error.step, error.field) == ("broken", field)
    assert error.location is not None
    assert (Path(error.location.file).name, error.location.line) == ("def.yaml", 5)


def test_yaml_command_needs_command(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, "name: bad\nsteps:\n  - name: c\n    type: command\n")
    assert "command" in str(info.value)
    assert info.value.location is not None
    assert info.value.location.line == 3


SDK = """\
from airflow_mlpipelines.pipeline import CommandStep, Pipeline, PipelineData, PipelineParameter

data = PipelineData("data")
n = PipelineParameter("n", default_value=2)
make = CommandStep(command="./make.sh --count 2", outputs=[data])
use = CommandStep(name="use", command=["python use.py --in", data.as_input(), "--n", n])
pipeline = Pipeline(None, [use], name="sdk_cmd")
"""


def test_sdk_command_step(tmp_path: Path) -> None:
    spec = _load(tmp_path, SDK, "def.py")
    make, use = spec.steps
    assert make.name == "make"  # SDK v1: named after the command's first word
    assert (make.kind, use.kind) == ("command", "command")
    assert [str(a) for a in make.arguments] == ["./make.sh", "--count", "2"]
    assert [str(a) for a in use.arguments] == [
        "python",
        "use.py",
        "--in",
        "${{inputs.data}}",
        "--n",
        "${{parameters.n}}",
    ]
    assert use.inputs == ("data",)
    assert [p.name for p in spec.parameters] == ["n"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('CommandStep(command="")', "the command is empty"),
        ("CommandStep()", "the command is empty"),
        ('CommandStep(command=[PipelineData("d")])', "needs name="),
    ],
)
def test_sdk_bad_command_is_a_definition_error_at_its_line(tmp_path: Path, call: str, message: str) -> None:
    text = f"from airflow_mlpipelines.pipeline import CommandStep, PipelineData\n\nstep = {call}\n"
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text, "def.py")
    assert message in str(info.value)
    assert info.value.location is not None
    assert info.value.location.line == 3
