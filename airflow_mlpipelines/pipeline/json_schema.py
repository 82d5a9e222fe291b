"""The JSON Schema of the YAML definition format, generated from the pydantic models the loader uses.

Editors (the YAML language server in VS Code and JetBrains IDEs) validate and complete definitions with
it; ``mlpipelines schema`` writes it, and a copy ships in the package (``airflow_mlpipelines/schema/``).
It expresses what one file's shape can say (keys, types, enums, ranges); the cross-field rules
(references, datastores, compute targets) are the loader's.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import AliasChoices, BaseModel

from airflow_mlpipelines.pipeline.yaml_schema import PipelineModel

SCHEMA_ID = "https://airflow-mlpipelines.dev/schema/pipeline.schema.json"
SHIPPED = "schema/pipeline.schema.json"
"""The copy in the package, relative to ``airflow_mlpipelines/``."""


def _models() -> dict[str, type[BaseModel]]:
    """Every model of the format by class name (the schema's ``$defs`` keys)."""
    from airflow_mlpipelines.pipeline import yaml_compute, yaml_schema

    found: dict[str, type[BaseModel]] = {}
    for module in (yaml_schema, yaml_compute):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                found[value.__name__] = value
    return found


def _aliases(definition: dict[str, Any], model: type[BaseModel]) -> None:
    """A key with alternative names (``script`` / ``script_name``) accepts each of them, exactly one."""
    properties = definition.get("properties", {})
    required: list[str] = definition.get("required", [])
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        if not isinstance(alias, AliasChoices):
            continue
        choices = [str(c) for c in alias.choices]
        shown = next((c for c in choices if c in properties), name)
        for choice in choices:
            properties.setdefault(choice, properties[shown])
        if shown in required:
            required.remove(shown)
            definition.setdefault("allOf", []).append({"oneOf": [{"required": [c]} for c in choices]})
    if "required" in definition and not required:
        definition.pop("required")


def pipeline_schema() -> dict[str, Any]:
    """The schema (draft 2020-12) of a YAML pipeline definition."""
    schema: dict[str, Any] = PipelineModel.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    models = _models()
    for name, definition in defs.items():
        if name in models:
            _aliases(definition, models[name])
    _aliases(schema, PipelineModel)
    # A step without ``type`` is a PythonScriptStep; with a type it is that kind's model only.
    step = defs.get("StepModel", {}).get("properties", {}).get("type")
    if step is not None:
        step.pop("enum", None)
        step["const"] = "python_script"
    steps = schema["properties"]["steps"]["items"]
    if "oneOf" in steps:
        steps["anyOf"] = steps.pop("oneOf")
        steps.pop("discriminator", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "airflow-mlpipelines pipeline definition"
    return schema


def schema_text() -> str:
    """The schema as the shipped file holds it (sorted keys, 2-space indent, final newline)."""
    return json.dumps(pipeline_schema(), indent=2, sort_keys=True) + "\n"
