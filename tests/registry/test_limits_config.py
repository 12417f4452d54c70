"""The `limits` block of a pipeline: the brief's health targets by default, and every bad value
named by file, field and value like any other config problem."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.registry.test_config_errors import assert_problem, edit, load_problem, pipeline

from techflow_ops.registry import Limits, load_registry


def test_defaults_are_the_brief_s_health_targets(config_copy):
    registry = load_registry(config_copy, project_root=config_copy.parent)
    limits = registry.pipelines["profit"].limits
    assert limits == Limits()
    assert (limits.run, limits.task, limits.spark_job, limits.query) == (
        timedelta(hours=2), timedelta(hours=1), timedelta(hours=1), timedelta(seconds=30))
    assert (limits.retries, limits.retry_delay, limits.max_retry_delay) == (2, timedelta(minutes=1), timedelta(minutes=10))
    assert registry.pipelines["executive_investor"].task_limit("transform") == timedelta(hours=1)
    assert registry.pipelines["profit"].task_limit("ingest") == timedelta(hours=1)


def test_a_pipeline_may_set_some_limits_and_keep_the_other_defaults(config_copy):
    edit(config_copy, "pipelines.yaml", lambda d: pipeline(d, "growth").update(limits={"task": "20m", "retries": 0}))
    limits = load_registry(config_copy, project_root=config_copy.parent).pipelines["growth"].limits
    assert limits.task == timedelta(minutes=20) and limits.retries == 0 and limits.run == timedelta(hours=2)


BAD_LIMITS = [
    pytest.param({"task": "3h"}, "task", "3h", "longer than the run limit", id="task-longer-than-run"),
    pytest.param({"run": "30m"}, "task", None, "longer than the run limit", id="run-shorter-than-default-task"),
    pytest.param({"spark_job": "2h30m"}, "spark_job", "2h30m", "longer than the run limit", id="spark-longer-than-run"),
    pytest.param({"run": "0s"}, "run", "0s", "duration must be positive", id="zero-run"),
    pytest.param({"task": "-5m"}, "task", "-5m", "unparsable duration", id="negative-task"),
    pytest.param({"query": 30}, "query", 30, "no unit", id="query-without-unit"),
    pytest.param({"query": "2h"}, "query", "2h", "longer than the task limit", id="query-longer-than-task"),
    pytest.param({"retries": -1}, "retries", -1, "greater than or equal to 0", id="negative-retries"),
    pytest.param({"retries": "2"}, "retries", "2", "valid integer", id="retries-as-text"),
    pytest.param({"retry_delay": "5m", "max_retry_delay": "1m"}, "max_retry_delay", "1m", "shorter than retry_delay",
                 id="max-delay-below-first"),
    pytest.param({"timeout": "1h"}, "timeout", "1h", "unknown key", id="typo"),
]


@pytest.mark.parametrize(("limits", "field", "value", "message_part"), BAD_LIMITS)
def test_bad_limits_name_file_field_and_value(config_copy, limits, field, value, message_part):
    edit(config_copy, "pipelines.yaml", lambda d: pipeline(d, "profit").update(limits=limits))
    error = load_problem(config_copy)
    path = f"pipelines[profit].limits.{field}"
    if value is None:  # the problem is in a default the run limit now undercuts: the default is named
        [problem] = [p for p in error.problems if p.field == path]
        assert message_part in problem.message and problem.file.endswith("pipelines.yaml")
    else:
        assert_problem(error, "pipelines.yaml", path, value, message_part)
