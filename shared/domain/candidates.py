"""Candidate models as clients describe them, validated.

Four platforms (the product's "Add Model"): ``openrouter`` (a model id of the OpenRouter
catalog), ``custom`` (any HTTPS endpoint taking OpenAI chat-completions requests and answering
chat-completions JSON, other JSON with the answer at ``response.field``, or plain text),
``huggingface`` (an Inference Endpoint URL, OpenAI-compatible route) and ``drgero`` (a
workspace model object). Tokens arrive here once and are stored encrypted, never echoed.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Label = Annotated[str, Field(min_length=1, max_length=200)]
PerMillion = Annotated[float, Field(ge=0, le=100_000)]


# What an endpoint URL looks like (the OpenAPI document states the same pattern): http(s), a
# host name or IPv4 address in ASCII (punycode for an international name) or a bracketed IPv6
# address, an optional port, then printable ASCII. Where the host leads is the egress policy's
# business. (Four all-digit labels that are no IPv4 address, ``00.1.2.3``, pass the pattern and
# are refused by the URL parser: JSON Schema patterns have no lookahead to say so.)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_H = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_V6 = (
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
    rf"|::(?:ffff:)?{_V4}|(?:{_H}:){{1,4}}:{_V4})"
)
# Userinfo is matched so that credentials in a URL get their own, clearer, refusal.
_USERINFO = r"(?:[A-Za-z0-9._~%!$&'()*+,;=:-]+@)?"
ENDPOINT_URL = re.compile(
    rf"https?://{_USERINFO}(?:{_LABEL}(?:\.{_LABEL})*|\[{_V6}\])(?::{_PORT})?(?:[/?#][!-~]*)?"
)


def _http_url(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError("endpoint must be an http(s) URL")
    if not ENDPOINT_URL.fullmatch(url):
        raise ValueError(
            "endpoint must be an http(s) URL with an ASCII host name (punycode for an"
            " international one), an IPv4 or [IPv6] address, an optional port up to 65535, and no"
            " spaces or control characters"
        )
    return url


class Pricing(BaseModel):
    """USD per million tokens, for endpoints that don't report a cost themselves."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt_per_million: PerMillion = 0.0
    completion_per_million: PerMillion = 0.0


class AuthIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    method: Literal["none", "bearer", "header"] = "none"
    token: SecretStr | None = None
    header_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,100}$")] | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthIn:
        if self.method != "none" and not self.token:
            raise ValueError(f"auth method {self.method!r} needs a token")
        if self.method == "header" and not self.header_name:
            raise ValueError("auth method 'header' needs header_name, e.g. X-Api-Key")
        return self


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["chat", "json", "text"] = "chat"
    field: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _field_for_json(self) -> ResponseIn:
        if self.format == "json" and not self.field:
            raise ValueError("response format 'json' needs field: the answer's dotted path")
        return self


class OpenRouterModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    platform: Literal["openrouter"]
    model_id: Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[^/\s]+/[^\s]+$")]
    label: Label | None = None


class CustomModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    platform: Literal["custom"]
    endpoint: Annotated[str, Field(max_length=2000)]
    auth: AuthIn = Field(default_factory=AuthIn)
    response: ResponseIn = Field(default_factory=ResponseIn)
    model: Annotated[str, Field(max_length=200)] | None = None
    label: Label | None = None
    pricing: Pricing | None = None

    _url = field_validator("endpoint")(_http_url)


class HuggingFaceModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    platform: Literal["huggingface"]
    endpoint: Annotated[str, Field(max_length=2000)]
    token: SecretStr | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    label: Label | None = None
    pricing: Pricing | None = None

    _url = field_validator("endpoint")(_http_url)


class DrGeroModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    platform: Literal["drgero"]
    model_id: Annotated[str, Field(min_length=1, max_length=128)]
    label: Label | None = None


CandidateModelIn = Annotated[
    OpenRouterModelIn | CustomModelIn | HuggingFaceModelIn | DrGeroModelIn,
    Field(discriminator="platform"),
]
EndpointIn = Annotated[
    OpenRouterModelIn | CustomModelIn | HuggingFaceModelIn, Field(discriminator="platform")
]


class WorkspaceModelCreate(BaseModel):
    """A Dr.Gero model: a named workspace model object with its serving endpoint."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    name: Label
    description: Annotated[str, Field(max_length=5000)] | None = None
    endpoint: EndpointIn


class AutoSelectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    count: Annotated[int, Field(strict=True, ge=1, le=20)] = 3
    max_input_price_per_million: PerMillion | None = None
    max_output_price_per_million: PerMillion | None = None
    max_p95_latency_ms: Annotated[float, Field(gt=0)] | None = None
    max_p99_latency_ms: Annotated[float, Field(gt=0)] | None = None
    open_source_only: bool = False
    dry_run: bool = False
