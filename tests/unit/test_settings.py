"""Settings refuse, at cold start, what would quietly weaken the service or cannot work."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings

PRODUCTION_BASE = "https://drgero-{function}-123456789.europe-west1.run.app"


def test_internal_calls_are_closed_by_default() -> None:
    # The defaults themselves: the session's local stack sets some of these in the environment.
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert defaults["internal_invokers"] == ""
    assert Settings(internal_invokers="").internal_invoker_emails() == frozenset()
    issuers = Settings(oidc_issuers=defaults["oidc_issuers"]).oidc_issuer_list()
    assert issuers == {"https://accounts.google.com", "accounts.google.com"}
    assert defaults["oidc_certs_url"] == "https://www.googleapis.com/oauth2/v1/certs"
    assert defaults["tasks_dispatch_deadline_seconds"] == 1800
    assert defaults["dev_id_token_url"] is None


def test_invokers_are_a_comma_separated_list_of_emails() -> None:
    settings = Settings(internal_invokers=" Tasks@p.iam.gserviceaccount.com, ,s@p.iam.x ")
    assert settings.internal_invoker_emails() == {"tasks@p.iam.gserviceaccount.com", "s@p.iam.x"}


def test_the_internal_base_url_may_name_the_function() -> None:
    assert Settings(internal_base_url=PRODUCTION_BASE + "/").internal_base_url == PRODUCTION_BASE
    for wrong in ("https://drgero-{name}.run.app", "https://{function}}.run.app", "drgero.run.app"):
        with pytest.raises(ValidationError) as caught:
            Settings(internal_base_url=wrong)
        assert "DRGERO_INTERNAL_BASE_URL" in str(caught.value)


@pytest.mark.parametrize("seconds", [14, 1801, 0])
def test_the_dispatch_deadline_is_what_cloud_tasks_allows(seconds: int) -> None:
    with pytest.raises(ValidationError):
        Settings(tasks_dispatch_deadline_seconds=seconds)
    assert Settings(tasks_dispatch_deadline_seconds=15).tasks_dispatch_deadline_seconds == 15


def test_local_tokens_need_the_account_they_are_for() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            dev_id_token_url="http://127.0.0.1:1/_sim/google/id-token", tasks_service_account=None
        )
    assert "DRGERO_TASKS_SERVICE_ACCOUNT" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_max_json_depth", 0),
        ("inference_min_client_timeout_seconds", 0),
        ("inference_min_client_timeout_seconds", float("nan")),
        ("oidc_certs_max_bytes", 0),
        ("oidc_certs_timeout_seconds", 0),
        ("oidc_certs_max_cache_seconds", 0),
        ("oidc_certs_min_refetch_seconds", -1),
        ("oidc_clock_skew_seconds", -1),
    ],
)
def test_limits_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})
