"""Configuration, read once from the environment and validated at cold start.

Every knob has a default that works on the local stack; production sets only environment
variables (project, bucket, queue, base URLs, invokers) and needs no code change.
Emulators are selected by the standard variables the Google clients read themselves:
``FIRESTORE_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST`` and (ours, for Cloud Tasks, which has no
standard one) ``CLOUD_TASKS_EMULATOR_HOST``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# In DRGERO_INTERNAL_BASE_URL: where the serving function's name goes.
FUNCTION_PLACEHOLDER = "{function}"


class Settings(BaseSettings):
    # A refused value never appears in the error: some of them are secrets.
    model_config = SettingsConfigDict(
        env_prefix="DRGERO_", extra="ignore", hide_input_in_errors=True
    )

    project_id: str = Field(
        default="drgero-local",
        validation_alias=AliasChoices("DRGERO_PROJECT_ID", "GOOGLE_CLOUD_PROJECT"),
    )
    bucket: str = "drgero-local-datasets"
    # Full Cloud Tasks queue path: projects/<p>/locations/<l>/queues/<q>.
    tasks_queue: str = "projects/drgero-local/locations/local/queues/drgero"
    tasks_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("CLOUD_TASKS_EMULATOR_HOST")
    )
    firestore_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("FIRESTORE_EMULATOR_HOST")
    )
    storage_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("STORAGE_EMULATOR_HOST")
    )

    # Where Cloud Tasks and Cloud Scheduler deliver internal calls: the base URL of the private
    # function serving a path, and the audience its ID token carries. ``{function}`` is replaced
    # by the function's name (production: ``https://drgero-{function}-<project number>.<region>
    # .run.app``); without it one base URL serves every function (the local dispatcher).
    internal_base_url: str = "http://127.0.0.1:8080"
    # Internal endpoints accept only Google-signed ID tokens (``Authorization: Bearer``) of these
    # service accounts (comma-separated emails: the tasks and scheduler invokers). Empty, they
    # refuse every call (403 internal_disabled): secure by default.
    internal_invokers: str = ""
    # Where Google publishes the certificates that sign ID tokens (v1 format: key id -> PEM),
    # and the issuers a token may name (comma-separated).
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    oidc_issuers: str = "https://accounts.google.com,accounts.google.com"
    # The certs answer: its largest body (Google's is ~4 KiB), how long one fetch may take, the
    # longest it is kept whatever its Cache-Control max-age says, and the shortest time between
    # two fetches (a token with an unknown key id refetches at most once per this interval).
    # A fetch that fails or passes a bound answers 503 internal_certs_unavailable.
    oidc_certs_max_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    oidc_certs_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    oidc_certs_max_cache_seconds: int = Field(default=6 * 3600, ge=60, le=24 * 3600)
    oidc_certs_min_refetch_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How far a token's iat/exp may be off our clock and still be accepted.
    oidc_clock_skew_seconds: int = Field(default=10, ge=0, le=300)
    # Service account whose ID token Cloud Tasks attaches to every task (production).
    tasks_service_account: str | None = None
    # How long Cloud Tasks waits for a task's answer before it retries it: 15 s .. 30 min (what
    # Cloud Tasks allows); every function's timeout must fit in it.
    tasks_dispatch_deadline_seconds: int = Field(default=1800, ge=15, le=1800)
    # Local stack and tests only: the ID-token stand-in (the simulator's) that the task queue
    # and the scheduler stand-in ask for tokens, since the Cloud Tasks emulator mints none.
    # Unset in production (Cloud Tasks and Cloud Scheduler attach Google's tokens themselves).
    dev_id_token_url: str | None = None
    # The public base URL clients use (shown in webhook examples and download paths).
    public_base_url: str = "http://127.0.0.1:8080"

    # Request bodies of the admin API (leaderboards, candidates, tokens, ...): the largest body
    # (413 payload_too_large; push and inference have their own limits below).
    request_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Request bodies: the deepest nesting of arrays and objects a JSON body may have (a deeper
    # one is 400 json_too_deep before any handler or model sees it).
    request_max_json_depth: Annotated[int, Field(ge=1, le=500)] = 64
    # The longest X-Request-Id a client may send that is echoed and logged as the request's id
    # (letters, digits, ``._:+/=-``); a longer or other value is replaced by a generated id.
    request_id_max_chars: int = Field(default=128, ge=16, le=1024)
    # The access log line's httpRequest.userAgent keeps at most this many characters of the
    # client's User-Agent (the rest is cut: a header is no reason to write kilobytes per line).
    log_user_agent_max_chars: int = Field(default=512, ge=16, le=8192)
    # GET /readyz: how long its one Firestore read may take before the function answers 503
    # not_ready (uptime checks want an answer, not a hung connection).
    readyz_timeout_seconds: float = Field(default=2.0, gt=0, le=30)

    # Push limits. Production Firestore caps a request at 10 MiB and a document at 1 MiB.
    push_max_body_bytes: int = 5 * 1024 * 1024
    push_max_rows: int = 1000
    push_max_row_bytes: int = 256 * 1024
    # A pending batch closes past this many uncompressed bytes; one more row (a stored row is
    # at most ~2x push_max_row_bytes) still keeps the document under the 1 MiB limit.
    pending_batch_bytes: int = 384 * 1024

    # Idempotency: how long an in-flight first request holds its key, how long a duplicate
    # waits for the first answer, and how long answers are kept.
    idempotency_lease_seconds: float = 60.0
    idempotency_wait_seconds: float = 20.0
    idempotency_ttl_hours: int = 24

    # Firestore's production limits, which the emulator does not all enforce (a document is at
    # most 1 MiB, a commit 10 MiB and 500 writes; the emulator's gRPC limit is 4 MiB). Documents
    # we store beyond our control (traces, review items) are cut to the first, field by field,
    # with a marker; commits are cut by bytes and count to the other two.
    firestore_max_document_bytes: int = 1_000_000
    firestore_max_commit_bytes: int = 3 * 1024 * 1024
    firestore_max_commit_writes: int = 450
    # Write-behind (traces and spend nobody waits for): at most this many documents queued;
    # past it a writer waits up to writebehind_full_wait_seconds for room, then the document is
    # dropped and counted (logged). Spend increments are never dropped (one summed entry per
    # document, so they do not grow with the calls).
    writebehind_max_queued_documents: int = 5000
    writebehind_full_wait_seconds: float = 0.5
    # An idempotent answer larger than this is not kept for replay (the call is answered and
    # charged; a retry calls again). Below it, an answer too large for one document is stored in
    # parts, in the same commit as its charge, so it must fit in firestore_max_commit_bytes.
    idempotency_max_answer_bytes: int = 2 * 1024 * 1024

    # Consolidation: lease length (the fencing guard) and pending documents folded per round.
    consolidation_lease_seconds: float = 600.0
    consolidation_round_docs: int = 400

    # Storage cleanup (POST /internal/jobs/storage-cleanup, daily; shared.domain.cleanup):
    # no object younger than the grace is deleted, nor a version superseded less than the
    # grace ago, nor rows of a run that ended less than the grace ago (it outlasts any
    # consolidation lease, download and dataset copy); the versions kept just below the
    # current one whatever their age; and the objects one call examines (the next call
    # continues where it stopped). The grace is at least an hour (the Cloud Tasks dispatch
    # deadline, which bounds a run's copy of its version, is at most 30 minutes) and at least
    # the consolidation lease and the signed download URLs' lifetime.
    cleanup_grace_seconds: float = Field(default=24 * 3600.0, ge=3600)
    cleanup_keep_versions: int = Field(default=3, ge=0)
    cleanup_page_objects: int = Field(default=1000, ge=1, le=10_000)

    # PUSH leaderboards need this many consolidated rows before models can be added.
    push_min_rows_for_models: int = 100
    # The free plan: at most this many leaderboards, and no deleting them.
    free_plan_max_leaderboards: int = 3

    # Model providers. Pointing these at openrouter.ai / huggingface.co is the whole switch
    # from the local simulator to the real services.
    openrouter_base_url: str = Field(
        default="https://openrouter.ai/api/v1", validation_alias=AliasChoices("OPENROUTER_BASE_URL")
    )
    hf_endpoint: str = Field(
        default="https://huggingface.co", validation_alias=AliasChoices("HF_ENDPOINT")
    )
    # Key used when a workspace has none of its own (the local stack's simulator accepts any
    # "sk-or-" key); production leaves it unset so every workspace brings its own.
    openrouter_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENROUTER_API_KEY")
    )
    # Upstream answers (every model endpoint, catalog, Hub call) are read through one bounded
    # reader (shared.providers.http): sizes are *decoded* bytes, after Content-Encoding, so a
    # gzip bomb stops at the cap. A model answer is at most a few MiB of text (128k tokens is
    # ~0.5 MiB) and OpenRouter's whole catalog ~2 MiB: 8 MiB leaves room and bounds 80
    # concurrent calls of one instance to well under its memory. Past a cap the call fails
    # with upstream_response_too_large (inference falls back, a run row is an error).
    upstream_max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # An error answer (non-2xx) is read up to this much and the rest dropped (we keep only
    # the upstream's message, 500 characters of it).
    upstream_max_error_body_bytes: int = Field(default=64 * 1024, gt=0)
    # One SSE line, and one SSE event's data: a stream chunk is a few hundred bytes.
    upstream_max_sse_line_bytes: int = Field(default=1024 * 1024, gt=0)
    # The text a stream may deliver in total (UTF-8 bytes of its deltas), as a body would.
    upstream_max_stream_output_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Egress policy (shared.providers.egress): addresses every upstream connection may reach
    # although they are loopback/private/link-local/...; comma-separated CIDRs. Production
    # leaves it empty (only public addresses); the local stack and tests allow loopback for
    # the simulator. Refused: endpoint_not_allowed (422 at add time, a provider error at call).
    egress_allow_cidrs: str = ""
    # How long resolving an endpoint's host name may take (at add time and at connect time): a
    # tenant's slow name server fails its own calls, it does not hold ours.
    egress_resolve_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # The longest token (auth header value) a custom or Hugging Face endpoint may be given.
    endpoint_token_max_chars: int = Field(default=8192, gt=0)

    # Runs: rows per shard task, rows evaluated at once inside a shard, shards assumed to run
    # in parallel (the queue's max concurrent dispatches) for estimates, and per-call limits.
    run_shard_size: int = 25
    run_row_concurrency: int = 8
    run_parallel_shards: int = 4
    run_call_timeout_seconds: float = 60.0
    run_call_attempts: int = 5

    # Inference: how long one model may take (each attempt), how long one request may take
    # across its fallbacks (both defaults a leaderboard may lower or raise), the largest request
    # body, and how stale the hot-path caches of tokens, leaderboards, candidate models and
    # provider keys may be (a revoked token works at most this long).
    inference_timeout_seconds: float = 60.0
    inference_deadline_seconds: float = 120.0
    inference_max_body_bytes: int = 4 * 1024 * 1024
    inference_cache_seconds: float = 5.0
    # Entries of each hot-path cache (tokens, leaderboards, candidates, endpoints): found
    # entries, and separately the misses (unknown tokens), so that random tokens evict only
    # other misses. Past either bound the least recently used entry is dropped.
    inference_cache_max_entries: int = Field(default=10_000, ge=1)
    inference_cache_max_misses: int = Field(default=1_000, ge=1)
    # How long a duplicate of an inference call still in flight (same Idempotency-Key) waits
    # for its answer before 409 idempotency_in_progress (with Retry-After): a worker thread
    # is not held for the first call's whole deadline.
    inference_idempotency_wait_seconds: float = Field(default=3.0, ge=0)
    # Browser callers (CORS): how many origins a workspace may allow in all (``allowed_origins``
    # and every leaderboard's ``push_origins`` together), how long an instance trusts what it
    # read of an origin's grants (an origin an admin removes is refused everywhere within
    # this), and how long a browser may cache a preflight's answer (``Access-Control-Max-Age``).
    cors_max_origins: int = Field(default=50, ge=1, le=1000)
    cors_cache_seconds: float = Field(default=30.0, ge=0)
    cors_max_age_seconds: int = Field(default=600, ge=0, le=86_400)
    # GET /v1/models: leaderboards per page (the default and the largest ``limit``).
    models_list_max_limit: int = Field(default=100, ge=1, le=1000)
    # Candidate models per leaderboard (manual adds and auto-select): past it 409
    # candidate_limit_reached. Every run calls every candidate on every row.
    max_candidates_per_leaderboard: int = Field(default=50, ge=1)
    # The shortest timeout a client may ask for in X-DrGero-Timeout (shorter is 400
    # invalid_header; the OpenAI SDKs' X-Stainless-Read-Timeout is ignored then).
    inference_min_client_timeout_seconds: Annotated[
        float, Field(gt=0, le=60, allow_inf_nan=False)
    ] = 0.1

    # GET datasets (a .jsonl / .jsonl.gz file on the Hugging Face Hub). The most bytes read,
    # uncompressed (validation and the copy a run pins; 413 dataset_too_large), the most valid
    # rows a run pins (422 dataset_too_many_rows; the run fails naming it), and the longest
    # line of the file (422 dataset_invalid). ``dataset_max_line_bytes`` is the default of
    # ``shared.providers.huggingface.MAX_LINE_BYTES``.
    dataset_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    dataset_max_rows: int = Field(default=100_000, ge=1)
    dataset_max_line_bytes: int = Field(default=16 * 1024 * 1024, ge=1)

    # Scoring: the longest model output, expected answer or judge answer that is compared or
    # read (characters). Longer outputs fail, longer expected answers are not scored, longer
    # judge answers are unparseable; each says so in the row's detail. Equal to
    # ``shared.domain.scoring.DEFAULT_MAX_CHARS`` (a unit test keeps them equal).
    scoring_max_chars: int = Field(default=256 * 1024, ge=1)

    # Fernet keys (urlsafe base64 of 32 bytes each) that encrypt stored provider credentials,
    # comma-separated: the first encrypts, every one decrypts (rotation: put the new key
    # first, run ``drgero secrets re-encrypt``, then drop the old one). A
    # malformed key stops the start-up. Integrations refuse to store secrets while unset.
    secrets_key: SecretStr | None = None
    # Lifetime of a signed dataset download URL, made on demand by the download endpoint
    # (``?redirect=signed``) only: a revoked token's last link dies within this bound.
    download_url_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    @field_validator("secrets_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        keys = secrets_keys(value)
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"DRGERO_SECRETS_KEY: key {position} of {len(keys)} is not a Fernet key"
                    " (urlsafe base64 of 32 bytes; make one with"
                    " `python -c 'from cryptography.fernet import Fernet;"
                    " print(Fernet.generate_key().decode())'`)"
                ) from exc
        return value

    @field_validator("egress_allow_cidrs")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the part
        return value

    @model_validator(mode="after")
    def _cleanup_grace_outlasts_readers(self) -> Settings:
        longest = max(self.consolidation_lease_seconds, self.download_url_ttl_seconds)
        if self.cleanup_grace_seconds < longest:
            raise ValueError(
                f"DRGERO_CLEANUP_GRACE_SECONDS ({self.cleanup_grace_seconds:g}) must be at least"
                f" DRGERO_CONSOLIDATION_LEASE_SECONDS and DRGERO_DOWNLOAD_URL_TTL_SECONDS"
                f" ({longest:g}): the cleanup would delete objects a consolidation or a signed"
                " download may still use"
            )
        return self

    @field_validator("internal_base_url")
    @classmethod
    def _internal_base_url(cls, value: str) -> str:
        sample = value.replace(FUNCTION_PLACEHOLDER, "worker")
        if "{" in sample or "}" in sample:
            raise ValueError(
                f"DRGERO_INTERNAL_BASE_URL may hold only the placeholder {FUNCTION_PLACEHOLDER}"
            )
        if not sample.startswith(("https://", "http://")):
            raise ValueError("DRGERO_INTERNAL_BASE_URL must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _dev_tokens_need_an_invoker(self) -> Settings:
        if self.dev_id_token_url and not self.tasks_service_account:
            raise ValueError(
                "DRGERO_DEV_ID_TOKEN_URL is set but DRGERO_TASKS_SERVICE_ACCOUNT is not: the"
                " local token stand-in needs the email its tokens are for"
            )
        return self

    def internal_invoker_emails(self) -> frozenset[str]:
        return frozenset(email.lower() for email in _comma_list(self.internal_invokers))

    def oidc_issuer_list(self) -> frozenset[str]:
        return frozenset(_comma_list(self.oidc_issuers))


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def secrets_keys(value: SecretStr | None) -> list[str]:
    """The configured Fernet keys, first (the one that encrypts) first."""
    if value is None:
        return []
    return [key.strip() for key in value.get_secret_value().split(",") if key.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
