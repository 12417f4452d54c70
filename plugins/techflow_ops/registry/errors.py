"""Configuration errors that name the file, the field path and the offending value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    field: str
    value: Any
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field} = {self.value!r}: {self.message}"


class ConfigError(ValueError):
    """One or more problems in a configuration folder; nothing of it is used."""

    def __init__(self, problems: list[ConfigProblem]):
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid TechFlow Ops configuration ({len(self.problems)} problem(s)):\n{lines}")

    @classmethod
    def single(cls, file: str | Path, field: str, value: Any, message: str, line: int | None = None) -> "ConfigError":
        return cls([ConfigProblem(str(file), field, value, message, line)])
