"""Server-side paginated, filtered lists: a user's inbox and the process instances.

    inbox_page(uow, user_id, services=..., page=1, per_page=50, search="", lane=None) -> Page[TaskView]
    instances_page(session, page=1, per_page=50, status=None, search="") -> Page[dict]

The database does the filtering, counting and paging: a page costs the same with 20 or
20,000 ready tasks, and only one page is sent to the browser.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from engine import instances
from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.ports import EngineServices, default_services
from engine.runtime import EngineRuntime
from engine.runtime_models import BusinessKey
from engine.tasks import READY, TaskView, views_of

T = TypeVar("T")
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _bounds(page: int, per_page: int) -> tuple[int, int]:
    return max(1, int(page)), min(MAX_PER_PAGE, max(1, int(per_page)))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _paged(session: Session, stmt: Select[Any], page: int, per_page: int) -> tuple[list[Any], int, int]:
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(page, pages)
    rows = list(session.execute(stmt.limit(per_page).offset((page - 1) * per_page)))
    return rows, total, page


def inbox_page(uow: Any, user_id: str | None = None, *, services: EngineServices | None = None, page: int = 1,
               per_page: int = 50, search: str = "", lane: str | None = None,
               runtime: EngineRuntime | None = None) -> Page[TaskView]:
    """Ready user tasks in lanes whose role the user holds, unclaimed or claimed by the user,
    in instance order; `search` matches the task name, the instance's business key, title or number. Each
    task of the page says why its gates would refuse the user at claim (`TaskView.refusal`)."""
    services = services or default_services()
    user_id = user_id or uow.actor.user_id
    page, per_page = _bounds(page, per_page)
    search = (search or "").strip()
    filters = {"search": search, "lane": lane or "", "per_page": per_page if per_page != 50 else ""}
    held = set(services.roles_of(uow, user_id))
    roles = sorted(held)
    mine = InstanceTask.claimed_by == user_id  # claimed, or assigned to the user by the process (engine.tasks)
    if lane:
        roles = [r for r in roles if r == lane]
        mine = and_(mine, InstanceTask.lane == lane)
    stmt = (select(InstanceTask, ProcessInstance)
            .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
            .outerjoin(BusinessKey, BusinessKey.instance_id == InstanceTask.instance_id)
            .where(InstanceTask.state == READY, InstanceTask.manual.is_(True),
                   InstanceTask.dropped.is_(False), or_(InstanceTask.lane.in_(roles), mine),
                   ProcessInstance.status == instances.InstanceStatus.RUNNING.value,
                   or_(InstanceTask.claimed_by.is_(None), InstanceTask.claimed_by == user_id))
            .order_by(InstanceTask.instance_id, InstanceTask.seq))
    if search:
        pattern = _like(search)
        stmt = stmt.where(or_(func.lower(InstanceTask.bpmn_name).like(pattern, escape="\\"),
                              func.lower(InstanceTask.bpmn_id).like(pattern, escape="\\"),
                              func.lower(BusinessKey.business_key).like(pattern, escape="\\"),
                              func.lower(ProcessInstance.title).like(pattern, escape="\\"),
                              cast(ProcessInstance.id, String) == search.lstrip("#")))
    rows, total, page = _paged(uow.session, stmt, page, per_page)
    items = views_of(uow, [(r, instance) for r, instance in rows], user_id, held, runtime)
    return Page(items, page, per_page, total, filters)


def instances_page(session: Session, *, page: int = 1, per_page: int = 50, status: str | None = None,
                   search: str = "") -> Page[dict[str, Any]]:
    """Process instances, newest first, filtered by status and by business key, title, process or number."""
    page, per_page = _bounds(page, per_page)
    search = (search or "").strip()
    stmt = (select(ProcessInstance, ProcessDefinitionVersion.version, ProcessDefinition.key, BusinessKey.business_key)
            .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
            .outerjoin(BusinessKey, BusinessKey.instance_id == ProcessInstance.id)
            .order_by(ProcessInstance.id.desc()))
    if status:
        stmt = stmt.where(ProcessInstance.status == status)
    if search:
        pattern = _like(search)
        stmt = stmt.where(or_(func.lower(ProcessInstance.title).like(pattern, escape="\\"),
                              func.lower(BusinessKey.business_key).like(pattern, escape="\\"),
                              func.lower(ProcessDefinition.key).like(pattern, escape="\\"),
                              cast(ProcessInstance.id, String) == search.lstrip("#")))
    rows, total, page = _paged(session, stmt, page, per_page)
    items = [{"id": i.id, "title": i.title, "process": k, "version": v, "status": i.status, "business_key": bk,
              "started_at": i.started_at, "started_by": i.started_by, "ended_at": i.ended_at,
              "cancel_reason": i.cancel_reason} for i, v, k, bk in rows]
    return Page(items, page, per_page, total, {"status": status or "", "search": search,
                                               "per_page": per_page if per_page != 50 else ""})
