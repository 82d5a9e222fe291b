"""Step order from data (producer -> consumers) plus run_after, and every graph error."""

from __future__ import annotations

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, SourceLocation
from airflow_mlpipelines.pipeline.model import DatasetSpec, OutputSpec, StepSpec
from airflow_mlpipelines.pipeline.validate import build_pipeline, step_upstream


def _step(name: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = (), **kw: object) -> StepSpec:
    return StepSpec(
        name=name,
        script_name=f"{name}.py",
        source_directory="/src",
        inputs=inputs,
        outputs=tuple(OutputSpec(o) for o in outputs),
        location=SourceLocation("def.yaml", 10),
        **kw,  # type: ignore[arg-type]
    )


class TestOrdering:
    def test_consumers_after_producers_whatever_the_declaration_order(self) -> None:
        spec = build_pipeline(
            name="p",
            steps=[_step("compare", ("m",)), _step("train", ("d",), ("m",)), _step("prep", (), ("d",))],
        )
        assert [s.name for s in spec.steps] == ["prep", "train", "compare"]
        assert step_upstream(spec) == {"compare": ("train",), "train": ("prep",), "prep": ()}

    def test_fan_out_and_fan_in(self) -> None:
        steps = [
            _step("prep", (), ("d",)),
            *(_step(f"t{i}", ("d",), (f"m{i}",)) for i in range(3)),
            _step("join", ("m0", "m1", "m2")),
        ]
        spec = build_pipeline(name="p", steps=steps)
        upstream = step_upstream(spec)
        assert upstream["join"] == ("t0", "t1", "t2")
        assert all(upstream[f"t{i}"] == ("prep",) for i in range(3))
        assert spec.steps[-1].name == "join"

    def test_run_after_orders_without_data(self) -> None:
        spec = build_pipeline(name="p", steps=[_step("b", run_after=("a",)), _step("a")])
        assert [s.name for s in spec.steps] == ["a", "b"]

    def test_datasets_are_not_steps(self) -> None:
        spec = build_pipeline(
            name="p",
            steps=[_step("s", ("raw",))],
            datasets=[DatasetSpec("raw", "workspaceblobstore", ("a.csv",))],
        )
        assert step_upstream(spec) == {"s": ()}


class TestErrors:
    def test_cycle_names_every_step(self) -> None:
        steps = [_step("a", ("z",), ("x",)), _step("b", ("x",), ("y",)), _step("c", ("y",), ("z",))]
        with pytest.raises(DefinitionError, match="steps form a cycle") as info:
            build_pipeline(name="p", steps=steps)
        cycle = info.value.reason.split(": ")[1].split(" -> ")
        assert set(cycle) == {"a", "b", "c"}
        assert cycle[0] == cycle[-1]
        assert info.value.location == SourceLocation("def.yaml", 10)

    def test_dangling_input_with_did_you_mean(self) -> None:
        with pytest.raises(DefinitionError, match="input 'modle' is not produced by any step") as info:
            build_pipeline(name="p", steps=[_step("a", (), ("model",)), _step("b", ("modle",))])
        assert (info.value.step, info.value.field, info.value.hint) == (
            "b",
            "inputs",
            "did you mean 'model'?",
        )

    def test_two_producers(self) -> None:
        with pytest.raises(DefinitionError, match="produced by two steps: 'a' and 'b'") as info:
            build_pipeline(name="p", steps=[_step("a", (), ("d",)), _step("b", (), ("d",))])
        assert info.value.field == "outputs"

    def test_duplicate_step_names(self) -> None:
        with pytest.raises(DefinitionError, match="duplicate step name 'a'"):
            build_pipeline(name="p", steps=[_step("a"), _step("a")])

    def test_unknown_run_after(self) -> None:
        with pytest.raises(DefinitionError, match="run_after names unknown step 'prepp'") as info:
            build_pipeline(name="p", steps=[_step("prep"), _step("b", run_after=("prepp",))])
        assert info.value.hint == "did you mean 'prep'?"

    def test_step_consuming_its_own_output(self) -> None:
        with pytest.raises(DefinitionError, match="consumes its own output 'd'"):
            build_pipeline(name="p", steps=[_step("a", ("d",), ("d",))])

    def test_output_named_like_a_dataset(self) -> None:
        with pytest.raises(DefinitionError, match="same name as a dataset"):
            build_pipeline(
                name="p",
                steps=[_step("a", (), ("raw",))],
                datasets=[DatasetSpec("raw", "workspaceblobstore", ("a.csv",))],
            )

    @pytest.mark.parametrize("name", ["has space", "", "a/b", "-lead"])
    def test_invalid_names(self, name: str) -> None:
        with pytest.raises(DefinitionError, match="invalid step name"):
            build_pipeline(name="p", steps=[_step(name)])

    def test_empty_pipeline(self) -> None:
        with pytest.raises(DefinitionError, match="at least one step"):
            build_pipeline(name="p", steps=[])
