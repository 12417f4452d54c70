"""The FastAPI app mounted by the plugin at /techflow: HTML pages, a JSON API, iCal feeds.

A plugin app gets no authentication from Airflow, so every router here carries Airflow's
own auth dependencies; only the iCal feeds (behind a per-feed token) and the acknowledge/resolve
links from pages (behind a signed, single-use token, `escalation.action_links`) and the lineage
facet schemas (public documents) stand outside the login.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag, requires_access_view
from fastapi import APIRouter, Depends, FastAPI, Form, Header, HTTPException, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import links
from ..digests import compose
from ..escalation import action_links
from ..oncall.ical import ics_for_person, ics_for_team
from ..registry import get_registry
from . import security, swap_views, views

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
CALENDAR_WEEKS = 6

NAV = [
    ("oncall", "On call"),
    ("calendar", "Calendar"),
    ("ownership", "Ownership"),
    ("incidents", "Incidents"),
    ("inbox", "Inbox"),
    ("fairness", "Fairness"),
    ("health", "Health"),
    ("datadocs/index.html", "Data Docs"),
    ("feeds", "Calendar feeds"),
]


def _format_when(value) -> str:
    """ISO timestamps from the API shown as 'YYYY-MM-DD HH:MM UTC' (the JSON keeps full precision)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _web_url(value) -> str | None:
    """Links that come from stored data (task log URLs) only as http(s) or same-site paths:
    escaping alone would still let a `javascript:` URL run when clicked."""
    if not value:
        return None
    text = str(value).strip()
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https") or (not scheme and text.startswith("/") and not text.startswith("//")):
        return text
    return None


# An http(s) URL in plain text ends at whitespace, a quote, a bracket or a backtick; sentence
# punctuation right after it is not part of it.
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}"


def _linkify(value) -> Markup:
    """Plain text (a caught page) escaped, with its http(s) URLs as links (`web_url` decides
    which may be one; nothing else becomes markup), e.g. the page's Acknowledge/Resolve links."""
    text = "" if value is None else str(value)
    parts, done = [], 0
    for match in _URL_IN_TEXT.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        if not _web_url(url):
            continue
        parts.append(escape(text[done:match.start()]))
        parts.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(url))
        done = match.start() + len(url)
    parts.append(escape(text[done:]))
    return Markup("").join(parts)


# The digests' formatting: a number reads the same in a mail and on the Health page.
TEMPLATES.filters.update(when=_format_when, web_url=_web_url, linkify=_linkify, percent=compose.percent,
                         target_percent=compose.target_percent, duration=compose.duration)


def _page(request: Request, template: str, user, *, status_code: int = status.HTTP_200_OK, **context) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(
        prefix=links.PLUGIN_PREFIX,
        nav=NAV,
        user_name=user.get_name(),
        csrf_token=security.csrf_token(request),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _feed_urls(request: Request) -> dict:
    registry = get_registry()
    base = str(request.base_url).rstrip("/") + links.PLUGIN_PREFIX

    def url(kind: str, feed_id: str) -> str:
        return f"{base}/feeds/{kind}/{feed_id}.ics?token={security.feed_token(kind, feed_id)}"

    return {
        "people": [{"id": p.id, "name": p.name, "url": url("person", p.id)} for p in registry.people.values()],
        "teams": [{"id": t.id, "name": t.name, "url": url("team", t.id)} for t in registry.teams.values()],
    }


def _calendar_start(start: date | None) -> date:
    return start or datetime.now(timezone.utc).date()


def _readable_by(user) -> views.ReadableDags:
    return lambda dag_ids: security.readable_dag_ids(user, dag_ids)


def _readable_incident(user, incident_id: int) -> dict:
    """The incident, once the user may read its DAG (its errors, log links and runs are the DAG's)."""
    data = views.incident(incident_id)
    security.require_dag_read(user, data["dag_id"])
    return data


# --- pages -------------------------------------------------------------------------------

pages = APIRouter(dependencies=[Depends(requires_access_view(AccessView.PLUGINS))], include_in_schema=False)


@pages.get("/")
def index() -> RedirectResponse:
    return RedirectResponse(f"{links.PLUGIN_PREFIX}/oncall")


@pages.get("/oncall")
def oncall_page(request: Request, user: GetUserDep) -> HTMLResponse:
    return _page(request, "oncall.html", user, title="On call", oncall=views.oncall_now(),
                 health=views.health_summary(_readable_by(user)))


@pages.get("/calendar")
def calendar_page(
    request: Request, user: GetUserDep, start: date | None = None, month: str | None = None
) -> HTMLResponse:
    # The month grid, then six weeks day by day from `start` (default: the month's first day);
    # `start` alone (the older links) picks its month.
    try:
        grid = views.month_grid(month if month is not None or start is None else start.strftime("%Y-%m"))
    except views.BadRequest as exc:
        return _page(request, "calendar.html", user, status_code=status.HTTP_400_BAD_REQUEST, title="Calendar",
                     month=None, calendar=None, error=str(exc))
    data = views.calendar(start or date.fromisoformat(grid["month"] + "-01"), CALENDAR_WEEKS)
    return _page(request, "calendar.html", user, title="Calendar", month=grid, calendar=data, error=None,
                 swaps=_swap_panel(user, start or date.fromisoformat(grid["month"] + "-01")),
                 swap_message=request.query_params.get("swap_message"), vacations=_vacation_panel(user),
                 vacation_message=request.query_params.get("vacation_message"))


@pages.get("/ownership")
def ownership_page(request: Request, user: GetUserDep, session: SessionDep) -> HTMLResponse:
    data = views.ownership(session, _readable_by(user))
    return _page(request, "ownership.html", user, title="Ownership", ownership=data)


@pages.get("/fairness")
def fairness_page(
    request: Request, user: GetUserDep, start: date | None = None, weeks: Annotated[int | None, Query(ge=1, le=260)] = None
) -> HTMLResponse:
    data = views.fairness(start, weeks)
    return _page(request, "fairness.html", user, title="Fairness", fairness=data, charts=views.fairness_charts(data))


@pages.get("/health")
def health_page(
    request: Request,
    user: GetUserDep,
    from_text: Annotated[str | None, Query(alias="from")] = None,
    to_text: Annotated[str | None, Query(alias="to")] = None,
) -> HTMLResponse:
    # A bad date comes back as the page with its form and the message (400), so the reader can
    # correct it where they typed it.
    try:
        data = views.health(from_text, to_text, _readable_by(user))
    except views.BadRequest as exc:
        return _page(request, "health.html", user, status_code=status.HTTP_400_BAD_REQUEST, title="Health", health=None,
                     error=str(exc), from_value=from_text or "", to_value=to_text or "")
    return _page(request, "health.html", user, title="Health", health=data, error=None,
                 from_value=data["from"], to_value=data["to"])


@pages.get("/runbooks/{pipeline_id}")
def runbook_page(request: Request, user: GetUserDep, pipeline_id: str) -> HTMLResponse:
    data = views.runbook(pipeline_id)
    return _page(request, "runbook.html", user, title=f"Runbook: {data['title']}", runbook=data)


@pages.get("/feeds")
def feeds_page(request: Request, user: GetUserDep) -> HTMLResponse:
    return _page(request, "feeds.html", user, title="Calendar feeds", feeds=_feed_urls(request))


INBOX_PAGE_SIZE = 100


@pages.get("/inbox")
def inbox_page(request: Request, user: GetUserDep, offset: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    data = views.inbox(INBOX_PAGE_SIZE, offset, _readable_by(user))
    return _page(request, "inbox.html", user, title="Inbox", inbox=data, offset=offset, page_size=INBOX_PAGE_SIZE)


@pages.get("/dags/{dag_id}", dependencies=[Depends(requires_access_dag("GET"))])
def dag_page(request: Request, user: GetUserDep, session: SessionDep, dag_id: str) -> HTMLResponse:
    # Airflow shows this tab on every DAG, so one that is no pipeline gets a page, not raw JSON.
    try:
        data = views.dag_overview(session, dag_id)
    except views.NotFound:
        title = f"{dag_id}: not a TechFlow pipeline"
        return _page(request, "not_pipeline.html", user, status_code=status.HTTP_404_NOT_FOUND, title=title, dag_id=dag_id)
    return _page(request, "dag.html", user, title=f"{dag_id}: ownership", dag=data)


# GX Data Docs run scripts from public CDNs. Sandboxed without allow-same-origin they get an
# opaque origin: served here they could otherwise call Airflow's API with the user's cookie.
DATA_DOCS_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts allow-popups",
    "X-Content-Type-Options": "nosniff",
}


@pages.get("/datadocs/{path:path}")
def data_docs(path: str) -> Response:
    root = views.data_docs_dir().resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    if not target.is_file():
        if path in ("", "index.html"):
            return HTMLResponse(
                TEMPLATES.get_template("datadocs_missing.html").render(prefix=links.PLUGIN_PREFIX, nav=NAV, root=str(root)),
                status_code=status.HTTP_404_NOT_FOUND,
            )
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return FileResponse(target, headers=DATA_DOCS_HEADERS)


# --- on-call swaps and takes: the Calendar page's buttons (DAG edit rights and CSRF, like acknowledge) ---


def _swap_panel(user, start: date) -> dict:
    try:
        person = swap_views.acting_person(user)
    except swap_views.Forbidden:
        person = None  # the panel still lists the requests, without buttons
    return swap_views.swap_panel(person, *swap_views.panel_window(start, CALENDAR_WEEKS))


def _swap(user, action: str, fields: dict) -> dict:
    security.require_schedule_edit(user, {p.dag_id for p in get_registry().pipelines.values()})
    return swap_views.swap_action(action, swap_views.acting_person(user), fields)


@pages.post("/calendar/swaps/{action}")
def swap_action_form(
    request: Request,
    user: GetUserDep,
    action: str,
    csrf_token: Annotated[str | None, Form()] = None,
    request_id: Annotated[str, Form(alias="id", max_length=20)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
    with_person: Annotated[str, Form(alias="with", max_length=200)] = "",
    holder: Annotated[str, Form(alias="from", max_length=200)] = "",
    give_back: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    security.check_csrf(request, csrf_token)
    fields = {"id": request_id, "role": role, "start": start, "end": end, "with": with_person, "from": holder,
              "give_back": give_back, "reason": reason}
    done = _swap(user, action, fields)
    message = f"{done['kind']} #{done['id']}: {done['status']}" + (" (in effect)" if done["in_effect"] else "")
    return RedirectResponse(f"{links.PLUGIN_PREFIX}/calendar?{urlencode({'swap_message': message})}#swaps",
                            status_code=status.HTTP_303_SEE_OTHER)


def _vacation_panel(user) -> dict:
    try:
        person = swap_views.acting_person(user)
    except swap_views.Forbidden:
        person = None  # the list still shows, without the form
    return swap_views.vacation_panel(person)


@pages.post("/calendar/vacations/{action}")
def vacation_action_form(
    request: Request,
    user: GetUserDep,
    action: str,
    csrf_token: Annotated[str | None, Form()] = None,
    vacation_id: Annotated[str, Form(alias="id", max_length=20)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    # The same gate as the swap buttons: CSRF, then DAG edit rights, then the user as a person.
    security.check_csrf(request, csrf_token)
    security.require_schedule_edit(user, {p.dag_id for p in get_registry().pipelines.values()})
    done = swap_views.vacation_action(action, swap_views.acting_person(user),
                                      {"id": vacation_id, "start": start, "end": end, "note": note})
    if action == "add":
        message = f"vacation #{done['id']} added ({done['start']} .. {done['end']})" + (
            f"; swap request(s) {', '.join('#' + str(r['id']) for r in done['swap_requests'])} opened for your shifts"
            if done["swap_requests"] else "")
    else:
        message = f"vacation #{done['removed']} removed" + (
            f"; swap request(s) {', '.join('#' + str(i) for i in done['cancelled_swap_requests'])} cancelled"
            if done["cancelled_swap_requests"] else "")
    return RedirectResponse(f"{links.PLUGIN_PREFIX}/calendar?{urlencode({'vacation_message': message})}#vacations",
                            status_code=status.HTTP_303_SEE_OTHER)


# --- incidents: reading needs the plugin view and DAG read rights, acknowledging/resolving DAG edit rights ---

INCIDENT_ACTIONS = ("acknowledge", "resolve", "escalate", "reassign")


@pages.get("/incidents")
def incidents_page(
    request: Request, user: GetUserDep, status_filter: Annotated[str | None, Query(alias="status")] = None
) -> HTMLResponse:
    data = views.incidents(status_filter, readable=_readable_by(user))
    return _page(request, "incidents.html", user, title="Incidents", incidents=data, status_filter=status_filter)


@pages.get("/incidents/{incident_id}")
def incident_page(request: Request, user: GetUserDep, incident_id: int) -> HTMLResponse:
    data = _readable_incident(user, incident_id)
    return _page(request, "incident.html", user, title=f"Incident {incident_id}", incident=data)


@pages.post("/incidents/{incident_id}/{action}")
def incident_action_form(
    request: Request,
    user: GetUserDep,
    incident_id: int,
    action: str,
    csrf_token: Annotated[str | None, Form()] = None,
    note: Annotated[str, Form(max_length=2000)] = "",
    to: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    security.check_csrf(request, csrf_token)
    _act(user, incident_id, action, note, to)
    return RedirectResponse(f"{links.PLUGIN_PREFIX}/incidents/{incident_id}", status_code=status.HTTP_303_SEE_OTHER)


def _act(user, incident_id: int, action: str, note: str, to: str = "") -> dict:
    if action not in INCIDENT_ACTIONS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown action {action!r}")
    current = views.incident(incident_id)
    security.require_dag_edit(user, current["dag_id"])
    return views.incident_action(incident_id, action, user.get_name(), note, to)


# --- JSON API ----------------------------------------------------------------------------

api = APIRouter(prefix="/api", dependencies=[Depends(requires_access_view(AccessView.PLUGINS))])


@api.get("/oncall/now")
def api_oncall_now(at: datetime | None = None) -> dict:
    return views.oncall_now(at)


@api.get("/calendar")
def api_calendar(start: date | None = None, weeks: Annotated[int, Query(ge=1, le=52)] = CALENDAR_WEEKS) -> dict:
    return views.calendar(_calendar_start(start), weeks)


@api.get("/calendar/month")
def api_calendar_month(month: str | None = None) -> dict:
    return views.month_grid(month)


@api.get("/ownership")
def api_ownership(user: GetUserDep, session: SessionDep) -> dict:
    return views.ownership(session, _readable_by(user))


@api.get("/fairness")
def api_fairness(start: date | None = None, weeks: Annotated[int | None, Query(ge=1, le=260)] = None) -> dict:
    data = views.fairness(start, weeks)
    return {**data, "charts": views.fairness_charts(data, draw=False)}


@api.get("/health")
def api_health(
    user: GetUserDep,
    from_text: Annotated[str | None, Query(alias="from")] = None,
    to_text: Annotated[str | None, Query(alias="to")] = None,
) -> dict:
    data = views.health(from_text, to_text, _readable_by(user))
    charts = {name: {k: v for k, v in chart.items() if k != "svg"} for name, chart in data["charts"].items()}
    return {**data, "charts": charts}


@api.get("/runbooks/{pipeline_id}")
def api_runbook(pipeline_id: str) -> dict:
    return views.runbook(pipeline_id)


@api.get("/dags/{dag_id}", dependencies=[Depends(requires_access_dag("GET"))])
def api_dag(session: SessionDep, dag_id: str) -> dict:
    return views.dag_overview(session, dag_id)


@api.get("/feeds")
def api_feeds(request: Request) -> dict:
    return _feed_urls(request)


@api.get("/inbox")
def api_inbox(
    user: GetUserDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return views.inbox(limit, offset, _readable_by(user))


@api.get("/incidents")
def api_incidents(
    user: GetUserDep,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    pipeline_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return views.incidents(status_filter, pipeline_id, limit, offset, _readable_by(user))


@api.get("/incidents/{incident_id}")
def api_incident(user: GetUserDep, incident_id: int) -> dict:
    return _readable_incident(user, incident_id)


@api.post("/incidents/{incident_id}/{action}")
def api_incident_action(
    request: Request,
    user: GetUserDep,
    incident_id: int,
    action: str,
    body: dict | None = None,
    csrf_header: Annotated[str | None, Header(alias=security.CSRF_HEADER)] = None,
) -> dict:
    security.check_csrf(request, csrf_header)
    note = str((body or {}).get("note", ""))[:2000]
    return _act(user, incident_id, action, note, str((body or {}).get("to", ""))[:300])


@api.get("/swaps")
def api_swaps(user: GetUserDep, open_only: Annotated[bool, Query(alias="open")] = False) -> dict:
    return swap_views.swap_list(open_only)


@api.post("/swaps/{action}")
def api_swap_action(
    request: Request,
    user: GetUserDep,
    action: str,
    body: dict | None = None,
    csrf_header: Annotated[str | None, Header(alias=security.CSRF_HEADER)] = None,
) -> dict:
    security.check_csrf(request, csrf_header)
    return _swap(user, action, {str(k): str(v)[:300] for k, v in (body or {}).items() if v is not None})


# --- iCal feeds: calendar clients cannot log in, so each feed URL carries its own token ---

feeds = APIRouter(prefix="/feeds", include_in_schema=False)
ICS = "text/calendar; charset=utf-8"


@feeds.get("/person/{person_id}.ics")
def person_feed(person_id: str, token: str | None = None) -> Response:
    security.check_feed_token("person", person_id, token)
    return _feed(lambda: ics_for_person(person_id))


@feeds.get("/team/{team_id}.ics")
def team_feed(team_id: str, token: str | None = None) -> Response:
    security.check_feed_token("team", team_id, token)
    return _feed(lambda: ics_for_team(team_id))


def _feed(build) -> Response:
    try:
        body = build()
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0] if exc.args else exc)) from None
    return Response(body, media_type=ICS, headers={"Cache-Control": "private, max-age=300"})


# --- acknowledge/resolve links from pages: no login, the signed single-use link is the capability ---

actions = APIRouter(prefix="/act", include_in_schema=False)
# The token must not be cached or leak through a Referer to whatever the page links to.
LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def _link_page(incident_id: int, recipient: str, action: str, token: str | None, *,
               perform: bool) -> HTMLResponse:
    try:
        link = views.action_link(incident_id, recipient, action, token, perform=perform)
    except views.LinkRefusal as refusal:
        html = TEMPLATES.get_template("action_link.html").render(
            prefix=links.PLUGIN_PREFIX, nav=[], title="Link refused", refusal=refusal,
            incident_url=links.incident_url(incident_id))
        return HTMLResponse(html, status_code=refusal.status_code, headers=LINK_HEADERS)
    title = f"Incident {incident_id}: " + (f"{action}d" if perform else f"{action}?")
    html = TEMPLATES.get_template("action_link.html").render(
        prefix=links.PLUGIN_PREFIX, nav=[], title=title, link=link, token=token,
        form_action=f"{links.PLUGIN_PREFIX}/{action_links.path_of(incident_id, recipient, action)}")
    return HTMLResponse(html, headers=LINK_HEADERS)


@actions.get("/{incident_id}/{recipient}/{action}")
def action_link_confirm(incident_id: int, recipient: str, action: str,
                        t: Annotated[str | None, Query(max_length=2000)] = None) -> HTMLResponse:
    """Opening a link (a person, or a mail scanner / chat link preview) only shows a confirmation."""
    return _link_page(incident_id, recipient, action, t, perform=False)


@actions.post("/{incident_id}/{recipient}/{action}")
def action_link_do(incident_id: int, recipient: str, action: str,
                   t: Annotated[str | None, Form(max_length=2000)] = None) -> HTMLResponse:
    return _link_page(incident_id, recipient, action, t, perform=True)


schemas = APIRouter(prefix="/schemas", include_in_schema=False)


@schemas.get("/{name}.json")
def facet_schema(name: str) -> FileResponse:
    """The JSON Schemas of TechFlow's OpenLineage facets, public like any schema a `_schemaURL`
    names: catalogs resolve it without an Airflow login."""
    from ..lineage.facets import SCHEMAS_DIR

    path = SCHEMAS_DIR / f"{name}.json"
    if not re.fullmatch(r"[A-Za-z]+", name) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such schema")
    return FileResponse(path, media_type="application/schema+json")


async def _login_first(request: Request, exc: StarletteHTTPException) -> Response:
    """A browser opening a page without a login goes to Airflow's login page and comes back."""
    inner_path = request.url.path.removeprefix(links.PLUGIN_PREFIX)
    is_page = request.method == "GET" and not inner_path.startswith(("/api/", "/feeds/"))
    if exc.status_code == status.HTTP_401_UNAUTHORIZED and is_page and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(get_auth_manager().get_url_login(next_url=request.url.path), status_code=status.HTTP_303_SEE_OTHER)
    return await http_exception_handler(request, exc)


def _json_error(code: int):
    def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


def create_app() -> FastAPI:
    app = FastAPI(
        title="TechFlow Ops",
        description="On call, ownership, incidents, fairness and runbooks for TechFlow's pipelines.",
        docs_url=None,
        redoc_url=None,
        # The schema lists every route; like the routes themselves it is not for anonymous eyes.
        openapi_url=None,
    )
    app.include_router(pages)
    app.include_router(api)
    app.include_router(feeds)
    app.include_router(actions)
    app.include_router(schemas)

    for error, code in ((views.NotFound, 404), (views.BadRequest, 400), (views.Conflict, 409), (swap_views.Forbidden, 403)):
        app.add_exception_handler(error, _json_error(code))
    app.add_exception_handler(StarletteHTTPException, _login_first)

    return app

