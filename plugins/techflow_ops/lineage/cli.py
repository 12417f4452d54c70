"""`techflow-ops ownership export --format openmetadata|datahub|json [--output FILE] [--at ISO]`."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path


def _at(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise SystemExit(f"ownership export: --at {value!r}: needs an offset or Z")
    return moment.astimezone(timezone.utc)


def _export(args) -> int:
    from ..pipelines.warehouse import warehouse_url
    from ..registry import get_registry
    from .datasets import WarehouseNames
    from .export import export

    document = export(args.format, get_registry(), WarehouseNames(warehouse_url()), args.at)
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.format} ownership to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers) -> None:
    from .export import FORMATS

    area = subparsers.add_parser("ownership", help="ownership of every pipeline and dataset, for data catalogs")
    commands = area.add_subparsers(dest="ownership_command", required=True)
    export = commands.add_parser("export", help="write ownership in a format a catalog ingests")
    export.add_argument("--format", choices=FORMATS, required=True)
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    export.add_argument("--at", type=_at, help="who is on call at this instant (default: now)")
    export.set_defaults(handler=_export)
