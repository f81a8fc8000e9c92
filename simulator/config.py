"""The simulator's configuration: its model catalog, custom endpoints, keys and answer key.

One YAML document (``simulator/default.yaml`` is the local stack's) validated into
:class:`SimulatorConfig`. Prices are OpenRouter's USD-per-token strings; latencies are
milliseconds of the simulated provider, which ``time_scale`` shrinks when the simulator really
sleeps (published statistics keep the configured values, so a catalog reads the same at any
speed).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "default.yaml"

# provider_name of a model's endpoint when the config gives none.
_PROVIDERS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "meta-llama": "DeepInfra",
    "mistralai": "Mistral",
    "qwen": "Together",
    "deepseek": "DeepSeek",
    "openrouter": "OpenRouter",
    "x-ai": "xAI",
}

# z-scores of the normal distribution, for the lognormal latency model.
_Z = {"p50": 0.0, "p75": 0.6745, "p90": 1.2816, "p95": 1.6449, "p99": 2.3263}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pricing(_Strict):
    """USD per token (per request for ``request``), as decimal strings like OpenRouter's."""

    prompt: str = "0"
    completion: str = "0"
    request: str = "0"
    image: str = "0"
    web_search: str = "0"
    internal_reasoning: str = "0"

    @field_validator("*", mode="before")
    @classmethod
    def _decimal_string(cls, value: Any) -> str:
        text = format(value, "f") if isinstance(value, float) else str(value)
        try:
            Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal price") from None
        return text

    def per_token(self, which: Literal["prompt", "completion", "request"]) -> Decimal:
        """The price as a number; OpenRouter's routers publish "-1" (variable), counted as 0."""
        value = Decimal(getattr(self, which))
        return value if value > 0 else Decimal(0)


class Latency(_Strict):
    """Time to first token in ms: lognormal with this median and p99, or ``fixed``."""

    median: float = Field(default=0.0, ge=0)
    p99: float | None = Field(default=None, ge=0)
    fixed: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _number_means_fixed(cls, value: Any) -> Any:
        return {"fixed": value} if isinstance(value, int | float) else value

    @property
    def sigma(self) -> float:
        if self.fixed is not None or self.median <= 0 or not self.p99 or self.p99 <= self.median:
            return 0.0
        return math.log(self.p99 / self.median) / _Z["p99"]

    def percentile(self, name: str) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.median <= 0:
            return 0.0
        return self.median * math.exp(self.sigma * _Z[name])


class SimModel(_Strict):
    """One simulated OpenRouter model and how it behaves."""

    id: str = Field(pattern=r"^[A-Za-z0-9._~-]+/[A-Za-z0-9._:~-]+$")
    name: str = ""
    created: int = 1_700_000_000
    description: str = ""
    context_length: int = 128_000
    max_completion_tokens: int | None = 16_384
    hugging_face_id: str | None = None
    pricing: Pricing = Field(default_factory=Pricing)
    expiration_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    provider: str = ""  # provider_name in endpoints and responses; default from the author
    quantization: str = "unknown"
    tokenizer: str = "Other"
    supported_parameters: list[str] = Field(
        default_factory=lambda: [
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "seed",
            "response_format",
            "structured_outputs",
        ]
    )
    latency_ms: Latency = Field(default_factory=Latency)
    throughput_tps: float = Field(default=0.0, ge=0)  # 0: output costs no time
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after_seconds: int | None = Field(default=None, ge=0)  # None: the global one
    refusal_rate: float = Field(default=0.0, ge=0, le=1)
    accuracy: float = Field(default=1.0, ge=0, le=1)
    judge: bool = False
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    # A stream breaks off after this many content chunks: its body just ends, with no finish
    # chunk, usage or [DONE], as a provider's dropped stream does. None: streams complete.
    stream_cut_after_chunks: int | None = Field(default=None, ge=0)
    # The ``usage.cost`` reported is the price-table cost times this (OpenRouter discounts and
    # BYOK make the two differ); None: no ``usage.cost`` at all, as most OpenAI-compatible
    # servers answer. Charged usage (``/_sim/stats``, key usage) stays the price-table cost.
    reported_cost_factor: float | None = Field(default=1.0, ge=0)
    router_targets: list[str] = Field(default_factory=list)  # e.g. openrouter/auto

    @model_validator(mode="after")
    def _defaults_from_id(self) -> SimModel:
        if not self.name:
            self.name = self.id
        if not self.provider:
            known = _PROVIDERS.get(self.author)
            self.provider = known or self.author.replace("-", " ").title()
        return self

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def is_router(self) -> bool:
        return bool(self.router_targets)


class CustomEndpoint(_Strict):
    """A simulated customer endpoint at ``POST /custom/<name>`` (or ``/endpoints/<name>/...``)."""

    format: Literal["chat", "json", "text"] | None = None  # None: the endpoint's name
    auth: Literal["none", "bearer", "header"] = "none"
    token: str = ""
    header_name: str = "X-Api-Token"
    field_path: str = "result.text"  # where the "json" format puts the answer
    accuracy: float = Field(default=1.0, ge=0, le=1)
    latency_ms: Latency = Field(default_factory=Latency)
    throughput_tps: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    refusal_rate: float = Field(default=0.0, ge=0, le=1)
    judge: bool = False  # scores judge prompts, as judge models do
    malformed_rate: float = Field(default=0.0, ge=0, le=1)

    def as_model(self, name: str) -> SimModel:
        """The behaviour of this endpoint as a model (free, id ``custom/<name>``)."""
        return SimModel(
            id=f"custom/{name}",
            provider="Custom",
            latency_ms=self.latency_ms,
            throughput_tps=self.throughput_tps,
            error_rate=self.error_rate,
            rate_limit_rate=self.rate_limit_rate,
            refusal_rate=self.refusal_rate,
            accuracy=self.accuracy,
            judge=self.judge,
            malformed_rate=self.malformed_rate,
        )


class AnswerRow(_Strict):
    input: str = Field(min_length=1)
    expected: str


class SimulatorConfig(_Strict):
    seed: int = 0
    time_scale: float = Field(default=1.0, ge=0)
    retry_after_seconds: int = Field(default=1, ge=0)
    api_keys: list[str] = Field(default_factory=list)  # empty: any key starting "sk-or-"
    key_limit: float | None = None  # credit limit of every key (USD); reached -> 402
    hf_tokens: list[str] = Field(default_factory=list)  # empty: any token starting "hf_"
    hf_private: list[str] = Field(default_factory=list)  # "owner/name" dataset repos
    # OpenRouter shows endpoint latency/throughput only to authenticated callers.
    public_endpoint_stats: bool = False
    models: list[SimModel] = Field(default_factory=list)
    custom_endpoints: dict[str, CustomEndpoint] = Field(default_factory=dict)
    answer_key: list[AnswerRow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_models(self) -> SimulatorConfig:
        ids = [model.id for model in self.models]
        duplicates = sorted({model_id for model_id in ids if ids.count(model_id) > 1})
        if duplicates:
            raise ValueError(f"duplicate model ids: {', '.join(duplicates)}")
        known = set(ids)
        for model in self.models:
            missing = [target for target in model.router_targets if target not in known]
            if missing:
                raise ValueError(f"{model.id} routes to unknown models: {', '.join(missing)}")
        return self

    @classmethod
    def load(cls, path: str | Path) -> SimulatorConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.model_validate(data)

    @classmethod
    def default(cls) -> SimulatorConfig:
        return cls.load(DEFAULT_CONFIG_PATH)

    def model(self, model_id: str) -> SimModel | None:
        return next((model for model in self.models if model.id == model_id), None)
