"""Configuration, read once from the environment and validated at cold start.

Every knob has a default that works on the local stack; production sets only environment
variables (project, bucket, queue, base URLs, internal key) and needs no code change.
Emulators are selected by the standard variables the Google clients read themselves:
``FIRESTORE_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST`` and (ours, for Cloud Tasks, which has no
standard one) ``CLOUD_TASKS_EMULATOR_HOST``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRGERO_", extra="ignore")

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

    # Where Cloud Tasks and Cloud Scheduler deliver internal calls (the consolidation function's
    # base URL in production; the local dispatcher's base URL locally).
    internal_base_url: str = "http://127.0.0.1:8080"
    # Shared secret that task and scheduler requests carry in X-DrGero-Internal-Key. Internal
    # endpoints refuse every request while it is unset: secure by default.
    internal_key: SecretStr | None = None
    # Service account whose OIDC token Cloud Tasks attaches (production, private functions).
    tasks_service_account: str | None = None
    # The public base URL clients use (shown in webhook examples and download paths).
    public_base_url: str = "http://127.0.0.1:8080"

    # Push limits. Production Firestore caps a request at 10 MiB and a document at 1 MiB.
    push_max_body_bytes: int = 5 * 1024 * 1024
    push_max_rows: int = 1000
    push_max_row_bytes: int = 256 * 1024
    # A chunk closes past this many uncompressed bytes; one more row (a stored row is at most
    # ~2x push_max_row_bytes) still keeps the document under the 1 MiB limit.
    pending_chunk_bytes: int = 384 * 1024

    # Idempotency: how long an in-flight first request holds its key, how long a duplicate
    # waits for the first answer, and how long answers are kept.
    idempotency_lease_seconds: float = 60.0
    idempotency_wait_seconds: float = 20.0
    idempotency_ttl_hours: int = 24

    # Consolidation: lease length (the fencing guard) and pending documents folded per round.
    consolidation_lease_seconds: float = 600.0
    consolidation_round_docs: int = 400

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

    # Fernet key (urlsafe base64 of 32 bytes) that encrypts stored provider credentials.
    # Integrations refuse to store secrets while it is unset.
    secrets_key: SecretStr | None = None
    # Download links for dataset versions (where the storage credentials can sign).
    download_url_ttl_seconds: int = 3600


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
