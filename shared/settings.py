"""Configuration, read once from the environment and validated at cold start.

Every knob has a default that works on the local stack; production sets only environment
variables (project, bucket, queue, base URLs, internal key) and needs no code change.
Emulators are selected by the standard variables the Google clients read themselves:
``FIRESTORE_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST`` and (ours, for Cloud Tasks, which has no
standard one) ``CLOUD_TASKS_EMULATOR_HOST``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# No deployment may accept internal keys shorter than this, whatever it configures.
INTERNAL_KEY_FLOOR = 16


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

    # Where Cloud Tasks and Cloud Scheduler deliver internal calls (the consolidation function's
    # base URL in production; the local dispatcher's base URL locally).
    internal_base_url: str = "http://127.0.0.1:8080"
    # Shared secret that task and scheduler requests carry in X-DrGero-Internal-Key. Internal
    # endpoints refuse every request while it is unset: secure by default. Set, it must hold at
    # least ``internal_key_min_length`` characters (surrounding whitespace, such as the newline
    # `openssl rand -hex 32` ends with, is dropped): an empty or short key refuses to start.
    internal_key: SecretStr | None = None
    internal_key_min_length: Annotated[int, Field(ge=INTERNAL_KEY_FLOOR)] = 32
    # Service account whose OIDC token Cloud Tasks attaches (production, private functions).
    tasks_service_account: str | None = None
    # The public base URL clients use (shown in webhook examples and download paths).
    public_base_url: str = "http://127.0.0.1:8080"

    # Request bodies: the deepest nesting of arrays and objects a JSON body may have (a deeper
    # one is 400 json_too_deep before any handler or model sees it).
    request_max_json_depth: Annotated[int, Field(ge=1, le=500)] = 64

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
    # The shortest timeout a client may ask for in X-DrGero-Timeout (shorter is 400
    # invalid_header; the OpenAI SDKs' X-Stainless-Read-Timeout is ignored then).
    inference_min_client_timeout_seconds: Annotated[
        float, Field(gt=0, le=60, allow_inf_nan=False)
    ] = 0.1

    # Fernet key (urlsafe base64 of 32 bytes) that encrypts stored provider credentials.
    # Integrations refuse to store secrets while it is unset.
    secrets_key: SecretStr | None = None
    # Download links for dataset versions (where the storage credentials can sign).
    download_url_ttl_seconds: int = 3600

    @model_validator(mode="after")
    def _internal_key_is_strong(self) -> Settings:
        if self.internal_key is None:
            return self
        key = self.internal_key.get_secret_value().strip()
        if len(key) < self.internal_key_min_length:
            raise ValueError(
                f"DRGERO_INTERNAL_KEY is set but {'empty' if not key else 'too short'}"
                f" ({len(key)} characters): it must hold at least"
                f" {self.internal_key_min_length} (DRGERO_INTERNAL_KEY_MIN_LENGTH); generate"
                " one with `openssl rand -hex 32`, or unset it to refuse every internal call"
            )
        self.internal_key = SecretStr(key)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
