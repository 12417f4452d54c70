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


_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlLines:
    """Field path -> line number, computed only when a problem needs it.

    DAG files load the registry at parse time; composing the node tree for line numbers
    costs more than loading the data, and a valid config never needs them.
    """

    def __init__(self, text: str):
        self._text = text
        self._lines: dict[tuple, int] | None = None

    def _computed(self) -> dict[tuple, int]:
        if self._lines is None:
            self._lines = {}
            node = yaml.compose(self._text, Loader=_FastLoader)
            if node is not None:
                _compose_lines(node, (), self._lines)
        return self._lines

    def get(self, path: tuple, default: int | None = None) -> int | None:
        return self._computed().get(path, default)

    def __contains__(self, path: tuple) -> bool:
        return path in self._computed()

    def __getitem__(self, path: tuple) -> int:
        return self._computed()[path]


def read_yaml(path: Path) -> tuple[Any, YamlLines]:
    """Parse a YAML file; return the data and a (lazy) map from field path to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(path, "<file>", str(path), "file not found") from None
    try:
        data = yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError.single(path, "<yaml>", getattr(exc, "problem", str(exc)), "not valid YAML", line) from None
    return data, YamlLines(text)


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


def _line_for(loc: tuple, lines: YamlLines) -> int | None:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def problems_from_validation(exc: ValidationError, file: Path, data: Any, lines: YamlLines) -> list[ConfigProblem]:
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


def load_model(path: Path, model: type[M], *, context: dict | None = None) -> tuple[M, YamlLines]:
    """Load `path` as `model`; raise ConfigError naming file, field and value on any problem."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context=context), lines
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, path, data, lines)) from None
