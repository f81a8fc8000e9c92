"""The one place that builds clients: lazily, once per instance, never at import.

Cloud Functions reuse an instance for many requests, so clients are cached here for the life
of the process. Tests that restart emulators call :func:`reset` to drop the cached clients.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
from google.cloud import firestore, storage, tasks_v2

from shared.providers.google_identity import CertsLimits, GoogleCerts
from shared.services.hotcache import Caches, TtlCache
from shared.settings import Settings, get_settings
from shared.storage.accounts import TokenRepo, WorkspaceRepo
from shared.storage.cleanup import CleanupRepo
from shared.storage.datasets import DatasetStore
from shared.storage.leaderboards import LeaderboardRepo
from shared.storage.models import CandidateRepo, WorkspaceModelRepo
from shared.storage.origins import OriginRepo
from shared.storage.push_store import PushStore
from shared.storage.reviews import ReviewRepo
from shared.storage.runs import RunRepo
from shared.storage.secrets import SecretStore
from shared.storage.traces import TraceRepo
from shared.storage.writebehind import WriteBehind
from shared.tasks.queue import TaskQueue


@lru_cache(maxsize=1)
def firestore_client() -> firestore.Client:
    # The client reads FIRESTORE_EMULATOR_HOST itself; settings only choose the project.
    return firestore.Client(project=get_settings().project_id)


@lru_cache(maxsize=1)
def storage_client() -> storage.Client:
    settings = get_settings()
    if settings.storage_emulator_host:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=settings.project_id, credentials=AnonymousCredentials())
    return storage.Client(project=settings.project_id)


@lru_cache(maxsize=1)
def tasks_client() -> tasks_v2.CloudTasksClient:
    settings = get_settings()
    if settings.tasks_emulator_host:
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(settings.tasks_emulator_host)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    return tasks_v2.CloudTasksClient()


@lru_cache(maxsize=1)
def http_client() -> httpx.Client:
    from shared.providers.egress import EgressPolicy
    from shared.providers.http import new_client
    from shared.providers.reading import ReadLimits

    settings = get_settings()
    return new_client(
        egress=EgressPolicy.from_settings(settings),
        read_limits=ReadLimits.from_settings(settings),
    )


@lru_cache(maxsize=1)
def oidc_certs() -> GoogleCerts:
    """Google's ID-token certificates, cached for this instance (internal endpoints)."""
    current = get_settings()
    return GoogleCerts(url=current.oidc_certs_url, limits=CertsLimits.from_settings(current))


def settings() -> Settings:
    return get_settings()


def reset() -> None:
    """Forget settings and clients (tests that change the environment call this)."""
    for cached in (
        get_settings,
        firestore_client,
        storage_client,
        tasks_client,
        http_client,
        oidc_certs,
        deps,
    ):
        cached.cache_clear()


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
    db: firestore.Client
    workspaces: WorkspaceRepo
    tokens: TokenRepo
    leaderboards: LeaderboardRepo
    push: PushStore
    traces: TraceRepo
    datasets: DatasetStore
    tasks: TaskQueue
    secrets: SecretStore
    candidates: CandidateRepo
    workspace_models: WorkspaceModelRepo
    runs: RunRepo
    reviews: ReviewRepo
    cleanup: CleanupRepo  # what the storage cleanup reads, and its place in the bucket
    origins: OriginRepo
    writes: WriteBehind  # traces and spend that no response waits for, committed in batches
    http: Callable[[], httpx.Client]  # pooled client for model providers, built on first use
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


@lru_cache(maxsize=1)
def deps() -> Deps:
    current = get_settings()
    db = firestore_client()
    return Deps(
        settings=current,
        db=db,
        workspaces=WorkspaceRepo(db),
        tokens=TokenRepo(db),
        leaderboards=LeaderboardRepo(db),
        push=PushStore(db),
        traces=TraceRepo(db),
        datasets=DatasetStore(storage_client(), current.bucket),
        tasks=TaskQueue(tasks_client, current),
        secrets=SecretStore(
            db, current.secrets_key.get_secret_value() if current.secrets_key else None
        ),
        http=http_client,
        candidates=CandidateRepo(db),
        workspace_models=WorkspaceModelRepo(db),
        runs=RunRepo(
            db,
            max_document_bytes=current.firestore_max_document_bytes,
            max_commit_bytes=current.firestore_max_commit_bytes,
            max_commit_writes=current.firestore_max_commit_writes,
        ),
        reviews=ReviewRepo(db),
        cleanup=CleanupRepo(db),
        origins=OriginRepo(db),
        writes=WriteBehind(
            db,
            max_document_bytes=current.firestore_max_document_bytes,
            max_commit_bytes=current.firestore_max_commit_bytes,
            max_commit_writes=current.firestore_max_commit_writes,
            max_queued_documents=current.writebehind_max_queued_documents,
            full_wait_seconds=current.writebehind_full_wait_seconds,
        ),
    )
