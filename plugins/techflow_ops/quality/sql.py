"""The few SQL expressions that differ between SQLite (the default warehouse) and PostgreSQL.

Suite queries are written once with these helpers (`{sql.hours_between(a, b)}`) and
rendered for the warehouse's dialect.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" or "postgresql"

    @classmethod
    def from_url(cls, url: str) -> "Dialect":
        scheme = url.split(":", 1)[0].split("+", 1)[0]
        if scheme == "sqlite":
            return cls("sqlite")
        if scheme in ("postgresql", "postgres"):
            return cls("postgresql")
        raise ValueError(f"warehouse URL {url!r}: quality checks support sqlite and postgresql, not {scheme!r}")

    def hours_between(self, later: str, earlier: str) -> str:
        if self.name == "sqlite":
            return f"((julianday({later}) - julianday({earlier})) * 24.0)"
        return f"(EXTRACT(EPOCH FROM (({later}) - ({earlier}))) / 3600.0)"

    def seconds_between(self, later: str, earlier: str) -> str:
        if self.name == "sqlite":
            return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
        return f"EXTRACT(EPOCH FROM (CAST({later} AS TIMESTAMP) - CAST({earlier} AS TIMESTAMP)))"

    def days_between(self, later: str, earlier: str) -> str:
        """Whole days from one date to another (dates, not timestamps)."""
        if self.name == "sqlite":
            return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
        return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"

    def hour_of(self, column: str) -> str:
        if self.name == "sqlite":
            return f"CAST(strftime('%H', {column}) AS INTEGER)"
        return f"CAST(EXTRACT(HOUR FROM {column}) AS INTEGER)"

    def month_of(self, column: str) -> str:
        if self.name == "sqlite":
            return f"strftime('%Y-%m', {column})"
        return f"to_char({column}, 'YYYY-MM')"

    def not_finite(self, column: str) -> str:
        """True for NULL, NaN and +/- infinity (a divide-by-zero that slipped through)."""
        if self.name == "sqlite":
            # SQLite stores NaN as NULL; infinities compare beyond the largest double.
            return f"({column} IS NULL OR {column} != {column} OR abs({column}) > 1.7976931348623157e308)"
        return f"({column} IS NULL OR {column} IN ('NaN'::float, 'Infinity'::float, '-Infinity'::float))"

    def literal(self, value) -> str:
        return "'" + str(value).replace("'", "''") + "'"
