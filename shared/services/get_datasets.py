"""GET datasets: a .jsonl or .jsonl.gz file on the Hugging Face Hub.

Validated when the leaderboard is created (or its URL changes): the file must be reachable with
the workspace's Hugging Face token (if any), parse as JSON lines, and its rows must map to an
input with the same aliases as pushed rows (``shared.domain.rows``). Each failure has its own
code and a sentence naming the problem. Runs read the whole file when they start and pin a copy.

Every read is bounded by settings: ``dataset_max_bytes`` (uncompressed bytes, 413
``dataset_too_large``), ``dataset_max_line_bytes`` (one line, 422 ``dataset_invalid``) and, for the
copy a run pins, ``dataset_max_rows`` (422 ``dataset_too_many_rows``). Validation reads at most
``SAMPLE_ROWS`` rows and keeps none of them, only counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.rows import Row, RowRejection, normalise_rows
from shared.domain.scoring import check_pattern
from shared.errors import DrGeroError, PayloadTooLarge, ValidationFailed
from shared.providers.errors import (
    DatasetAccessDenied,
    DatasetInvalid,
    DatasetNotFound,
    DatasetTooLarge,
    DatasetUrlInvalid,
    ProviderError,
)
from shared.providers.huggingface import HuggingFaceHub
from shared.services.integrations import hf_token

SAMPLE_ROWS = 200


def _hub(deps: Deps, workspace_id: str) -> tuple[HuggingFaceHub, bool]:
    token = hf_token(deps, workspace_id)
    hub = HuggingFaceHub(client=deps.http(), endpoint=deps.settings.hf_endpoint, token=token)
    return hub, token is not None


def check_dataset_url(deps: Deps, url: str) -> None:
    """Refuse a URL that is not a Hub dataset file (no request is made): 422 invalid_dataset_url.

    Run before anything costs a download or a plan slot.
    """
    hub = HuggingFaceHub(client=deps.http(), endpoint=deps.settings.hf_endpoint, token=None)
    with _translated(url, has_token=False):
        hub.resolve_dataset_url(url)


def _rows(deps: Deps, hub: HuggingFaceHub, url: str) -> Iterator[dict[str, Any]]:
    settings = deps.settings
    return hub.open_rows(
        url, max_bytes=settings.dataset_max_bytes, max_line_bytes=settings.dataset_max_line_bytes
    )


def validate_get_dataset(
    deps: Deps, workspace_id: str, url: str, *, evaluation: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read the first rows of the file and say what they hold; a clear 422 when unusable.

    Rows are normalised and counted one at a time, never kept: memory is one row whatever the
    file. With ``match: "regex"`` evaluation, every expected answer read must be a pattern RE2
    can run (422 ``invalid_regex`` names the row and the problem).
    """
    hub, has_token = _hub(deps, workspace_id)
    regex = _uses_regex(evaluation)
    checked = valid = with_expected = 0
    first_rejection: RowRejection | None = None
    with _translated(url, has_token):
        hub.resolve_dataset_url(url)
        for index, data in enumerate(_rows(deps, hub, url)):
            checked += 1
            accepted, rejections = normalise_rows(
                [data], max_row_bytes=deps.settings.push_max_row_bytes
            )
            if rejections and first_rejection is None:
                first_rejection = replace(rejections[0], index=index)
            for _, row in accepted:
                valid += 1
                with_expected += row.expected is not None
                if regex and row.expected is not None:
                    _check_regex(row.expected, index)
            if checked >= SAMPLE_ROWS:
                break
    if not checked:
        raise ValidationFailed(f"{url} holds no rows", code="dataset_empty", field="dataset.url")
    if not valid:
        assert first_rejection is not None
        raise ValidationFailed(
            f"none of the first {checked} rows has a usable input (input, prompt, question,"
            f" query or messages); row {first_rejection.index}: {first_rejection.message}",
            code="dataset_has_no_input",
            field="dataset.url",
        )
    return {
        "checked_rows": checked,
        "valid_rows": valid,
        "rows_with_expected": with_expected,
        "validated_at": utcnow(),
        "complete": checked < SAMPLE_ROWS,
    }


def _uses_regex(evaluation: dict[str, Any] | None) -> bool:
    if not evaluation:
        return False
    return evaluation.get("type", "exact") == "exact" and evaluation.get("match") == "regex"


def _check_regex(pattern: str, index: int) -> None:
    problem = check_pattern(pattern)
    if problem is not None:
        raise ValidationFailed(
            f"row {index}'s expected answer is not a regular expression RE2 can run"
            f' (evaluation match "regex"): {problem}. RE2 has no backreferences or lookaround;'
            " see https://github.com/google/re2/wiki/Syntax",
            code="invalid_regex",
            field="dataset.url",
            row=index,
            problem=problem,
        )


def read_get_dataset(deps: Deps, workspace_id: str, url: str) -> Iterator[Row]:
    """Every valid row of the file, in file order (invalid rows are skipped).

    Bounded by the deployment's limits: past ``dataset_max_bytes`` uncompressed, 413
    ``dataset_too_large``; past ``dataset_max_rows`` valid rows, 422 ``dataset_too_many_rows``.
    """
    hub, has_token = _hub(deps, workspace_id)
    max_bytes = deps.settings.push_max_row_bytes
    max_rows = deps.settings.dataset_max_rows
    count = 0
    with _translated(url, has_token):
        for data in _rows(deps, hub, url):
            accepted, _ = normalise_rows([data], max_row_bytes=max_bytes)
            for _, row in accepted:
                count += 1
                if count > max_rows:
                    raise ValidationFailed(
                        f"{url} has more than {max_rows} rows, the most a run reads"
                        " (DRGERO_DATASET_MAX_ROWS)",
                        code="dataset_too_many_rows",
                        field="dataset.url",
                        max_rows=max_rows,
                    )
                yield row


class _translated:
    """Provider failures while reading a dataset, as 422s that name the problem."""

    def __init__(self, url: str, has_token: bool) -> None:
        self.url, self.has_token = url, has_token

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, DrGeroError):
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
        if isinstance(exc, DatasetTooLarge):
            raise PayloadTooLarge(
                f"{self.url} is larger than {exc.max_bytes} bytes uncompressed, the most a"
                " dataset may be (DRGERO_DATASET_MAX_BYTES)",
                code="dataset_too_large",
                max_bytes=exc.max_bytes,
                **field,
            ) from exc
        if isinstance(exc, DatasetInvalid):
            raise ValidationFailed(f"{self.url}: {exc}", code="dataset_invalid", **field) from exc
        if isinstance(exc, ProviderError):
            raise ValidationFailed(
                f"could not read {self.url}: {exc}", code="dataset_unreachable", **field
            ) from exc
