"""Storage cleanup: delete the bucket's objects that nothing references any more.

One call examines one page of at most ``cleanup_page_objects`` objects under ``datasets/`` and
``runs/``, in name order from where the previous call stopped (``shared.storage.cleanup``), and
deletes those the rules of ``shared.domain.cleanup`` give up: orphans of crashed
consolidations, old versions no run pins, objects of deleted leaderboards, rows left behind by
runs that ended long ago. It answers how many it deleted and whether more remain; the next
firing of the hourly job continues, and after the last page the walk starts over (at 1,000
objects a page, a bucket of 24,000 objects is walked once a day).

Safe under concurrent consolidations and runs: the page is listed before the state that keeps
its objects alive is read, so an object listed was there before that state; nothing younger
than ``cleanup_grace_seconds`` is deleted; an object above the current version is kept while
its leaderboard's consolidation lease is held. Idempotent: a deletion of an object already gone
counts nothing, and two calls at once examine the same page at worst.

``leaderboard_id`` scopes a pass to one leaderboard's two prefixes (an operator cleaning up
after a failed delete, and tests); it keeps its own place.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.cleanup import Policy, StoredObject, doomed, needs, parse

log = logging.getLogger(__name__)

PREFIXES = ("datasets/", "runs/")  # in name order: a cursor in one sorts before the next


def clean_storage(deps: Deps, *, leaderboard_id: str | None = None) -> dict[str, Any]:
    settings = deps.settings
    repo = deps.cleanup
    prefixes: tuple[str, ...] = PREFIXES
    if leaderboard_id is None:
        scope = "bucket"
    else:
        scope = f"leaderboard-{leaderboard_id}"
        prefixes = tuple(f"{prefix}{leaderboard_id}/" for prefix in PREFIXES)
    after = repo.cursor(scope)
    page, more = _page(deps, prefixes, after, settings.cleanup_page_objects)

    now = utcnow()  # after the listing: every object of the page is at least this old
    wanted = needs(page)
    with_versions = {
        path.leaderboard_id
        for path in map(parse, (item.name for item in page))
        if path is not None and path.version is not None
    }
    boards = repo.boards(wanted.leaderboards, with_runs=with_versions, now=now)
    runs = repo.runs(wanted.runs)
    policy = Policy(
        now=now,
        grace=timedelta(seconds=settings.cleanup_grace_seconds),
        keep_versions=settings.cleanup_keep_versions,
    )
    deleted = deleted_bytes = 0
    for item in doomed(page, boards, runs, policy):
        if deps.datasets.delete_object(item):
            deleted += 1
            deleted_bytes += item.size
    repo.save_cursor(scope, page[-1].name if more else None, now=now)
    log.info(
        "storage cleanup (%s): examined %d objects, deleted %d (%d bytes), more: %s",
        scope, len(page), deleted, deleted_bytes, more,
    )  # fmt: skip
    return {
        "scope": leaderboard_id or "bucket",
        "examined": len(page),
        "deleted": deleted,
        "deleted_bytes": deleted_bytes,
        "more": more,
    }


def _page(
    deps: Deps, prefixes: tuple[str, ...], after: str | None, limit: int
) -> tuple[list[StoredObject], bool]:
    """Up to ``limit`` objects after ``after`` under ``prefixes``, and whether more follow."""
    page: list[StoredObject] = []
    for prefix in prefixes:
        want = limit + 1 - len(page)
        if want <= 0:
            break
        page += deps.datasets.list_page(prefix, after=after, limit=want)
    return page[:limit], len(page) > limit
