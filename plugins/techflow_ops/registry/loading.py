"""Read YAML into pydantic models, turning every failure into a ConfigError.

Shared by the registry, the on-call rotation and the escalation policy so that every
config file reports problems the same way: file, field path (with item ids rather than
list indexes where an item has one), offending value and, where known, the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, by field path."""


def _compose_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _compose_lines(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _compose_lines(item, path + (index,), lines)


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file; return the data and a map from field path to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(path, "<file>", str(path), "file not found") from None
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError.single(path, "<yaml>", getattr(exc, "problem", str(exc)), "not valid YAML", line) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _compose_lines(node, (), lines)
    return data, lines


def _readable_path(loc: tuple, data: Any) -> str:
    """`pipelines.2.owners.primary` -> `pipelines[profit].owners.primary` using the item's id."""
    parts: list[str] = []
    cursor = data
    for element in loc:
        if isinstance(element, int):
            item_id = None
            if isinstance(cursor, list) and 0 <= element < len(cursor) and isinstance(cursor[element], dict):
                item_id = cursor[element].get("id")
            parts.append(f"[{item_id}]" if item_id is not None else f"[{element}]")
            cursor = cursor[element] if isinstance(cursor, list) and 0 <= element < len(cursor) else None
        else:
            parts.append(("." if parts else "") + str(element))
            cursor = cursor.get(element) if isinstance(cursor, dict) else None
    return "".join(parts) or "<root>"


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def problems_from_validation(exc: ValidationError, file: Path, data: Any, lines: dict[tuple, int]) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(ConfigProblem(str(file), _readable_path(loc, data), err.get("input"), message, _line_for(loc, lines)))
    return problems


def load_model(path: Path, model: type[M], *, context: dict | None = None) -> tuple[M, dict[tuple, int]]:
    """Load `path` as `model`; raise ConfigError naming file, field and value on any problem."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context=context), lines
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, path, data, lines)) from None
