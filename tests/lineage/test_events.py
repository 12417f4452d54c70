"""Events the five pipeline DAGs emit through the OpenLineage provider (file transport of the
embedded default): valid against the OpenLineage spec and our facet schemas, with typed owners,
on-call, SLAs, runbook, datasets landing -> staging -> outputs -> aggregates, and incident ids."""

from __future__ import annotations

import json
from datetime import datetime

import attr
import jsonschema
import pytest
from openlineage.client.generated.base import BaseFacet
from referencing import Registry, Resource

from techflow_ops import links
from techflow_ops.lineage import ownership
from techflow_ops.lineage.datasets import AGGREGATE_INPUTS
from techflow_ops.lineage.facets import SCHEMAS_DIR
from techflow_ops.registry import get_registry

from . import spec_models
from .conftest import DAY, OUTAGE_DAY, PIPELINES

OURS = {"TechflowOperationsJobFacet", "TechflowIncidentRunFacet"}
#: Where our schemas find the spec's facet bases. openlineage-python ships no schema files; this
#: stand-in states the base facet as its generated models declare it (`generated.base.BaseFacet`).
SPEC_BASE_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def _spec_base() -> dict:
    base_fields = {field.name for field in attr.fields(BaseFacet)}
    assert base_fields == {"_producer", "_schemaURL"}, base_fields  # the stand-in below must follow the client
    base = {"type": "object", "required": ["_producer", "_schemaURL"],
            "properties": {"_producer": {"type": "string", "format": "uri"}, "_schemaURL": {"type": "string", "format": "uri"}}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SPEC_BASE_URL, "$defs": {"BaseFacet": base, "RunFacet": {"$ref": "#/$defs/BaseFacet"},
                                             "JobFacet": {"$ref": "#/$defs/BaseFacet"}}}


@pytest.fixture(scope="module")
def our_schemas():
    """Our facet schemas by name, with one registry that resolves their $refs to the spec base."""
    documents = {name: json.loads((SCHEMAS_DIR / f"{name}.json").read_text()) for name in OURS}
    registry = Registry().with_resources(
        [(SPEC_BASE_URL, Resource.from_contents(_spec_base()))]
        + [(doc["$id"], Resource.from_contents(doc)) for doc in documents.values()])
    return documents, registry


def _our_validator(our_schemas, schema_url: str):
    documents, registry = our_schemas
    document_url, _, pointer = schema_url.partition("#")
    name = document_url.rsplit("/", 1)[-1].removesuffix(".json")
    target = {"$ref": f"{documents[name]['$id']}#{pointer}"}
    return jsonschema.Draft202012Validator(target, registry=registry, format_checker=jsonschema.FormatChecker())


def _facets(event: dict):
    """(where, facet) for every facet of an event."""
    yield from ((f"job.{k}", v) for k, v in event["job"].get("facets", {}).items())
    yield from ((f"run.{k}", v) for k, v in event["run"].get("facets", {}).items())
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for dataset in event.get(side, []):
            for group in ("facets", extra):
                yield from ((f"{side}[{dataset['name']}].{group}.{k}", v) for k, v in dataset.get(group, {}).items())


def test_every_pipeline_ran_and_the_outage_failed(lineage_runs):
    states = {(r["pipeline"], r["date"]): r["state"] for r in lineage_runs.runs}
    assert all(states[(p, DAY.isoformat())] == "success" for p in PIPELINES), states
    assert states[("engagement", OUTAGE_DAY.isoformat())] == "failed", states


def test_every_event_and_facet_validates_against_the_spec_and_our_schemas(lineage_runs, our_schemas):
    assert len(lineage_runs.events) >= 2 * 24, len(lineage_runs.events)  # START + COMPLETE of 24 tasks at least
    models = spec_models.models_by_schema()
    seen_ours, errors = set(), []
    for event in lineage_runs.events:
        where = f"{event['eventType']} {event['job']['name']}"
        assert event["schemaURL"] in models, f"{where}: the client has no model of {event['schemaURL']}"
        errors += [f"{where}: {p}" for p in spec_models.problems(event, models[event["schemaURL"]])]
        for name, facet in _facets(event):
            url = facet["_schemaURL"]
            ours = {n for n in OURS if f"/{n}.json" in url}
            seen_ours |= ours
            if ours:
                errors += [f"{where} {name}: {e.message} at {list(e.absolute_path)}"
                           for e in _our_validator(our_schemas, url).iter_errors(facet)]
            elif url not in models:
                errors.append(f"{where} {name}: no spec model for {url}")
            else:
                errors += [f"{where} {name}: {p}" for p in spec_models.problems(facet, models[url])]
    assert not errors, "\n".join(errors[:30])
    assert seen_ours == OURS  # both custom facets were emitted, and checked


def _expected_owners(pipeline_id: str, at: datetime) -> list[dict]:
    registry = get_registry()
    pipeline = registry.pipeline(pipeline_id)
    oncall = ownership.oncall_primary(at)
    assert oncall, f"the shipped schedule has someone on call at {at}"
    return [{"name": o.name, "type": o.type} for o in ownership.owners(pipeline, registry, oncall=oncall)]


@pytest.mark.parametrize("pipeline_id", PIPELINES)
def test_owners_types_oncall_sla_and_runbook_on_every_job(lineage_runs, pipeline_id):
    pipeline = get_registry().pipeline(pipeline_id)
    events = lineage_runs.events_of(pipeline_id)
    jobs = {e["job"]["name"] for e in events}
    assert pipeline_id in jobs and f"{pipeline_id}.transform" in jobs and f"{pipeline_id}.publish" in jobs, jobs
    for event in events:
        facets = event["job"]["facets"]
        operations = facets["techflowOperations"]
        at = datetime.fromisoformat(operations["oncall"]["at"].replace("Z", "+00:00"))
        owners = facets["ownership"]["owners"]
        assert owners == _expected_owners(pipeline_id, at), (event["job"]["name"], owners)
        assert owners[0] == {"name": f"user:{pipeline.owners.primary}", "type": "PRIMARY_OWNER"}
        assert owners[1] == {"name": f"user:{pipeline.owners.secondary}", "type": "SECONDARY_OWNER"}
        assert owners[2] == {"name": f"team:{pipeline.business_owner_team}", "type": "BUSINESS_OWNER"}
        assert owners[3]["type"] == "ONCALL" and operations["oncall"]["primary"] == owners[3]["name"]
        assert operations["oncall"]["rotationId"] == "data_engineering_oncall"
        assert operations["pipelineId"] == pipeline_id and operations["criticality"] == pipeline.criticality.value
        assert operations["investorFacing"] is pipeline.investor_facing
        assert operations["freshnessSla"]["duration"] == ownership.iso_duration(pipeline.freshness_sla)
        assert operations["resolutionSla"]["duration"] == ownership.iso_duration(pipeline.resolution_sla)
        assert operations["runbook"]["url"] == links.runbook_url(pipeline_id)
        anchors = {mode["anchor"] for mode in operations["runbook"]["failureModes"]}
        assert {"data-quality-failure", "sla-miss"} <= anchors, anchors
        assert all(m["url"] == links.runbook_url(pipeline_id, m["anchor"]) for m in operations["runbook"]["failureModes"])


def test_sla_figures_and_routes_of_the_brief(lineage_runs):
    operations = {p: lineage_runs.events_of(p)[-1]["job"]["facets"]["techflowOperations"] for p in PIPELINES}
    assert operations["profit"]["freshnessSla"]["duration"] == "PT24H"
    assert operations["profit"]["resolutionSla"]["duration"] == "PT48H"
    assert operations["growth"]["freshnessSla"]["duration"] == "P7D"
    assert operations["executive_investor"]["resolutionSla"]["byMonthEnd"] is True
    assert operations["executive_investor"]["tier"] == 0
    routes = {(r["failureMode"], r["team"], r["when"]) for r in operations["engagement"]["escalation"]["routes"]}
    assert ("kafka_outage", "team:infrastructure", "immediately") in routes, routes
    assert ("revenue_mismatch", "team:finance", "immediately") in {
        (r["failureMode"], r["team"], r["when"]) for r in operations["profit"]["escalation"]["routes"]}


def _names(datasets: list[dict]) -> list[str]:
    return [d["name"].rsplit(".", 1)[-1] if d["namespace"] != "file" else d["name"] for d in datasets]


def _complete(lineage_runs, pipeline_id: str, task_id: str) -> dict:
    return next(e for e in lineage_runs.events_of(pipeline_id)
                if e["job"]["name"] == f"{pipeline_id}.{task_id}" and e["eventType"] == "COMPLETE")


@pytest.mark.parametrize("pipeline_id", PIPELINES)
def test_inputs_and_outputs_of_each_pipeline(lineage_runs, session_dir, pipeline_id):
    pipeline = get_registry().pipeline(pipeline_id)
    outputs = [o.table for o in pipeline.outputs]
    warehouse_namespace = f"sqlite://{(session_dir / 'data' / 'warehouse.db').resolve()}"
    transform = _complete(lineage_runs, pipeline_id, "transform")
    assert _names(transform["outputs"]) == outputs
    assert {d["namespace"] for d in transform["inputs"] + transform["outputs"]} == {warehouse_namespace}
    assert all(d["name"] == f"warehouse.{d['name'].rsplit('.', 1)[-1]}" for d in transform["outputs"])
    if pipeline.sources:
        staging = [f"stg_{s}" for s in pipeline.sources]
        assert _names(transform["inputs"]) == staging
        ingest = _complete(lineage_runs, pipeline_id, "ingest")
        landing = [str((session_dir / "data" / "landing" / s).resolve()) for s in pipeline.sources]
        assert [d["namespace"] for d in ingest["inputs"]] == ["file"] * len(landing)
        assert _names(ingest["inputs"]) == landing and _names(ingest["outputs"]) == staging
    else:
        upstream_outputs = {o.table for up in pipeline.upstream for o in get_registry().pipeline(up).outputs}
        assert set(_names(transform["inputs"])) == set(AGGREGATE_INPUTS[pipeline_id])
        assert set(AGGREGATE_INPUTS[pipeline_id]) & upstream_outputs, "an aggregate reads its upstream outputs"
    for dataset in transform["outputs"]:
        owners = dataset["facets"]["ownership"]["owners"]
        assert [o["type"] for o in owners] == ["PRIMARY_OWNER", "SECONDARY_OWNER", "BUSINESS_OWNER", "ONCALL"]
    validated = _complete(lineage_runs, pipeline_id, "validate_outputs")
    assert _names(validated["inputs"]) == outputs
    for dataset in validated["inputs"]:
        assertions = dataset["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert assertions and all(a["params"]["runId"] == lineage_runs.run(pipeline_id, DAY)["run_id"] for a in assertions)
        assert {a["severity"] for a in assertions} <= {"error", "warn"}


def test_the_graph_connects_landing_staging_outputs_and_aggregates(lineage_runs):
    """Edges dataset -> dataset through each job: every aggregate output is reachable from a landing folder."""
    edges: dict[str, set[str]] = {}
    for event in lineage_runs.events:
        if event["eventType"] != "COMPLETE":
            continue
        for source in event.get("inputs", []):
            for target in event.get("outputs", []):
                edges.setdefault(source["name"], set()).add(target["name"])
    reached, frontier = set(), [name for name in edges if name.startswith("/")]
    while frontier:
        name = frontier.pop()
        for target in edges.get(name, ()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    for table in ("stg_click_events", "profit_monthly", "executive_weekly", "investor_monthly", "experiment_daily_unit"):
        assert f"warehouse.{table}" in reached, table


def test_a_failed_run_carries_the_incident_it_paged(lineage_runs):
    from techflow_ops.escalation import incidents_of_run

    run = lineage_runs.run("engagement", OUTAGE_DAY)
    incidents = incidents_of_run("engagement", run["run_id"], task_id="ingest")
    assert incidents and incidents[0].failure_class == "kafka_outage"
    events = lineage_runs.events_of("engagement", OUTAGE_DAY)
    ingest_fail = next(e for e in events if e["job"]["name"] == "engagement.ingest" and e["eventType"] == "FAIL")
    carried = ingest_fail["run"]["facets"]["techflowIncident"]["incidents"]
    assert [i["id"] for i in carried] == [incidents[0].id]
    assert carried[0]["url"] == links.incident_url(incidents[0].id) and carried[0]["failureClass"] == "kafka_outage"
    dag_fail = next(e for e in events if e["job"]["name"] == "engagement" and e["eventType"] == "FAIL")
    assert incidents[0].id in [i["id"] for i in dag_fail["run"]["facets"]["techflowIncident"]["incidents"]]
    # Runs that succeeded name no incident.
    assert not any("techflowIncident" in e["run"].get("facets", {}) for e in lineage_runs.events_of("profit"))


def test_the_spec_check_refuses_what_the_spec_refuses(lineage_runs):
    """The model check is not a formality: each broken copy of a real event is caught."""
    models = spec_models.models_by_schema()
    event = next(e for e in lineage_runs.events if e["eventType"] == "COMPLETE" and e["job"]["facets"].get("ownership"))
    cls = models[event["schemaURL"]]
    assert spec_models.problems(event, cls) == []
    no_run_id = json.loads(json.dumps(event))
    del no_run_id["run"]["runId"]
    bad_type = {**json.loads(json.dumps(event)), "eventType": "FINISHED"}
    bad_run_id = json.loads(json.dumps(event))
    bad_run_id["run"]["runId"] = "not-a-uuid"
    owner_without_name = json.loads(json.dumps(event))
    owner_without_name["job"]["facets"]["ownership"]["owners"] = [{"type": "PRIMARY_OWNER"}]
    for broken in (no_run_id, bad_type, bad_run_id, owner_without_name):
        assert spec_models.problems(broken, cls), broken
