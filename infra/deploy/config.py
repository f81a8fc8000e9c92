"""The deploy's inputs: the YAML of ``infra/`` (read by our own Python, strictly) and the
target project, and every name and URL derived from them.

Nothing here talks to Google: the same values serve the plan, the deploy and the check.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.settings import Settings
from shared.web.routes import FUNCTION_ROUTES, private_functions, public_functions, targets

INFRA = Path(__file__).resolve().parent.parent
REPO = INFRA.parent

_DURATION = re.compile(r"^([1-9][0-9]*)s$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class ConfigError(ValueError):
    """The deploy's input is wrong; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    count: int = Field(gt=0)
    interval_seconds: Literal[10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600]


class FunctionSpec(_Strict):
    name: str
    service_account: str
    memory: str = Field(pattern=r"^[1-9][0-9]*(Mi|Gi)$")
    cpu: int = Field(default=1, ge=1, le=8)
    concurrency: int = Field(default=1, ge=1, le=1000)
    timeout: str
    max_instances: int = Field(ge=1)
    min_instances: int = Field(default=0, ge=0)
    cpu_always_allocated: bool = False
    rate_limit: RateLimit | None = None

    @field_validator("timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value) or not 1 <= int(value[:-1]) <= 3600:
            raise ValueError("a duration in seconds such as 60s, at most 3600s")
        return value

    @property
    def timeout_seconds(self) -> int:
        return int(self.timeout[:-1])


class SecretSpec(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,255}$")
    env: str = Field(pattern=r"^DRGERO_[A-Z0-9_]+$")
    generate: Literal["fernet"]
    mounted_by: list[str]


class AccountSpec(_Strict):
    display_name: str
    project_roles: list[str] = []
    bucket_roles: list[str] = []
    act_as: list[str] = []
    sign_blob: bool = False
    invokes: list[str] = []


class LoadBalancerSpec(_Strict):
    address: str
    url_map: str
    redirect_url_map: str
    https_proxy: str
    http_proxy: str
    https_rule: str
    http_rule: str


class DeploySpec(_Strict):
    prefix: str = Field(pattern=r"^[a-z][a-z0-9-]{0,14}$")
    runtime: str
    apis: list[str]
    secrets: list[SecretSpec]
    service_accounts: dict[str, AccountSpec]
    load_balancer: LoadBalancerSpec


@dataclass(frozen=True)
class Target:
    """Where to deploy: given on the command line."""

    project: str
    region: str
    domain: str

    def __post_init__(self) -> None:
        if not _PROJECT.match(self.project):
            raise ConfigError(f"PROJECT {self.project!r} is not a Google Cloud project id")
        if not _REGION.match(self.region):
            raise ConfigError(f"REGION {self.region!r} is not a region such as europe-west1")
        if not _DOMAIN.match(self.domain):
            raise ConfigError(f"DOMAIN {self.domain!r} is not a lower-case DNS name")


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse(model: type[_Strict], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except Exception as exc:  # pydantic's message names the field
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Config:
    target: Target
    spec: DeploySpec
    functions: tuple[FunctionSpec, ...]
    indexes: dict[str, Any]  # infra/firestore.indexes.json
    infra: Path = INFRA

    # ---- names ---------------------------------------------------------------------------
    @property
    def project(self) -> str:
        return self.target.project

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def prefix(self) -> str:
        return self.spec.prefix

    def service(self, function: str) -> str:
        return f"{self.prefix}-{function}"

    def account_email(self, role: str) -> str:
        return f"{self.prefix}-{role}@{self.project}.iam.gserviceaccount.com"

    def account_member(self, role: str) -> str:
        return f"serviceAccount:{self.account_email(role)}"

    @property
    def bucket(self) -> str:
        return f"{self.project}-{self.prefix}-datasets"

    @property
    def queue_id(self) -> str:
        return self.prefix

    @property
    def location_parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def queue(self) -> str:
        return f"{self.location_parent}/queues/{self.queue_id}"

    def function(self, name: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @cached_property
    def public(self) -> list[str]:
        return public_functions()

    @cached_property
    def private(self) -> list[str]:
        return private_functions()

    def run_url(self, function: str, project_number: str) -> str:
        """The function's deterministic Cloud Run URL (the audience of its OIDC tokens)."""
        return f"https://{self.service(function)}-{project_number}.{self.region}.run.app"

    def internal_base_url(self, project_number: str) -> str:
        """``DRGERO_INTERNAL_BASE_URL``: every private function's URL, by name."""
        return f"https://{self.prefix}-{{function}}-{project_number}.{self.region}.run.app"

    @property
    def public_base_url(self) -> str:
        return f"https://{self.target.domain}"

    def neg(self, function: str) -> str:
        return f"{self.service(function)}-neg"

    def backend(self, function: str) -> str:
        return f"{self.service(function)}-backend"

    def security_policy(self, function: str) -> str:
        return f"{self.service(function)}-throttle"

    @property
    def certificate(self) -> str:
        # A managed certificate's domains cannot change: a new DOMAIN gets a new certificate.
        digest = hashlib.sha256(self.target.domain.encode()).hexdigest()[:8]
        return f"{self.prefix}-cert-{digest}"

    # ---- checks --------------------------------------------------------------------------
    def validate(self) -> None:
        names = [spec.name for spec in self.functions]
        if sorted(names) != sorted(targets()):
            raise ConfigError(
                f"infra/functions.yaml deploys {sorted(names)} but shared/web/routes.py routes"
                f" {sorted(targets())}"
            )
        accounts = self.spec.service_accounts
        for spec in self.functions:
            if spec.service_account not in accounts:
                raise ConfigError(f"function {spec.name}: unknown service_account")
            if spec.rate_limit and spec.name in self.private:
                raise ConfigError(f"function {spec.name}: private, so no load balancer to limit")
        for role, account in accounts.items():
            for other in account.act_as:
                if other not in accounts:
                    raise ConfigError(f"service account {role}: act_as unknown {other!r}")
            for function in account.invokes:
                if function not in names:
                    raise ConfigError(f"service account {role}: invokes unknown {function!r}")
        for secret in self.spec.secrets:
            for function in secret.mounted_by:
                if function not in names:
                    raise ConfigError(f"secret {secret.name}: mounted_by unknown {function!r}")
        # A task must not be retried while its first attempt still runs: the function that
        # serves tasks gives up before Cloud Tasks does.
        deadline = Settings.model_fields["tasks_dispatch_deadline_seconds"].default
        served_by_tasks = {
            route.function
            for route in FUNCTION_ROUTES
            if route.template.startswith("/internal/tasks/")
        }
        for spec in self.functions:
            if spec.name in served_by_tasks and spec.timeout_seconds >= deadline:
                raise ConfigError(
                    f"function {spec.name}: timeout {spec.timeout} must be under the dispatch"
                    f" deadline of its tasks ({deadline:g} s,"
                    " DRGERO_TASKS_DISPATCH_DEADLINE_SECONDS)"
                )

    def invokers_of(self, function: str) -> list[str]:
        """The service accounts whose ID tokens ``function`` accepts on /internal paths."""
        return [
            self.account_email(role)
            for role, account in self.spec.service_accounts.items()
            if function in account.invokes
        ]


def load(target: Target, infra: Path = INFRA) -> Config:
    spec = _parse(DeploySpec, _load_yaml(infra / "deploy.yaml"), "infra/deploy.yaml")
    raw = _load_yaml(infra / "functions.yaml") or {}
    functions = tuple(
        _parse(FunctionSpec, entry, f"infra/functions.yaml function #{index}")
        for index, entry in enumerate(raw.get("functions") or [])
    )
    try:
        indexes = json.loads((infra / "firestore.indexes.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"infra/firestore.indexes.json: {exc}") from None
    config = Config(target=target, spec=spec, functions=functions, indexes=indexes, infra=infra)
    config.validate()
    return config
