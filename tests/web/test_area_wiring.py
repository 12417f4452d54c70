"""Sections built from other areas: all available with the shipped project, and a broken
area is logged with its exception rather than quietly shown as "not available"."""

from __future__ import annotations

import logging
import sys
import types
from uuid import uuid4

import pytest

from techflow_ops.web import views

from .conftest import bearer, open_incident

VIEWS_LOGGER = "techflow_ops.web.views"


def unavailable_sections(value, where: str = "$") -> list[str]:
    """JSON paths of every `{"available": false, ...}` marker inside `value`."""
    found = []
    if isinstance(value, dict):
        if value.get("available") is False:
            found.append(f"{where}: {value.get('detail')}")
        for key, item in value.items():
            found += unavailable_sections(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += unavailable_sections(item, f"{where}[{index}]")
    return found


def test_every_section_is_available_with_the_shipped_project(api_client, tokens):
    headers = bearer(tokens["viewer"])
    incident_id = open_incident("wiring check: load failed")
    endpoints = ["oncall/now", "calendar", "fairness", "ownership", "incidents", f"incidents/{incident_id}", "dags/profit"]
    for endpoint in endpoints:
        response = api_client.get(f"/techflow/api/{endpoint}", headers=headers)
        assert response.status_code == 200, (endpoint, response.text[:300])
        assert unavailable_sections(response.json()) == [], endpoint
    ownership = api_client.get("/techflow/api/ownership", headers=headers).json()
    assert ownership["data_quality_available"] is True, ownership["data_quality_detail"]
    pages = ["oncall", "calendar", "fairness", "ownership", "incidents", f"incidents/{incident_id}", "dags/profit"]
    for page in pages:
        response = api_client.get(f"/techflow/{page}", headers=headers)
        assert response.status_code == 200, page
        assert 'data-testid="unavailable"' not in response.text, page


@pytest.fixture
def probe_area(tmp_path, monkeypatch):
    """A throwaway importable package standing in for another area, with broken modules."""
    name = f"probe_area_{uuid4().hex[:8]}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("def present():\n    return 1\n")
    (package / "broken_import.py").write_text("from .gone import helper\n")
    (package / "raises.py").write_text("raise RuntimeError('settings missing at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def _errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == VIEWS_LOGGER and r.levelno >= logging.ERROR]


def test_an_area_left_out_of_the_deployment_degrades_quietly(probe_area, caplog):
    with caplog.at_level(logging.INFO, logger=VIEWS_LOGGER), pytest.raises(views.AreaUnavailable) as raised:
        views.area(f"{probe_area}_absent.results", "latest_results")
    assert raised.value.as_json() == {
        "available": False, "area": f"{probe_area}_absent.results", "broken": False,
        "detail": f"module {probe_area}_absent is not installed",
    }
    assert _errors(caplog) == []


@pytest.mark.parametrize(
    ("module", "needed", "exception", "names"),
    [
        ("{p}.broken_import", (), ModuleNotFoundError, "{p}.gone"),
        ("{p}.renamed", (), ModuleNotFoundError, "{p}.renamed"),
        ("{p}.raises", (), RuntimeError, "settings missing at import"),
        ("{p}", ("present", "renamed_function"), None, "renamed_function"),
    ],
    ids=["import-inside-fails", "module-renamed", "raises-at-import", "function-renamed"],
)
def test_a_broken_area_is_logged_with_its_exception(probe_area, caplog, module, needed, exception, names):
    module, names = module.format(p=probe_area), names.format(p=probe_area)
    with caplog.at_level(logging.INFO, logger=VIEWS_LOGGER), pytest.raises(views.AreaUnavailable) as raised:
        views.area(module, *needed)
    marker = raised.value.as_json()
    assert marker["broken"] is True and names in marker["detail"]
    [error] = _errors(caplog)
    if exception is None:
        assert names in error.getMessage()
    else:
        assert isinstance(error.exc_info[1], exception) and names in str(error.exc_info[1])
        assert error.exc_info[2] is not None, "the traceback is logged"


def test_a_renamed_function_leaves_the_page_up_and_logs_an_error(api_client, tokens, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "techflow_ops.quality.results", types.ModuleType("techflow_ops.quality.results"))
    with caplog.at_level(logging.INFO, logger=VIEWS_LOGGER):
        response = api_client.get("/techflow/ownership", headers=bearer(tokens["viewer"]))
    assert response.status_code == 200
    assert "Data-quality results are not available: techflow_ops.quality.results does not provide latest_results" in response.text
    assert any("latest_results" in r.getMessage() for r in _errors(caplog))
