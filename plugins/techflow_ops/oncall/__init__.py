"""Fair on-call schedule: rotation config, scheduler, published history, resolution, iCal.

No Airflow import; the escalation engine, the web UI and the CLI all ask it the same questions
through `get_schedule_service()`. The configuration is YAML (`oncall.yaml`); the state (published
schedule, overrides) is in the ops DB, read and written by `store.py` only, so scheduler,
timeline and burden stay free of SQL.
"""

from .config import load_oncall_config
from .model import ROLES, Gap, Handoff, OnCallConfig, OnCallNow, Override, Rotation, Shift, ShiftChange
from .scheduler import Scheduler
from .service import ScheduleService, check_config_dir, clear_schedule_cache, get_schedule_service, load_schedule_service

__all__ = [
    "Gap", "Handoff", "OnCallConfig", "OnCallNow", "Override", "ROLES", "Rotation", "ScheduleService", "Scheduler",
    "Shift", "ShiftChange", "check_config_dir", "clear_schedule_cache", "get_schedule_service", "load_oncall_config",
    "load_schedule_service",
]
