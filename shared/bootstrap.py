"""The one place that builds clients and repositories: :func:`build` from a ``Settings``.

Cloud Functions reuse an instance for many requests, so :func:`deps` builds them once per
process (lazily, never at import) from the environment's settings, and every function's router
hands them to its handlers. Tests build their own with ``build(Settings(...))`` or
``dataclasses.replace(deps, settings=...)``; the local stack calls :func:`reset` after pointing
the environment at new emulators.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from google.cloud import firestore, storage, tasks_v2

from shared.providers.google_identity import CertsLimits, GoogleCerts
from shared.services.hotcache import Caches, TtlCache
from shared.settings import Settings, get_settings
from shared.storage.accounts import TokenRepo, WorkspaceRepo
from shared.storage.candidates import CandidateRepo
from shared.storage.cleanup import CleanupRepo
from shared.storage.datasets import DatasetStore
from shared.storage.drgero_models import DrGeroModelRepo
from shared.storage.idempotency import IdempotencyRecords
from shared.storage.leaderboards import LeaderboardRepo
from shared.storage.origins import OriginRepo
from shared.storage.push_store import PushStore
from shared.storage.reviews import ReviewRepo
from shared.storage.runs import RunRepo
from shared.storage.secrets import SecretStore
from shared.storage.traces import TraceRepo
from shared.storage.unit_of_work import UnitOfWork
from shared.storage.writebehind import WriteBehind
from shared.tasks.queue import TaskQueue

T = TypeVar("T")


def firestore_client(settings: Settings) -> firestore.Client:
    # The client reads FIRESTORE_EMULATOR_HOST itself; settings only choose the project.
    return firestore.Client(project=settings.project_id)


def storage_client(settings: Settings) -> storage.Client:
    if settings.storage_emulator_host:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=settings.project_id, credentials=AnonymousCredentials())
    return storage.Client(project=settings.project_id)


def tasks_client(settings: Settings) -> tasks_v2.CloudTasksClient:
    if settings.tasks_emulator_host:
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(settings.tasks_emulator_host)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    return tasks_v2.CloudTasksClient()


def http_client(settings: Settings) -> httpx.Client:
    from shared.providers.egress import EgressPolicy
    from shared.providers.http import new_client
    from shared.providers.reading import ReadLimits

    return new_client(
        egress=EgressPolicy.from_settings(settings),
        read_limits=ReadLimits.from_settings(settings),
    )


def oidc_certs(settings: Settings) -> GoogleCerts:
    """Google's ID-token certificates (internal endpoints), refreshed as their cache allows."""
    return GoogleCerts(url=settings.oidc_certs_url, limits=CertsLimits.from_settings(settings))


def once(build: Callable[[], T]) -> Callable[[], T]:
    """``build()`` on the first call, the same object on every later one (thread-safe)."""
    return lru_cache(maxsize=1)(build)


class Checkpoints:
    """Named points of multi-step work (a shard's rows, a run's finalize) where a test stops it.

    The work calls ``deps.checkpoints("step", **context)`` at each point; a ``hook`` set here is
    called with the same arguments and may raise, which kills the work right there, through
    the real code path (the task answers 5xx, Cloud Tasks redelivers). Production sets none.
    """

    def __init__(self) -> None:
        self.hook: Callable[..., None] | None = None

    def __call__(self, step: str, **context: Any) -> None:
        if self.hook is not None:
            self.hook(step, **context)


@dataclass(frozen=True)
class Deps:
    """Everything a service needs, built once per instance."""

    settings: Settings
    db: firestore.Client  # the readiness probe and tests only: services use the repositories
    workspaces: WorkspaceRepo
    tokens: TokenRepo
    leaderboards: LeaderboardRepo
    push: PushStore
    traces: TraceRepo
    datasets: DatasetStore
    tasks: TaskQueue
    secrets: SecretStore
    candidates: CandidateRepo
    drgero_models: DrGeroModelRepo
    runs: RunRepo
    reviews: ReviewRepo
    cleanup: CleanupRepo  # what the storage cleanup reads, and its place in the bucket
    origins: OriginRepo
    idempotency: IdempotencyRecords
    unit_of_work: Callable[[], UnitOfWork]  # a new atomic commit of several writes
    writes: WriteBehind  # traces and spend that no response waits for, committed in batches
    http: Callable[[], httpx.Client]  # pooled client for model providers, built on first use
    # Google's ID-token certificates for internal callers, built on first use.
    oidc_certs: Callable[[], GoogleCerts]
    checkpoints: Checkpoints = field(default_factory=Checkpoints)  # where tests stop the work
    caches: Caches = field(default_factory=Caches)  # the hot-path caches of this instance
    # Work done after an answer is sent (the inference feedback loop's pushes).
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="after")
    )

    def cache(self, name: str, *, ttl: float) -> TtlCache:
        """The hot-path cache ``name`` of this instance, bounded by the cache settings."""
        return self.caches.get(
            name,
            ttl=ttl,
            max_entries=self.settings.inference_cache_max_entries,
            max_misses=self.settings.inference_cache_max_misses,
        )


def build(current: Settings) -> Deps:
    """Every client and repository of one instance, from ``current`` (no global is read).

    Clients that connect on first use (the pooled HTTP client, Google's certificates) are
    built on first use, once; the Google clients connect lazily themselves."""
    db = firestore_client(current)
    return Deps(
        settings=current,
        db=db,
        workspaces=WorkspaceRepo(db),
        tokens=TokenRepo(db),
        leaderboards=LeaderboardRepo(db),
        push=PushStore(db),
        traces=TraceRepo(db),
        datasets=DatasetStore(storage_client(current), current.bucket),
        tasks=TaskQueue(once(lambda: tasks_client(current)), current),
        secrets=SecretStore(
            db, current.secrets_key.get_secret_value() if current.secrets_key else None
        ),
        http=once(lambda: http_client(current)),
        oidc_certs=once(lambda: oidc_certs(current)),
        candidates=CandidateRepo(db),
        drgero_models=DrGeroModelRepo(db),
        runs=RunRepo(
            db,
            max_document_bytes=current.firestore_max_document_bytes,
            max_commit_bytes=current.firestore_max_commit_bytes,
            max_commit_writes=current.firestore_max_commit_writes,
        ),
        reviews=ReviewRepo(db),
        cleanup=CleanupRepo(db),
        origins=OriginRepo(db),
        idempotency=IdempotencyRecords(db),
        unit_of_work=lambda: UnitOfWork(db),
        writes=WriteBehind(
            db,
            max_document_bytes=current.firestore_max_document_bytes,
            max_commit_bytes=current.firestore_max_commit_bytes,
            max_commit_writes=current.firestore_max_commit_writes,
            max_queued_documents=current.writebehind_max_queued_documents,
            full_wait_seconds=current.writebehind_full_wait_seconds,
        ),
    )


@lru_cache(maxsize=1)
def deps() -> Deps:
    """This instance's dependencies, built once from the environment's settings: what every
    function's router hands its handlers. The only place that reads the settings global."""
    return build(get_settings())


def reset() -> None:
    """Forget the settings and the dependencies built from them (the local stack calls this
    after pointing the environment at new emulators)."""
    get_settings.cache_clear()
    deps.cache_clear()
