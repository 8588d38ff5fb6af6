"""The Plane (MQ Planning) API client, on the core's :class:`app.http.ServiceClient`.

It uses the ``/api/v1/workspaces/{slug}/projects/{project_id}/...`` paths that every Plane CE
version serves (``/issues/``, ``cycle-issues``, ``module-issues``), pages with an explicit
``per_page`` until ``next_page_results`` is false, and keeps inside Plane's 60 requests/minute
per key (:mod:`plugins.planning.plane_http`). Plane's failures become the seed's problems in
:mod:`plugins.planning.plane_errors`; both modules' names are also importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from app.http import HttpError, ServiceClient
from plugins.planning.plane_errors import (
    CycleCompleted,
    InvalidPlaneId,
    ModuleNameTaken,
    PlaneError,
    plane_id,
    to_problem,
)
from plugins.planning.plane_http import (
    BUCKETS,
    IMPORT_SHARE,
    KEY_BUDGET,
    PLANE_RATE_LIMIT,
    POLLING_SHARE,
    SERVICE,
    PlaneConfig,
    budgets,
    build_http,
)

__all__ = [
    "BUCKETS",
    "EXTERNAL_SOURCE",
    "IMPORT_SHARE",
    "KEY_BUDGET",
    "PER_PAGE",
    "PLANE_RATE_LIMIT",
    "POLLING_SHARE",
    "SERVICE",
    "CycleCompleted",
    "InvalidPlaneId",
    "ModuleNameTaken",
    "PlaneClient",
    "PlaneConfig",
    "PlaneError",
    "budgets",
    "build_http",
    "plane_id",
    "to_problem",
]

PER_PAGE = 100
EXTERNAL_SOURCE = "junction"


class PlaneClient:
    """Calls of one Plane project. ``http`` may be injected (tests: fake clocks and sleeps)."""

    def __init__(
        self, config: PlaneConfig, http: ServiceClient | None = None, per_page: int = PER_PAGE
    ) -> None:
        self.config = config
        self.per_page = per_page
        self.http = http or build_http(config)
        self._states: dict[str, dict[str, Any]] | None = None
        self._labels: dict[str, str] | None = None

    @property
    def base(self) -> str:
        """The project's path prefix."""
        return f"/api/v1/workspaces/{self.config.workspace_slug}/projects/{self.config.project_id}"

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()

    # -- reading ----------------------------------------------------------------------------
    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        bucket: str | None = None,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list, one page (one call) at a time.

        ``per_page`` is always explicit (CE defaults to 1000, Cloud to 100); paging stops when
        ``next_page_results`` is false (``next_cursor`` is never empty). ``on_page(fetched,
        total)`` is told after each page (progress bars).
        """
        query: dict[str, Any] = {"per_page": self.per_page, **(params or {})}
        fetched = 0
        while True:
            page = self.http.get(path, params=query, bucket=bucket).json()
            if isinstance(page, list):  # e.g. cycle_view=current answers a plain array
                if on_page is not None:
                    on_page(len(page), len(page))
                yield from page
                return
            results = page.get("results") or []
            fetched += len(results)
            if on_page is not None:
                on_page(fetched, page.get("total_count"))
            yield from results
            if not page.get("next_page_results") or not results:
                return
            query["cursor"] = page["next_cursor"]

    def me(self) -> dict[str, Any]:
        """The key's user: the cheapest check that the key is valid."""
        user: dict[str, Any] = self.http.get("/api/v1/users/me/").json()
        return user

    def project(self) -> dict[str, Any]:
        """The project (name, identifier, cycle_view, module_view...)."""
        project: dict[str, Any] = self.http.get(f"{self.base}/").json()
        return project

    def instance_version(self) -> str | None:
        """Plane's version from ``/api/instances/`` when the instance exposes it."""
        try:
            data = self.http.get("/api/instances/", max_retries=0).json()
        except (HttpError, ValueError):
            return None
        instance = data.get("instance") if isinstance(data, dict) else None
        return (instance or {}).get("current_version")

    def cycles(self, bucket: str | None = None) -> list[dict[str, Any]]:
        """Every (non-archived) cycle of the project."""
        return list(self.paginate(f"{self.base}/cycles/", bucket=bucket))

    def cycle(self, cycle_id: str, bucket: str | None = None) -> dict[str, Any]:
        """One cycle."""
        path = f"{self.base}/cycles/{plane_id(cycle_id)}/"
        cycle: dict[str, Any] = self.http.get(path, bucket=bucket).json()
        return cycle

    def cycle_work_items(
        self,
        cycle_id: str,
        bucket: str | None = None,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> list[dict[str, Any]]:
        """The cycle's work items, states and labels expanded: one call per page."""
        return list(
            self.paginate(
                f"{self.base}/cycles/{plane_id(cycle_id)}/cycle-issues/",
                {"expand": "state,labels"},
                bucket=bucket,
                on_page=on_page,
            )
        )

    def states(self, bucket: str | None = None) -> dict[str, dict[str, Any]]:
        """The project's states by id (cached for the client's life)."""
        if self._states is None:
            self._states = {
                s["id"]: s for s in self.paginate(f"{self.base}/states/", bucket=bucket)
            }
        return self._states

    def labels(self, bucket: str | None = None) -> dict[str, str]:
        """The project's label names by id (cached for the client's life)."""
        if self._labels is None:
            self._labels = {
                lb["id"]: str(lb.get("name") or "")
                for lb in self.paginate(f"{self.base}/labels/", bucket=bucket)
            }
        return self._labels

    def state_for_group(self, group: str) -> str | None:
        """The first state of a group (``started``, ``completed``...), by sequence."""
        candidates = [s for s in self.states(bucket="import").values() if s.get("group") == group]
        candidates.sort(key=lambda s: (not s.get("default"), s.get("sequence") or 0))
        return candidates[0]["id"] if candidates else None

    # -- writing ----------------------------------------------------------------------------
    def _create(self, path: str, body: dict[str, Any]) -> tuple[str, bool]:
        """POST; a 409 for an existing ``external_id`` returns that object's id instead.

        Plane answers 409 only when ``external_source`` and ``external_id`` both match, i.e.
        for an object we created. The external id makes the POST safe to repeat, so it is
        retried like an idempotent call.
        """
        try:
            created = self.http.post(path, json=body, bucket="import", idempotent=True).json()
            return str(created["id"]), True
        except HttpError as error:
            existing = _existing_id(error)
            if error.status == 409 and existing:
                return existing, False
            raise

    def module(self, module_id: str) -> dict[str, Any]:
        """One module (name, ``external_source``, ``external_id``...)."""
        path = f"{self.base}/modules/{plane_id(module_id, 'module_id')}/"
        module: dict[str, Any] = self.http.get(path, bucket="import").json()
        return module

    def create_module(self, name: str, description: str, external_id: str) -> tuple[str, bool, str]:
        """Create (or find our own) module; ``(id, created, its name in Plane)``.

        A module whose name is taken is adopted only when it carries our ``external_source``
        and ``external_id`` (Plane may answer the name clash before it looks at the external
        id); anyone else's module raises :class:`ModuleNameTaken`. An adopted module's name is
        read back: an earlier run may have given it another name.
        """
        name = name[:255]
        try:
            module_id, created = self._create(
                f"{self.base}/modules/",
                {
                    "name": name,
                    "description": description,
                    "external_source": EXTERNAL_SOURCE,
                    "external_id": external_id,
                },
            )
        except HttpError as error:
            return self._adopt_or_refuse(error, name, external_id)
        if created:
            return module_id, True, name
        return module_id, False, str(self.module(module_id).get("name") or name)

    def _adopt_or_refuse(
        self, error: HttpError, name: str, external_id: str
    ) -> tuple[str, bool, str]:
        """A refused module create: our own module under that name, or the error raised."""
        if error.status != 400 or _code(error) != "MODULE_NAME_ALREADY_EXISTS":
            raise error
        existing_id = _existing_id(error)
        existing = self.module(existing_id) if existing_id else None
        if existing is not None and (
            existing.get("external_source"),
            existing.get("external_id"),
        ) == (EXTERNAL_SOURCE, external_id):
            return str(existing["id"]), False, str(existing.get("name") or name)
        raise ModuleNameTaken(name, existing) from error

    def create_work_item(self, body: dict[str, Any], external_id: str) -> tuple[str, bool]:
        """Create (or find) a work item; ``(id, created)``."""
        return self._create(
            f"{self.base}/issues/",
            {**body, "external_source": EXTERNAL_SOURCE, "external_id": external_id},
        )

    def add_to_module(self, module_id: str, issue_ids: list[str]) -> None:
        """Link work items to a module (repeating it is harmless)."""
        if issue_ids:
            self.http.post(
                f"{self.base}/modules/{plane_id(module_id, 'module_id')}/module-issues/",
                json={"issues": issue_ids},
                bucket="import",
                idempotent=True,
            )

    def add_to_cycle(self, cycle_id: str, issue_ids: list[str]) -> None:
        """Put work items in a cycle; :class:`CycleCompleted` when it has ended."""
        if not issue_ids:
            return
        try:
            self.http.post(
                f"{self.base}/cycles/{plane_id(cycle_id)}/cycle-issues/",
                json={"issues": issue_ids},
                bucket="import",
                idempotent=True,
            )
        except HttpError as error:
            if _code(error) == "CYCLE_COMPLETED":
                raise CycleCompleted(
                    "The cycle has already ended; Plane accepts no new work items in it."
                ) from error
            raise

    def comment(self, issue_id: str, html: str, external_id: str) -> tuple[str, bool]:
        """Comment on a work item once (the external id prevents a second comment)."""
        return self._create(
            f"{self.base}/issues/{plane_id(issue_id, 'work_item_id')}/comments/",
            {"comment_html": html, "external_source": EXTERNAL_SOURCE, "external_id": external_id},
        )

    def update_cycle_description(self, cycle_id: str, description: str) -> None:
        """Replace a cycle's description; :class:`CycleCompleted` once the cycle has ended."""
        try:
            self.http.patch(
                f"{self.base}/cycles/{plane_id(cycle_id)}/",
                json={"description": description},
                bucket="import",
                # The whole description is sent: repeating the PATCH changes nothing more.
                idempotent=True,
            )
        except HttpError as error:
            if error.status == 400 and "completed" in (error.remote_message or "").lower():
                raise CycleCompleted(
                    "Plane refuses edits to a cycle whose end date has passed, so the "
                    "retrospective was not written to the cycle."
                ) from error
            raise


def _existing_id(error: HttpError) -> str | None:
    existing = error.body.get("id") if isinstance(error.body, dict) else None
    return str(existing) if existing else None


def _code(error: HttpError) -> str | None:
    return error.body.get("code") if isinstance(error.body, dict) else None
