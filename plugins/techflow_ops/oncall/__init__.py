"""Fair on-call schedule: rotation config, scheduler, published history, resolution, iCal.

Pure Python (no Airflow import); the escalation engine, the web UI and the CLI all ask it
the same questions through `get_schedule_service()`.
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
