"""Step order from data (producer -> consumers) plus run_after, and every graph and name error."""

from __future__ import annotations

import itertools

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, SourceLocation
from airflow_mlpipelines.pipeline.graph import producers_of, topological_order, upstream_map
from airflow_mlpipelines.pipeline.model import (
    Argument,
    DatasetSpec,
    DatastoreSpec,
    OutputSpec,
    ParameterSpec,
    Ref,
    StepSpec,
)
from airflow_mlpipelines.pipeline.validate import build_pipeline, step_upstream

FILE = "/defs/pipeline.yaml"
SOURCE = SourceLocation(FILE, 1)


def _at(line: int) -> SourceLocation:
    return SourceLocation(FILE, line)


def _step(
    name: str,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    *,
    line: int = 10,
    **kw: object,
) -> StepSpec:
    return StepSpec(
        name=name,
        script_name=f"{name}.py",
        source_directory="/src",
        inputs=inputs,
        outputs=tuple(OutputSpec(o) for o in outputs),
        location=_at(line),
        **kw,  # type: ignore[arg-type]
    )


def _names(steps: object) -> list[str]:
    return [s.name for s in steps]  # type: ignore[attr-defined]


def _raw(name: str = "raw") -> DatasetSpec:
    return DatasetSpec(name, "workspaceblobstore", ("raw/a.csv",))


class TestOrdering:
    def test_consumers_after_producers_whatever_the_declaration_order(self) -> None:
        spec = build_pipeline(
            name="p",
            steps=[_step("compare", ("m",)), _step("train", ("d",), ("m",)), _step("prep", (), ("d",))],
        )
        assert _names(spec.steps) == ["prep", "train", "compare"]
        assert step_upstream(spec) == {"compare": ("train",), "train": ("prep",), "prep": ()}

    def test_already_ordered_steps_keep_their_order(self) -> None:
        spec = build_pipeline(
            name="p", steps=[_step("a", (), ("x",)), _step("b", ("x",), ("y",)), _step("c", ("y",))]
        )
        assert _names(spec.steps) == ["a", "b", "c"]

    @pytest.mark.parametrize("declared", [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "a"]])
    def test_independent_steps_keep_declaration_order(self, declared: list[str]) -> None:
        spec = build_pipeline(name="p", steps=[_step(n) for n in declared])
        assert _names(spec.steps) == declared
        assert step_upstream(spec) == dict.fromkeys(declared, ())

    def test_order_is_deterministic(self) -> None:
        steps = [_step("join", ("m0", "m1")), _step("t1", ("d",), ("m1",)), _step("t0", ("d",), ("m0",))]
        steps.append(_step("prep", (), ("d",)))
        first = build_pipeline(name="p", steps=steps)
        again = build_pipeline(name="p", steps=steps)
        assert _names(first.steps) == _names(again.steps) == ["prep", "t1", "t0", "join"]

    def test_fan_out_and_fan_in(self) -> None:
        steps = [
            _step("join", ("m0", "m1", "m2")),
            *(_step(f"t{i}", ("d",), (f"m{i}",)) for i in range(3)),
            _step("prep", (), ("d",)),
        ]
        spec = build_pipeline(name="p", steps=steps)
        upstream = step_upstream(spec)
        assert upstream == {
            "join": ("t0", "t1", "t2"),
            "t0": ("prep",),
            "t1": ("prep",),
            "t2": ("prep",),
            "prep": (),
        }
        assert _names(spec.steps) == ["prep", "t0", "t1", "t2", "join"]

    def test_diamond(self) -> None:
        spec = build_pipeline(
            name="p",
            steps=[
                _step("d", ("l", "r")),
                _step("left", ("x",), ("l",)),
                _step("right", ("x",), ("r",)),
                _step("top", (), ("x",)),
            ],
        )
        order = _names(spec.steps)
        assert order[0] == "top"
        assert order[-1] == "d"
        assert set(order[1:3]) == {"left", "right"}
        assert step_upstream(spec)["d"] == ("left", "right")

    def test_upstream_lists_a_producer_once_per_consumer(self) -> None:
        spec = build_pipeline(
            name="p", steps=[_step("a", (), ("x", "y")), _step("b", ("x", "y"), run_after=("a",))]
        )
        assert step_upstream(spec)["b"] == ("a",)

    def test_run_after_orders_without_data(self) -> None:
        spec = build_pipeline(name="p", steps=[_step("b", run_after=("a",)), _step("a")])
        assert _names(spec.steps) == ["a", "b"]
        assert step_upstream(spec) == {"b": ("a",), "a": ()}

    def test_run_after_and_data_combined(self) -> None:
        spec = build_pipeline(
            name="p",
            steps=[
                _step("report", ("m",), run_after=("cleanup",)),
                _step("cleanup", run_after=("train",)),
                _step("train", (), ("m",)),
            ],
        )
        assert _names(spec.steps) == ["train", "cleanup", "report"]
        assert step_upstream(spec)["report"] == ("train", "cleanup")

    def test_datasets_are_not_steps(self) -> None:
        spec = build_pipeline(name="p", steps=[_step("s", ("raw",))], datasets=[_raw()])
        assert step_upstream(spec) == {"s": ()}
        assert spec.datasets == (_raw(),)

    def test_producers(self) -> None:
        steps = [_step("a", (), ("x", "y")), _step("b", ("x",), ("z",))]
        assert producers_of(steps) == {"x": "a", "y": "a", "z": "b"}
        spec = build_pipeline(name="p", steps=steps)
        assert spec.producers() == {"x": "a", "y": "a", "z": "b"}

    def test_graph_functions_directly(self) -> None:
        steps = [_step("b", ("x", "raw")), _step("a", (), ("x",))]
        upstream = upstream_map(steps, ["raw"])
        assert upstream == {"b": ("a",), "a": ()}
        assert _names(topological_order(steps, upstream)) == ["a", "b"]

    def test_step_lookup(self) -> None:
        spec = build_pipeline(name="p", steps=[_step("a"), _step("b")])
        assert spec.step("b").script_name == "b.py"
        with pytest.raises(KeyError, match="nope"):
            spec.step("nope")

    def test_pipeline_fields_are_kept(self) -> None:
        params = [ParameterSpec("lr", 0.1, "number")]
        stores = [DatastoreSpec("s", "/data")]
        spec = build_pipeline(
            name="p.v-1_x",
            steps=[_step("a")],
            description="d",
            schedule="@daily",
            parameters=params,
            datastores=stores,
            tags=["t"],
            source=SOURCE,
        )
        assert (spec.name, spec.description, spec.schedule, spec.tags, spec.source) == (
            "p.v-1_x",
            "d",
            "@daily",
            ("t",),
            SOURCE,
        )
        assert spec.parameters == tuple(params)
        assert spec.datastores == tuple(stores)

    def test_wide_pipeline(self) -> None:
        steps = [_step("join", tuple(f"m{i}" for i in range(200)))]
        steps += [_step(f"t{i}", (), (f"m{i}",)) for i in range(200)]
        spec = build_pipeline(name="p", steps=steps)
        assert spec.steps[-1].name == "join"
        assert len(step_upstream(spec)["join"]) == 200


def _cycle_of(error: DefinitionError) -> list[str]:
    assert error.reason.startswith("steps form a cycle: ")
    return error.reason.removeprefix("steps form a cycle: ").split(" -> ")


class TestCycles:
    def test_three_step_cycle_names_every_step(self) -> None:
        steps = [
            _step("a", ("z",), ("x",), line=3),
            _step("b", ("x",), ("y",), line=6),
            _step("c", ("y",), ("z",), line=9),
        ]
        with pytest.raises(DefinitionError, match=r"steps form a cycle: \w -> \w -> \w -> \w\n") as info:
            build_pipeline(name="p", steps=steps)
        error = info.value
        cycle = _cycle_of(error)
        assert sorted(cycle[:-1]) == ["a", "b", "c"]
        assert cycle[0] == cycle[-1]
        lines = {"a": 3, "b": 6, "c": 9}
        assert error.step == cycle[0]
        assert error.location == _at(lines[cycle[0]])
        assert error.field == "inputs"
        assert error.hint is not None
        assert "remove one edge" in error.hint

    def test_cycle_follows_the_data_direction(self) -> None:
        steps = [_step("a", ("z",), ("x",)), _step("b", ("x",), ("y",)), _step("c", ("y",), ("z",))]
        with pytest.raises(DefinitionError, match="cycle") as info:
            build_pipeline(name="p", steps=steps)
        cycle = _cycle_of(info.value)
        # Each arrow goes from a producer to the step that consumes its output.
        assert set(itertools.pairwise(cycle)) == {("a", "b"), ("b", "c"), ("c", "a")}

    def test_two_step_cycle(self) -> None:
        steps = [_step("a", ("y",), ("x",), line=4), _step("b", ("x",), ("y",), line=8)]
        with pytest.raises(DefinitionError, match="steps form a cycle") as info:
            build_pipeline(name="p", steps=steps)
        cycle = _cycle_of(info.value)
        assert sorted(cycle[:-1]) == ["a", "b"]
        assert len(cycle) == 3
        assert info.value.step == cycle[0]
        assert info.value.location == _at({"a": 4, "b": 8}[cycle[0]])

    def test_cycle_through_run_after(self) -> None:
        steps = [_step("a", (), ("x",), run_after=("b",)), _step("b", ("x",))]
        with pytest.raises(DefinitionError, match="steps form a cycle") as info:
            build_pipeline(name="p", steps=steps)
        assert sorted(_cycle_of(info.value)[:-1]) == ["a", "b"]
        assert info.value.step in {"a", "b"}

    def test_cycle_leaves_out_steps_outside_it(self) -> None:
        steps = [
            _step("before", (), ("seed",)),
            _step("a", ("seed", "y"), ("x",)),
            _step("b", ("x",), ("y",)),
            _step("after", ("x",)),
        ]
        with pytest.raises(DefinitionError, match="steps form a cycle") as info:
            build_pipeline(name="p", steps=steps)
        assert sorted(_cycle_of(info.value)[:-1]) == ["a", "b"]

    def test_run_after_itself(self) -> None:
        with pytest.raises(DefinitionError, match="steps form a cycle: a -> a") as info:
            build_pipeline(name="p", steps=[_step("a", run_after=("a",), line=5)])
        assert (info.value.step, info.value.location) == ("a", _at(5))


class TestGraphErrors:
    def test_dangling_input_with_did_you_mean(self) -> None:
        with pytest.raises(DefinitionError, match="input 'modle' is not produced by any step") as info:
            build_pipeline(
                name="p", steps=[_step("a", (), ("model",), line=3), _step("b", ("modle",), line=7)]
            )
        error = info.value
        assert (error.step, error.field, error.hint, error.location) == (
            "b",
            "inputs",
            "did you mean 'model'?",
            _at(7),
        )
        assert str(error).startswith(f"{FILE}:7, step 'b', field 'inputs': input 'modle'")
        assert str(error).endswith("\n  hint: did you mean 'model'?")

    def test_dangling_input_suggests_a_dataset(self) -> None:
        with pytest.raises(DefinitionError, match="input 'rwa' is not produced") as info:
            build_pipeline(name="p", steps=[_step("a", ("rwa",))], datasets=[_raw()])
        assert info.value.hint == "did you mean 'raw'?"

    def test_dangling_input_without_close_name(self) -> None:
        with pytest.raises(DefinitionError, match="input 'zzz' is not produced") as info:
            build_pipeline(name="p", steps=[_step("a", (), ("model",)), _step("b", ("zzz",), line=12)])
        assert (info.value.step, info.value.field, info.value.location) == ("b", "inputs", _at(12))
        assert info.value.hint == "declare it as another step's output or as a dataset"

    def test_two_producers(self) -> None:
        steps = [_step("a", (), ("d",), line=3), _step("b", (), ("d",), line=6)]
        with pytest.raises(DefinitionError, match="output 'd' is produced by two steps: 'a' and 'b'") as info:
            build_pipeline(name="p", steps=steps)
        error = info.value
        assert (error.step, error.field, error.location) == ("b", "outputs", _at(6))
        assert error.hint is not None
        assert "unique name" in error.hint

    def test_duplicate_step_names(self) -> None:
        with pytest.raises(
            DefinitionError, match=rf"duplicate step name 'a' \(first defined at {FILE}:3\)"
        ) as info:
            build_pipeline(name="p", steps=[_step("a", line=3), _step("b", line=5), _step("a", line=9)])
        error = info.value
        assert (error.step, error.field, error.location) == ("a", "name", _at(9))
        assert error.hint == "every step needs a unique name"

    def test_duplicate_step_without_location(self) -> None:
        steps = [StepSpec("a", "a.py", "/src"), StepSpec("a", "b.py", "/src")]
        with pytest.raises(DefinitionError, match=r"first defined at unknown") as info:
            build_pipeline(name="p", steps=steps)
        assert (info.value.step, info.value.location) == ("a", None)

    def test_unknown_run_after(self) -> None:
        with pytest.raises(DefinitionError, match="run_after names unknown step 'prepp'") as info:
            build_pipeline(name="p", steps=[_step("prep", line=2), _step("b", run_after=("prepp",), line=4)])
        error = info.value
        assert (error.step, error.field, error.location, error.hint) == (
            "b",
            "run_after",
            _at(4),
            "did you mean 'prep'?",
        )

    def test_unknown_run_after_without_close_name(self) -> None:
        with pytest.raises(DefinitionError, match="run_after names unknown step 'zzz'") as info:
            build_pipeline(name="p", steps=[_step("prep"), _step("b", run_after=("zzz",))])
        assert info.value.hint is None
        assert "hint" not in str(info.value)

    def test_step_consuming_its_own_output(self) -> None:
        with pytest.raises(DefinitionError, match="step consumes its own output 'd'") as info:
            build_pipeline(name="p", steps=[_step("x"), _step("a", ("d",), ("d",), line=21)])
        assert (info.value.step, info.value.field, info.value.location) == ("a", "inputs", _at(21))

    def test_output_named_like_a_dataset(self) -> None:
        with pytest.raises(DefinitionError, match="output 'raw' has the same name as a dataset") as info:
            build_pipeline(name="p", steps=[_step("a", (), ("raw",), line=4)], datasets=[_raw()])
        assert (info.value.step, info.value.field, info.value.location) == ("a", "outputs", _at(4))

    def test_empty_pipeline(self) -> None:
        with pytest.raises(DefinitionError, match="a pipeline needs at least one step") as info:
            build_pipeline(name="p", steps=[], source=SOURCE)
        assert (info.value.step, info.value.field, info.value.location) == (None, "steps", SOURCE)


class TestNames:
    @pytest.mark.parametrize(
        "name", ["has space", "", "a/b", "-lead", ".hidden", "..", "tab\tname", "ü" * 3, "x" * 201]
    )
    def test_invalid_step_names(self, name: str) -> None:
        with pytest.raises(DefinitionError, match="invalid step name") as info:
            build_pipeline(name="p", steps=[_step(name, line=8)])
        error = info.value
        assert (error.step, error.field, error.location) == (name, "name", _at(8))
        assert error.hint is not None
        assert "letters, digits" in error.hint

    @pytest.mark.parametrize("name", ["a", "_a", "0", "a.b", "a-b", "A_1.2-3", "x" * 200])
    def test_valid_step_names(self, name: str) -> None:
        assert _names(build_pipeline(name="p", steps=[_step(name)]).steps) == [name]

    @pytest.mark.parametrize("name", ["my pipeline", "a/b", ""])
    def test_invalid_pipeline_name(self, name: str) -> None:
        with pytest.raises(DefinitionError, match="invalid pipeline name") as info:
            build_pipeline(name=name, steps=[_step("a")], source=SOURCE)
        assert (info.value.step, info.value.field, info.value.location) == (None, "name", SOURCE)

    @pytest.mark.parametrize("name", ["../escape", "a/b", "has space", ".."])
    def test_invalid_output_name(self, name: str) -> None:
        # Output names become folder names under the step's output root.
        with pytest.raises(DefinitionError, match="invalid output name") as info:
            build_pipeline(name="p", steps=[_step("a", (), (name,), line=14)])
        assert (info.value.step, info.value.field, info.value.location) == ("a", "outputs", _at(14))

    def test_invalid_parameter_name(self) -> None:
        with pytest.raises(DefinitionError, match="invalid parameter name 'learning rate'") as info:
            build_pipeline(
                name="p", steps=[_step("a")], parameters=[ParameterSpec("learning rate", 1)], source=SOURCE
            )
        assert (info.value.field, info.value.location) == ("name", SOURCE)

    def test_duplicate_parameter(self) -> None:
        with pytest.raises(DefinitionError, match="duplicate parameter 'lr'") as info:
            build_pipeline(
                name="p",
                steps=[_step("a")],
                parameters=[ParameterSpec("lr", 1), ParameterSpec("lr", 2)],
                source=SOURCE,
            )
        assert (info.value.field, info.value.location) == ("parameters", SOURCE)


class TestReferencesAndDatastores:
    def test_unknown_parameter_ref(self) -> None:
        step = _step("a", arguments=(Argument(("--lr=", Ref("parameter", "lr_"))),), line=6)
        with pytest.raises(DefinitionError, match="argument 0 refers to unknown parameter 'lr_'") as info:
            build_pipeline(name="p", steps=[step], parameters=[ParameterSpec("lr", 0.1)])
        error = info.value
        assert (error.step, error.field, error.location, error.hint) == (
            "a",
            "arguments[0]",
            _at(6),
            "did you mean 'lr'?",
        )

    def test_unknown_output_ref_lists_known_outputs(self) -> None:
        step = _step("a", (), ("model",), arguments=(Argument(("x",)), Argument((Ref("output", "zzz"),))))
        with pytest.raises(DefinitionError, match="argument 1 refers to unknown output 'zzz'") as info:
            build_pipeline(name="p", steps=[step])
        assert (info.value.field, info.value.hint) == ("arguments[1]", "known outputs: model")

    def test_input_ref_must_be_a_declared_input(self) -> None:
        step = _step("a", arguments=(Argument((Ref("input", "raw"),)),))
        with pytest.raises(DefinitionError, match="unknown input 'raw'") as info:
            build_pipeline(name="p", steps=[step], datasets=[_raw()])
        assert info.value.hint == "known inputs: none"

    def test_refs_to_known_names_pass(self) -> None:
        args = (Argument((Ref("input", "raw"), ":", Ref("output", "o"), ":", Ref("parameter", "lr"))),)
        step = _step("a", ("raw",), ("o",), arguments=args)
        spec = build_pipeline(name="p", steps=[step], parameters=[ParameterSpec("lr", 1)], datasets=[_raw()])
        assert str(spec.steps[0].arguments[0]) == "${{inputs.raw}}:${{outputs.o}}:${{parameters.lr}}"

    def test_dataset_on_unknown_datastore(self) -> None:
        ds = DatasetSpec("raw", "exmaples", ("a.csv",), location=_at(30))
        with pytest.raises(DefinitionError, match="dataset 'raw' uses unknown datastore 'exmaples'") as info:
            build_pipeline(
                name="p", steps=[_step("a", ("raw",))], datasets=[ds], datastores=[DatastoreSpec("examples")]
            )
        error = info.value
        assert (error.step, error.field, error.location, error.hint) == (
            None,
            "datastore",
            _at(30),
            "did you mean 'examples'?",
        )

    def test_output_on_unknown_datastore(self) -> None:
        step = StepSpec("a", "a.py", "/src", outputs=(OutputSpec("o", "scratch"),), location=_at(2))
        with pytest.raises(DefinitionError, match="output 'o' uses unknown datastore 'scratch'") as info:
            build_pipeline(name="p", steps=[step])
        assert (info.value.step, info.value.field, info.value.location, info.value.hint) == (
            "a",
            "outputs",
            _at(2),
            None,
        )

    def test_default_datastore_needs_no_declaration(self) -> None:
        spec = build_pipeline(name="p", steps=[_step("a", ("raw",), ("o",))], datasets=[_raw()])
        assert spec.steps[0].outputs == (OutputSpec("o", "workspaceblobstore"),)

    def test_dataset_with_two_paths(self) -> None:
        ds = DatasetSpec("raw", "workspaceblobstore", ("a.csv", "b.csv"), location=_at(11))
        with pytest.raises(DefinitionError, match="dataset 'raw' has 2 paths") as info:
            build_pipeline(name="p", steps=[_step("a", ("raw",))], datasets=[ds])
        assert (info.value.field, info.value.location) == ("path", _at(11))
