"""Step dependencies implied by data (producer output -> consumer input) plus explicit ``run_after``."""

from __future__ import annotations

import graphlib
from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import DefinitionError, Problems, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.pipeline.model import StepSpec


def producers_of(steps: Sequence[StepSpec]) -> dict[str, str]:
    """Map output name -> producing step; two producers of one output is a definition error."""
    producers: dict[str, str] = {}
    problems = Problems()
    for step in steps:
        for out in step.outputs:
            other = producers.get(out.name)
            if other is not None and other != step.name:
                problems.found.append(
                    DefinitionError(
                        f"output '{out.name}' is produced by two steps: '{other}' and '{step.name}'",
                        location=step.location,
                        step=step.name,
                        field="outputs",
                        hint="give each PipelineData a unique name; a step consumes outputs, never re-makes "
                        "them",
                    )
                )
                continue
            producers[out.name] = step.name
    problems.raise_if_any()
    return producers


def upstream_map(steps: Sequence[StepSpec], dataset_names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Return, for every step, the steps it must wait for (deduplicated, in declaration order).

    Raises a :class:`DefinitionError` for an input nobody produces, an unknown ``run_after`` step,
    or a step that consumes its own output (all of them). An Execute Python Script step's port inputs are
    left to :func:`~airflow_mlpipelines.pipeline.eps.check_ports`, which names the port.
    """
    names = [s.name for s in steps]
    problems = Problems()
    producers: dict[str, str] = {}
    with problems.each():
        producers = producers_of(steps)
    upstream: dict[str, tuple[str, ...]] = {}
    for step in steps:
        deps: list[str] = []
        ports = set(step.eps.ports.values()) if step.eps is not None else set()
        for inp in step.inputs:
            producer = producers.get(inp)
            if producer is None or producer == step.name:
                if inp not in dataset_names and inp not in ports:
                    with problems.each():
                        _bad_input(step, inp, producer, [*producers, *dataset_names])
                continue
            deps.append(producer)
        for after in step.run_after:
            if after not in names:
                problems.found.append(
                    DefinitionError(
                        f"run_after names unknown step '{after}'",
                        location=step.location,
                        step=step.name,
                        field="run_after",
                        hint=did_you_mean(after, names),
                    )
                )
                continue
            deps.append(after)
        upstream[step.name] = tuple(dict.fromkeys(deps))
    problems.raise_if_any()
    return upstream


def _bad_input(step: StepSpec, inp: str, producer: str | None, known: list[str]) -> None:
    if producer is None:
        raise DefinitionError(
            f"input '{inp}' is not produced by any step and is not a dataset",
            location=step.location,
            step=step.name,
            field="inputs",
            hint=did_you_mean(inp, known) or "declare it as another step's output or as a dataset",
        )
    raise DefinitionError(
        f"step consumes its own output '{inp}'", location=step.location, step=step.name, field="inputs"
    )


def topological_order(steps: Sequence[StepSpec], upstream: dict[str, tuple[str, ...]]) -> list[StepSpec]:
    """Order steps so every producer comes before its consumers; a cycle names every step in it."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for step in steps:
        sorter.add(step.name, *upstream[step.name])
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle: list[str] = list(exc.args[1])
        by_name = {s.name: s for s in steps}
        first = by_name[cycle[0]]
        raise DefinitionError(
            "steps form a cycle: " + " -> ".join(cycle),
            location=first.location,
            step=first.name,
            field="inputs",
            hint="a step cannot (indirectly) consume data produced after it; remove one edge of the cycle",
        ) from None
    position = {name: i for i, name in enumerate(order)}
    return sorted(steps, key=lambda s: position[s.name])
