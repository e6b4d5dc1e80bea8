"""A PipelineJob's ``runtimeConfig`` from a compiled template and PIPELINE_PARAMETERS / PIPELINE_ROOT. Pure.

Called by ``spec`` for a template it has read. It follows the Vertex SDK's ``PipelineRuntimeConfigBuilder``
(``google/cloud/aiplatform/utils/pipeline_utils.py``) and ``PipelineJob.__init__``:

- the schema version decides the field: ``pipelineSpec.schemaVersion`` <= 2.0.0 (KFP <= 1.8, the older
  ``{"pipelineSpec", "runtimeConfig"}`` JSON) takes ``parameters`` as typed Values (``intValue``/``doubleValue``/
  ``stringValue`` by the declared ``type`` INT/DOUBLE/STRING; dict, list and bool values are sent JSON-encoded as
  the SDK does); newer schemas take plain JSON ``parameterValues``;
- the template's own ``runtimeConfig`` parameter values are defaults that PIPELINE_PARAMETERS override; a newer
  schema's ``inputDefinitions`` ``defaultValue`` is applied by Vertex itself, so such a parameter may be left out;
- ``gcsOutputDirectory`` (required by the API) is PIPELINE_ROOT, else the spec's ``defaultPipelineRoot``, else the
  template's ``runtimeConfig.gcsOutputDirectory``.

Anything the SDK or Vertex would refuse (an unknown, missing or mistyped parameter; no root) is one ConfigError
naming the variable and the parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from vertex_launcher.errors import ConfigError

PARAMETERS = "VERTEX_LAUNCHER_PIPELINE_PARAMETERS"
TEMPLATE = "VERTEX_LAUNCHER_PIPELINE_TEMPLATE"
#: The last schema version whose runtime config takes typed ``parameters`` (the SDK's cut-off).
LAST_TYPED_SCHEMA = (2, 0, 0)
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_OLD_VALUE_FIELD = {"INT": "intValue", "DOUBLE": "doubleValue", "STRING": "stringValue"}


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: KFP v2 IR parameter types → (accepts this JSON value?, what it takes). As the KFP driver checks a run's inputs:
#: a STRING parameter takes any value (a non-string arrives as its JSON text); the others only their own kind.
_NEW_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "STRING": (lambda v: True, "any value"),
    "NUMBER_INTEGER": (_is_number, "a number"),
    "NUMBER_DOUBLE": (_is_number, "a number"),
    "BOOLEAN": (lambda v: isinstance(v, bool), "true or false"),
    "LIST": (lambda v: isinstance(v, list), "a JSON list"),
    "STRUCT": (lambda v: isinstance(v, dict), "a JSON object"),
}


def _schema_version(spec: Mapping[str, Any]) -> tuple[int, ...]:
    """``pipelineSpec.schemaVersion`` as a comparable tuple; ConfigError if it is missing or malformed."""
    raw = spec.get("schemaVersion")
    if not isinstance(raw, str) or not _VERSION.match(raw):
        msg = f"{TEMPLATE}: the pipeline spec has no valid schemaVersion (got {raw!r}); recompile it with kfp"
        raise ConfigError(msg)
    return tuple(int(part) for part in raw.split("."))


def build_runtime_config(
    spec: Mapping[str, Any],
    template_runtime: Mapping[str, Any],
    parameters: Mapping[str, Any],
    *,
    pipeline_root: str | None,
) -> dict[str, Any]:
    """The REST JSON ``runtimeConfig`` of the create request."""
    typed = _schema_version(spec) <= LAST_TYPED_SCHEMA
    declared = _declared(spec)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        msg = (
            f"{PARAMETERS}: unknown parameter(s) {', '.join(unknown)} "
            f"(the pipeline takes: {', '.join(sorted(declared)) or 'none'})"
        )
        raise ConfigError(msg)
    defaults = _template_defaults(template_runtime)
    stray = sorted(set(defaults) - set(declared))
    if stray:
        msg = f"{TEMPLATE}: its runtimeConfig has values for undeclared parameter(s) {', '.join(stray)}"
        raise ConfigError(msg)
    values = {**defaults, **_encode_for_schema(parameters, typed=typed)}
    values = {name: value for name, value in values.items() if value is not None}  # the SDK drops None
    missing = sorted(name for name, definition in declared.items() if name not in values and _required(definition))
    if missing:
        msg = f"{PARAMETERS}: missing required parameter(s) {', '.join(missing)}"
        raise ConfigError(msg)
    root = pipeline_root or spec.get("defaultPipelineRoot") or template_runtime.get("gcsOutputDirectory")
    if not root:
        msg = (
            "VERTEX_LAUNCHER_PIPELINE_ROOT: required, because the template has no defaultPipelineRoot "
            "(compile it with pipeline_root=..., or set VERTEX_LAUNCHER_PIPELINE_ROOT=gs://...)"
        )
        raise ConfigError(msg)
    runtime: dict[str, Any] = {"gcsOutputDirectory": root}
    if typed:
        runtime["parameters"] = {
            name: _typed_value(name, value, _type(declared[name])) for name, value in values.items()
        }
    else:
        for name, value in values.items():
            _check_new_type(name, value, _type(declared[name]))
        runtime["parameterValues"] = values
    if template_runtime.get("failurePolicy"):
        runtime["failurePolicy"] = template_runtime["failurePolicy"]
    return runtime


def _declared(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    root = spec.get("root")
    inputs = root.get("inputDefinitions", {}) if isinstance(root, Mapping) else {}
    declared = inputs.get("parameters", {}) if isinstance(inputs, Mapping) else {}
    return (
        {str(k): v if isinstance(v, Mapping) else {} for k, v in declared.items()}
        if isinstance(declared, Mapping)
        else {}
    )


def _type(definition: Mapping[str, Any]) -> str:
    """The declared type; 'type' is the older IR's name of 'parameterType' (the SDK reads either)."""
    return str(definition.get("parameterType") or definition.get("type") or "")


def _required(definition: Mapping[str, Any]) -> bool:
    return not definition.get("isOptional") and "defaultValue" not in definition


def _template_defaults(template_runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The template's own runtimeConfig values as plain values (the SDK's ``_parse_runtime_parameters``)."""
    plain = template_runtime.get("parameterValues")
    if isinstance(plain, Mapping):
        return dict(plain)
    typed = template_runtime.get("parameters")
    if not isinstance(typed, Mapping):
        return {}
    values: dict[str, Any] = {}
    for name, value in typed.items():
        if isinstance(value, Mapping) and "intValue" in value:
            values[name] = int(value["intValue"])
        elif isinstance(value, Mapping) and "doubleValue" in value:
            values[name] = float(value["doubleValue"])
        elif isinstance(value, Mapping) and "stringValue" in value:
            values[name] = value["stringValue"]
        else:
            msg = f"{TEMPLATE}: runtimeConfig.parameters.{name} is not an intValue, doubleValue or stringValue"
            raise ConfigError(msg)
    return values


def _encode_for_schema(parameters: Mapping[str, Any], *, typed: bool) -> dict[str, Any]:
    """Old schemas carry only int, double and string: the SDK JSON-encodes dict, list and bool values."""
    if not typed:
        return dict(parameters)
    return {k: json.dumps(v) if isinstance(v, dict | list | bool) else v for k, v in parameters.items()}


def _typed_value(name: str, value: Any, declared: str) -> dict[str, Any]:
    """A ``google.cloud.aiplatform.v1.Value`` in REST JSON, or ConfigError where the SDK's request would fail."""
    field = _OLD_VALUE_FIELD.get(declared)
    if field is None:
        msg = (
            f"{TEMPLATE}: parameter {name} is declared {declared or 'without a type'}; "
            "a schema 2.0.0 template takes INT, DOUBLE or STRING"
        )
        raise ConfigError(msg)
    if declared == "INT" and _is_integer(value):
        return {field: int(value)}
    if declared == "INT" and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return {field: int(value)}
    if declared == "DOUBLE" and _is_number(value):
        return {field: float(value)}
    if declared == "DOUBLE" and isinstance(value, str) and _parses_as_float(value):
        return {field: float(value)}
    if declared == "STRING" and isinstance(value, str):
        return {field: value}
    wanted = {"INT": "an integer", "DOUBLE": "a number", "STRING": "a string"}[declared]
    msg = f"{PARAMETERS}: parameter {name} must be {wanted} (it is declared {declared}), got {value!r}"
    raise ConfigError(msg)


def _check_new_type(name: str, value: Any, declared: str) -> None:
    """Vertex accepts a mistyped value and the run then fails (the KFP driver's check): refuse it before that."""
    check = _NEW_TYPES.get(declared)
    if check is not None and not check[0](value):
        msg = (
            f"{PARAMETERS}: parameter {name} must be {check[1]} (it is declared {declared}), got {value!r}; "
            "Vertex would accept the job and fail it when the run starts"
        )
        raise ConfigError(msg)


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
