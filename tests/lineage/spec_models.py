"""The OpenLineage spec as openlineage-python ships it: its generated models.

The wheel carries no JSON Schema files; `openlineage.client.generated` holds one attrs class
per spec type, generated from the spec's schemas, each naming its schema by `_get_schema()`.
`problems(document, cls)` builds the model from a JSON document the way the spec reads it:
every required property present, every value of the declared type (nested objects, lists,
maps, enums), the models' own validators run (run ids are UUIDs, event times ISO 8601), and
each facet checked against the model its `_schemaURL` names. Properties the spec does not
declare are allowed, as its schemas allow them.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import sys
import types
import typing
from functools import cache

import attr
import openlineage.client.generated as generated
from openlineage.client.generated.base import BaseFacet


@cache
def models_by_schema() -> dict[str, type]:
    """Every generated facet and event model by the schema URL it names."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and attr.has(value) and value.__module__ == module.__name__:
                schema = getattr(value, "_get_schema", None)
                if schema is not None:
                    found.setdefault(schema(), value)
    return found


@cache
def _hints(cls: type) -> dict[str, object]:
    """Each attrs field's declared type (the models postpone annotations; ClassVars are not fields)."""
    hints = {}
    for field in attr.fields(cls):
        module = vars(sys.modules[_declaring_module(cls, field.name)])
        try:
            hints[field.name] = eval(field.type, module) if isinstance(field.type, str) else field.type
        except NameError:
            hints[field.name] = typing.Any
    return hints


def _declaring_module(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            return klass.__module__
    return cls.__module__


def problems(value, expected, path: str = "$") -> list[str]:
    """What keeps `value` from being a valid `expected` (a model class or a type hint)."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return []
        attempts = [problems(value, option, path) for option in options if option is not type(None)]
        return [] if any(not a for a in attempts) else min(attempts, key=len)
    if expected is typing.Any:
        return []
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {value!r}"]
        (item,) = typing.get_args(expected)
        return [p for index, element in enumerate(value) for p in problems(element, item, f"{path}[{index}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        _, item = typing.get_args(expected)
        return [p for key, element in value.items() for p in problems(element, item, f"{path}.{key}")]
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        allowed = [member.value for member in expected]
        return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
    if isinstance(expected, type) and attr.has(expected):
        return _model_problems(value, expected, path)
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, type):
        ok = isinstance(value, expected)
    else:
        ok = True
    return [] if ok else [f"{path}: expected {getattr(expected, '__name__', expected)}, got {value!r}"]


def _model_problems(value, cls: type, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({cls.__name__}), got {value!r}"]
    if issubclass(cls, BaseFacet) and "_schemaURL" in value:
        named = models_by_schema().get(value["_schemaURL"])
        if named is None:
            return []  # a custom facet: the spec only asks for _producer and _schemaURL (checked by our schemas)
        cls = named
    found, arguments = [], {}
    hints = _hints(cls)
    for field in attr.fields(cls):
        if field.name not in value:
            if field.default is attr.NOTHING and field.init:
                found.append(f"{path}: required property {field.name!r} missing ({cls.__name__})")
            continue
        found += problems(value[field.name], hints.get(field.name, typing.Any), f"{path}.{field.name}")
        if field.init and not found and not (isinstance(value[field.name], (dict, list))):
            arguments[field.alias or field.name] = value[field.name]
    if not found:
        try:  # the model's own validators (uuid run ids, ISO event times, ...), on its plain fields
            for field in attr.fields(cls):
                if field.validator is not None and (field.alias or field.name) in arguments:
                    field.validator(None, field, arguments[field.alias or field.name])
        except (ValueError, TypeError) as exc:
            found.append(f"{path}: {exc} ({cls.__name__})")
    return found
