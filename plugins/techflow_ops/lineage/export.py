"""Ownership of every pipeline and its datasets in formats catalogs ingest without OpenLineage.

- `json`: TechFlow's own document (typed owners, operations facts, datasets with owners).
- `datahub`: a list of MetadataChangeProposals (`datahub ingest` with the `file` source):
  `ownership` of each Airflow dataFlow and warehouse dataset, `institutionalMemory` with the
  runbook, and the four TechFlow ownership types as custom `ownershipType` entities (DataHub's
  built-in types cannot tell a primary from a secondary owner, or say who is on call).
- `openmetadata`: entities by fully qualified name with their `owners` (OpenMetadata takes
  several users, or one team, as owners of an asset: the business owner team and the on-call go
  to `extension`, custom properties) and `ownerConfig`, the metadata ingestion workflow's
  per-table owner mapping.

Pure: reads the registry, the schedule (who is on call at `at`) and the policy.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..registry import Pipeline, Registry
from . import ownership
from .datasets import DatasetRef, WarehouseNames, staging_table

FORMATS = ("json", "datahub", "openmetadata")
DATAHUB_ENV = "PROD"
DATAHUB_ACTOR = "urn:li:corpuser:techflow-ops"
DATAHUB_TYPES = {
    ownership.PRIMARY_OWNER: ("techflow_primary_owner", "Primary owner", "Owns the pipeline; paged with the owners"),
    ownership.SECONDARY_OWNER: ("techflow_secondary_owner", "Secondary owner", "Backs up the primary owner"),
    ownership.BUSINESS_OWNER: ("techflow_business_owner", "Business owner team", "The team that owns the data's meaning"),
    ownership.ONCALL: ("techflow_oncall", "On call", "On call as primary for the rotation at export time"),
}
OPENMETADATA_PIPELINE_SERVICE = "techflow_airflow"
OPENMETADATA_DATABASE_SERVICE = "techflow_warehouse"


def _datasets(pipeline: Pipeline, names: WarehouseNames) -> list[DatasetRef]:
    """The tables a pipeline writes: its staging tables (from its sources) and its outputs."""
    return ([names.table(staging_table(s)) for s in pipeline.sources]
            + [names.table(o.table) for o in pipeline.outputs])


def ownership_document(registry: Registry, names: WarehouseNames, at: datetime) -> dict:
    oncall = ownership.oncall_primary(at)
    pipelines = []
    for pipeline in registry.pipelines.values():
        owners = ownership.owners(pipeline, registry, oncall=oncall)
        pipelines.append({
            "id": pipeline.id, "dagId": pipeline.dag_id, "title": pipeline.title,
            "owners": [owner.as_dict() for owner in owners],
            "operations": ownership.operations(pipeline, registry, at=at, oncall=oncall),
            "datasets": [{"namespace": ref.namespace, "name": ref.name, "table": ref.table,
                          "owners": [owner.as_dict() for owner in owners]} for ref in _datasets(pipeline, names)],
        })
    return {"format": "techflow-ownership", "version": 1, "at": _iso(at), "warehouse": names.namespace,
            "pipelines": pipelines}


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# --- DataHub ----------------------------------------------------------------------------------

def _mcp(entity_type: str, urn: str, aspect_name: str, aspect: dict) -> dict:
    return {"entityType": entity_type, "entityUrn": urn, "changeType": "UPSERT", "aspectName": aspect_name,
            "aspect": {"json": aspect}}


def datahub_platform(names: WarehouseNames) -> str:
    return names.namespace.partition(":")[0]


def datahub_dataset_urn(ref: DatasetRef, platform: str) -> str:
    return f"urn:li:dataset:(urn:li:dataPlatform:{platform},{ref.name},{DATAHUB_ENV})"


def datahub_flow_urn(pipeline: Pipeline) -> str:
    return f"urn:li:dataFlow:(airflow,{pipeline.dag_id},{DATAHUB_ENV})"


def _datahub_owner(owner: ownership.TypedOwner) -> dict:
    entity = "corpuser" if owner.kind == "user" else "corpGroup"
    return {"owner": f"urn:li:{entity}:{owner.id}", "type": "CUSTOM",
            "typeUrn": f"urn:li:ownershipType:{DATAHUB_TYPES[owner.type][0]}"}


def datahub_mcps(registry: Registry, names: WarehouseNames, at: datetime) -> list[dict]:
    stamp = {"time": int(at.timestamp() * 1000), "actor": DATAHUB_ACTOR}
    mcps = [_mcp("ownershipType", f"urn:li:ownershipType:{urn_id}", "ownershipTypeInfo",
                 {"name": name, "description": description, "created": stamp, "lastModified": stamp})
            for urn_id, name, description in DATAHUB_TYPES.values()]
    oncall = ownership.oncall_primary(at)
    platform = datahub_platform(names)
    for pipeline in registry.pipelines.values():
        owners = {"owners": [_datahub_owner(o) for o in ownership.owners(pipeline, registry, oncall=oncall)],
                  "lastModified": stamp}
        facts = ownership.operations(pipeline, registry, at=at, oncall=oncall)
        flow = datahub_flow_urn(pipeline)
        mcps.append(_mcp("dataFlow", flow, "ownership", owners))
        mcps.append(_mcp("dataFlow", flow, "institutionalMemory", {"elements": [
            {"url": facts["runbook"]["url"], "description": f"Runbook: {pipeline.title}", "createStamp": stamp},
            *({"url": mode["url"], "description": f"Runbook section {mode['anchor']}", "createStamp": stamp}
              for mode in facts["runbook"]["failureModes"]),
        ]}))
        for ref in _datasets(pipeline, names):
            mcps.append(_mcp("dataset", datahub_dataset_urn(ref, platform), "ownership", owners))
    return mcps


# --- OpenMetadata -------------------------------------------------------------------------------

def openmetadata_table_fqn(ref: DatasetRef) -> str:
    """`service.database.schema.table`; SQLite has no schema, so OpenMetadata's default one."""
    parts = ref.name.split(".")
    if len(parts) == 2:
        parts = [parts[0], "default", parts[1]]
    return ".".join([OPENMETADATA_DATABASE_SERVICE, *parts])


def openmetadata_document(registry: Registry, names: WarehouseNames, at: datetime) -> dict:
    oncall = ownership.oncall_primary(at)
    entities, owner_config = [], {}
    for pipeline in registry.pipelines.values():
        owners = ownership.owners(pipeline, registry, oncall=oncall)
        users = [{"type": "user", "name": o.id} for o in owners if o.type in (ownership.PRIMARY_OWNER, ownership.SECONDARY_OWNER)]
        business = next(o for o in owners if o.type == ownership.BUSINESS_OWNER)
        on_call = next((o for o in owners if o.type == ownership.ONCALL), None)
        facts = ownership.operations(pipeline, registry, at=at, oncall=oncall)
        extension = {
            "businessOwnerTeam": business.id, "onCall": on_call.id if on_call else None,
            "oncallRotation": facts["oncall"].get("rotationId"), "criticality": facts["criticality"],
            "investorFacing": facts["investorFacing"], "freshnessSla": facts["freshnessSla"]["duration"],
            "resolutionSla": facts["resolutionSla"]["duration"], "runbookUrl": facts["runbook"]["url"],
        }
        entities.append({"entityType": "pipeline",
                         "fullyQualifiedName": f"{OPENMETADATA_PIPELINE_SERVICE}.{pipeline.dag_id}",
                         "owners": users, "extension": extension})
        for ref in _datasets(pipeline, names):
            fqn = openmetadata_table_fqn(ref)
            entities.append({"entityType": "table", "fullyQualifiedName": fqn, "owners": users, "extension": extension})
            owner_config[fqn] = [user["name"] for user in users]
    return {"format": "openmetadata", "at": _iso(at),
            "services": {"pipeline": OPENMETADATA_PIPELINE_SERVICE, "database": OPENMETADATA_DATABASE_SERVICE},
            "entities": entities,
            "ownerConfig": {"enableInheritance": False, "table": owner_config}}


def export(fmt: str, registry: Registry, names: WarehouseNames, at: datetime | None = None):
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    at = at or datetime.now(timezone.utc)
    build = {"json": ownership_document, "datahub": datahub_mcps, "openmetadata": openmetadata_document}[fmt]
    return build(registry, names, at)
