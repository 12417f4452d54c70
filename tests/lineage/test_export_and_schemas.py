"""`techflow-ops ownership export` formats, the facet schemas (shipped, served, documented,
not vacuous) and the declared aggregate inputs against the transforms' code."""

from __future__ import annotations

import ast
import inspect
import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from techflow_ops.lineage import export, ownership
from techflow_ops.lineage.datasets import AGGREGATE_INPUTS, WarehouseNames
from techflow_ops.lineage.facets import SCHEMAS_DIR, schema
from techflow_ops.registry import get_registry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)  # the rotation starts 2026-11-23
NAMES = WarehouseNames("postgresql+psycopg2://techflow:secret@db.internal:5433/techflow_warehouse")


def test_postgres_and_sqlite_datasets_are_named_as_the_spec_says(tmp_path):
    assert NAMES.table("profit_monthly").namespace == "postgres://db.internal:5433"
    assert NAMES.table("profit_monthly").name == "techflow_warehouse.public.profit_monthly"
    sqlite = WarehouseNames(f"sqlite:///{tmp_path / 'warehouse.db'}").table("stg_revenue")
    assert (sqlite.namespace, sqlite.name) == (f"sqlite://{tmp_path / 'warehouse.db'}", "warehouse.stg_revenue")


def test_json_export_has_every_pipeline_with_typed_owners_and_datasets():
    document = export.export("json", get_registry(), NAMES, AT)
    registry = get_registry()
    assert [p["id"] for p in document["pipelines"]] == list(registry.pipelines)
    oncall = ownership.oncall_primary(AT)
    for entry in document["pipelines"]:
        pipeline = registry.pipeline(entry["id"])
        assert [(o["name"], o["type"]) for o in entry["owners"]] == [
            (f"user:{pipeline.owners.primary}", "PRIMARY_OWNER"), (f"user:{pipeline.owners.secondary}", "SECONDARY_OWNER"),
            (f"team:{pipeline.business_owner_team}", "BUSINESS_OWNER"), (f"user:{oncall}", "ONCALL")]
        tables = [d["table"] for d in entry["datasets"]]
        assert tables == [f"stg_{s}" for s in pipeline.sources] + [o.table for o in pipeline.outputs]
        assert entry["operations"]["runbook"]["url"].endswith(f"/techflow/runbooks/{pipeline.id}")
    jsonschema.validate({"techflowOperations": {**document["pipelines"][0]["operations"], "_producer": "x",
                                                "_schemaURL": "https://x"}},
                        {**schema("TechflowOperationsJobFacet"), "$defs": {
                            **schema("TechflowOperationsJobFacet")["$defs"],
                            "TechflowOperationsJobFacet": schema("TechflowOperationsJobFacet")["$defs"]["TechflowOperationsJobFacet"]["allOf"][1]}})


def test_datahub_export_is_mcps_with_custom_ownership_types_that_exist():
    mcps = export.export("datahub", get_registry(), NAMES, AT)
    assert all(set(m) == {"entityType", "entityUrn", "changeType", "aspectName", "aspect"} for m in mcps)
    assert all(m["changeType"] == "UPSERT" and set(m["aspect"]) == {"json"} for m in mcps)
    declared = {m["entityUrn"] for m in mcps if m["aspectName"] == "ownershipTypeInfo"}
    assert len(declared) == 4
    ownerships = [m for m in mcps if m["aspectName"] == "ownership"]
    used = {o["typeUrn"] for m in ownerships for o in m["aspect"]["json"]["owners"]}
    assert used == declared, "every ownership type an owner uses is declared in the same file"
    flows = {m["entityUrn"]: m for m in ownerships if m["entityType"] == "dataFlow"}
    profit = flows["urn:li:dataFlow:(airflow,profit,PROD)"]["aspect"]["json"]["owners"]
    assert profit[0] == {"owner": "urn:li:corpuser:priya", "type": "CUSTOM",
                         "typeUrn": "urn:li:ownershipType:techflow_primary_owner"}
    assert profit[2]["owner"] == "urn:li:corpGroup:finance"
    datasets = {m["entityUrn"] for m in ownerships if m["entityType"] == "dataset"}
    assert "urn:li:dataset:(urn:li:dataPlatform:postgres,techflow_warehouse.public.investor_monthly,PROD)" in datasets
    memory = next(m for m in mcps if m["aspectName"] == "institutionalMemory" and "profit" in m["entityUrn"])
    assert memory["aspect"]["json"]["elements"][0]["url"].endswith("/techflow/runbooks/profit")


def test_openmetadata_export_owns_by_users_and_keeps_the_team_and_oncall_as_properties():
    document = export.export("openmetadata", get_registry(), NAMES, AT)
    entities = {e["fullyQualifiedName"]: e for e in document["entities"]}
    pipeline = entities["techflow_airflow.profit"]
    assert pipeline["entityType"] == "pipeline"
    assert pipeline["owners"] == [{"type": "user", "name": "priya"}, {"type": "user", "name": "marcus"}]
    assert pipeline["extension"]["businessOwnerTeam"] == "finance"
    assert pipeline["extension"]["onCall"] == ownership.oncall_primary(AT)
    assert pipeline["extension"]["freshnessSla"] == "PT24H"
    table = entities["techflow_warehouse.techflow_warehouse.public.profit_monthly"]
    assert table["entityType"] == "table" and table["owners"] == pipeline["owners"]
    # OpenMetadata takes several users or one team as owners, never both.
    assert all({o["type"] for o in e["owners"]} == {"user"} for e in document["entities"])
    assert document["ownerConfig"]["table"][table["fullyQualifiedName"]] == ["priya", "marcus"]


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format must be one of"):
        export.export("csv", get_registry(), NAMES, AT)


def test_our_schema_is_not_vacuous():
    facet_schema = schema("TechflowOperationsJobFacet")["$defs"]["TechflowOperationsJobFacet"]["allOf"][1]
    document = export.export("json", get_registry(), NAMES, AT)["pipelines"][0]["operations"]
    root = {**facet_schema, "$defs": schema("TechflowOperationsJobFacet")["$defs"]}
    jsonschema.Draft202012Validator(root).validate(document)
    for broken in ({**document, "criticality": "urgent"}, {k: v for k, v in document.items() if k != "runbook"},
                   {**document, "oncall": {**document["oncall"], "primary": "priya"}},
                   {**document, "freshnessSla": {"duration": "24 hours", "text": "24h"}}):
        assert list(jsonschema.Draft202012Validator(root).iter_errors(broken)), broken


def test_the_docs_carry_the_shipped_schemas_and_the_plugin_serves_them():
    from fastapi.testclient import TestClient

    from techflow_ops.web.app import create_app

    with TestClient(create_app(), base_url="http://localhost") as client:
        for path in sorted(SCHEMAS_DIR.glob("*.json")):
            assert json.loads((PROJECT_ROOT / "docs" / "lineage" / path.name).read_text()) == json.loads(path.read_text())
            served = client.get(f"/schemas/{path.name}")  # no login: catalogs resolve `_schemaURL`
            assert served.status_code == 200 and served.json() == json.loads(path.read_text()), path.name
        assert client.get("/schemas/..%2Fschema.json").status_code == 404
        assert client.get("/schemas/Nope.json").status_code == 404


def _tables_read(function, module, seen=None) -> set[str]:
    """`wh.<table>` names a transform reads, following the module's helper functions it calls."""
    seen = seen if seen is not None else set()
    if function.__name__ in seen:
        return set()
    seen.add(function.__name__)
    tree = ast.parse(inspect.getsource(function))
    tables = {node.attr for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "wh"}
    for node in ast.walk(tree):
        helper = getattr(module, node.func.id, None) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
        if inspect.isfunction(helper) and helper.__module__ == module.__name__:
            tables |= _tables_read(helper, module, seen)
    return tables


@pytest.mark.parametrize("pipeline_id", sorted(AGGREGATE_INPUTS))
def test_declared_aggregate_inputs_are_what_the_transform_reads(pipeline_id):
    from sqlalchemy import Table

    from techflow_ops.pipelines import transforms

    read = {name for name in _tables_read(transforms.TRANSFORMS[pipeline_id], transforms)
            if isinstance(getattr(transforms.wh, name), Table)}
    assert set(AGGREGATE_INPUTS[pipeline_id]) == read
