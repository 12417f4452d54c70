"""People, teams, pipelines and SLAs: one source of truth, loaded and validated together."""

from .durations import format_duration, parse_duration
from .errors import ConfigError, ConfigProblem
from .loading import load_model, read_yaml
from .models import ContactMethod, Criticality, Limits, Output, Owners, Person, Pipeline, Team
from .registry import Registry, clear_registry_cache, get_registry, load_registry

__all__ = [
    "ConfigError", "ConfigProblem", "ContactMethod", "Criticality", "Limits", "Output", "Owners", "Person", "Pipeline",
    "Registry", "Team", "clear_registry_cache", "format_duration", "get_registry", "load_model", "load_registry",
    "parse_duration", "read_yaml",
]
