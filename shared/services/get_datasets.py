"""GET datasets: a .jsonl or .jsonl.gz file on the Hugging Face Hub.

Validated when the leaderboard is created (or its URL changes): the file must be reachable with
the workspace's Hugging Face token (if any), parse as JSON lines, and its rows must map to an
input with the same aliases as pushed rows (``shared.domain.rows``). Each failure has its own
code and a sentence naming the problem. Runs read the whole file when they start and pin a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.clock import utcnow
from shared.domain.rows import Row, normalise_rows
from shared.errors import ValidationFailed
from shared.providers.errors import ProviderError
from shared.providers.huggingface import (
    DatasetAccessDenied,
    DatasetInvalid,
    DatasetNotFound,
    DatasetUrlInvalid,
    HuggingFaceHub,
)
from shared.services.integrations import hf_token
from shared.wiring import Deps

SAMPLE_ROWS = 200


def _hub(deps: Deps, workspace_id: str) -> tuple[HuggingFaceHub, bool]:
    token = hf_token(deps, workspace_id)
    hub = HuggingFaceHub(client=deps.http(), endpoint=deps.settings.hf_endpoint, token=token)
    return hub, token is not None


def validate_get_dataset(deps: Deps, workspace_id: str, url: str) -> dict[str, Any]:
    """Read the first rows of the file and say what they hold; a clear 422 when unusable."""
    hub, has_token = _hub(deps, workspace_id)
    raw: list[Any] = []
    with _translated(url, has_token):
        hub.resolve_dataset_url(url)
        for data in hub.open_rows(url):
            raw.append(data)
            if len(raw) >= SAMPLE_ROWS:
                break
    if not raw:
        raise ValidationFailed(f"{url} holds no rows", code="dataset_empty", field="dataset.url")
    accepted, rejections = normalise_rows(raw, max_row_bytes=deps.settings.push_max_row_bytes)
    if not accepted:
        first = rejections[0]
        raise ValidationFailed(
            f"none of the first {len(raw)} rows has a usable input (input, prompt, question,"
            f" query or messages); row {first.index}: {first.message}",
            code="dataset_has_no_input",
            field="dataset.url",
        )
    return {
        "checked_rows": len(raw),
        "valid_rows": len(accepted),
        "rows_with_expected": sum(1 for _, row in accepted if row.expected is not None),
        "validated_at": utcnow(),
        "complete": len(raw) < SAMPLE_ROWS,
    }


def read_get_dataset(deps: Deps, workspace_id: str, url: str) -> Iterator[Row]:
    """Every valid row of the file, in file order (invalid rows are skipped)."""
    hub, has_token = _hub(deps, workspace_id)
    max_bytes = deps.settings.push_max_row_bytes
    with _translated(url, has_token):
        for data in hub.open_rows(url):
            accepted, _ = normalise_rows([data], max_row_bytes=max_bytes)
            for _, row in accepted:
                yield row


class _translated:
    """Provider failures while reading a dataset, as 422s that name the problem."""

    def __init__(self, url: str, has_token: bool) -> None:
        self.url, self.has_token = url, has_token

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, ValidationFailed):
            return
        field = {"field": "dataset.url"}
        if isinstance(exc, DatasetUrlInvalid):
            raise ValidationFailed(str(exc), code="invalid_dataset_url", **field) from exc
        if isinstance(exc, DatasetNotFound):
            raise ValidationFailed(
                f"no file at {self.url}: check the owner, name, revision and path",
                code="dataset_not_found",
                **field,
            ) from exc
        if isinstance(exc, DatasetAccessDenied):
            hint = (
                "the workspace's Hugging Face token cannot read it"
                if self.has_token
                else "it is private or gated: add a Hugging Face token"
                " (PUT /v1/integrations/huggingface)"
            )
            raise ValidationFailed(
                f"{self.url}: {hint}", code="dataset_access_denied", **field
            ) from exc
        if isinstance(exc, DatasetInvalid):
            raise ValidationFailed(f"{self.url}: {exc}", code="dataset_invalid", **field) from exc
        if isinstance(exc, ProviderError):
            raise ValidationFailed(
                f"could not read {self.url}: {exc}", code="dataset_unreachable", **field
            ) from exc
