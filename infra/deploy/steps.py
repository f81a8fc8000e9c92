"""The deploy, resource by resource: read what exists, compare it with what ``infra/`` wants,
and create or update only what differs.

Every decision is a :class:`~infra.deploy.plan.Change` (one line of the plan). With
``apply=False`` only read-only commands run (the plan); with ``apply=True`` each change's
command runs as it is decided, so a later step sees what an earlier one made. A second run over
a deployed project finds everything equal and changes nothing: functions carry a release label
(a digest of their source and configuration) and are redeployed only when it differs.

Secrets are generated here and handed to gcloud on stdin; no value ever appears in a command
line, the plan, a log line or a function's configuration (functions mount the secret's pinned
version by reference).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.deploy import urlmap
from infra.deploy.config import REPO, Config
from infra.deploy.gcloud import Gcloud, GcloudFailed
from infra.deploy.plan import Change, Verb

RELEASE_LABEL = "drgero-release"
# What a function's source upload holds (infra/.gcloudignore says the same to gcloud).
SOURCE_PATHS = ("main.py", "requirements.txt", "functions", "shared")
THROTTLE_RULE_PRIORITY = "1000"
NOT_FOUND_MARKERS = ("not_found", "not found", "was not found", "does not exist", "404")


def _not_found(exc: GcloudFailed) -> bool:
    text = exc.stderr.lower()
    return any(marker in text for marker in NOT_FOUND_MARKERS)


def fernet_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


GENERATORS: dict[str, Callable[[], bytes]] = {"fernet": fernet_key}


@dataclass
class Deployer:
    config: Config
    gcloud: Gcloud
    apply: bool
    workdir: Path  # generated files (env vars, URL maps) that gcloud reads
    scheduler_client: Any = None  # scheduler_v1.CloudSchedulerClient, or None: assume none
    tasks_client: Any = None  # tasks_v2.CloudTasksClient, or None: assume none
    echo: Callable[[str], None] = print
    source_paths: tuple[str, ...] = SOURCE_PATHS
    changes: list[Change] = field(default_factory=list)
    project_number: str = ""
    pinned: dict[str, str] = field(default_factory=dict)  # secret → version

    # ---- the whole deploy, in dependency order -------------------------------------------
    def run(self) -> list[Change]:
        self.read_project()
        self.apis()
        self.firestore()
        self.bucket()
        self.secrets()
        self.service_accounts()
        self.iam()
        self.queue()
        self.functions()
        self.invokers()
        self.load_balancer()
        self.scheduler()
        return self.changes

    # ---- plumbing ------------------------------------------------------------------------
    def _change(
        self,
        verb: Verb,
        resource: str,
        detail: str = "",
        command: Iterable[str] | None = None,
        stdin: bytes | None = None,
    ) -> Change:
        change = Change(verb, resource, detail)
        self.changes.append(change)
        self.echo(change.line())
        if command is not None and change.mutates and self.apply:
            self.gcloud.run(*command, stdin=stdin)
        return change

    def _extend(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self.changes.append(change)
            self.echo(change.line())

    def _read(self, *args: str) -> Any:
        return self.gcloud.read(*args)

    def _read_or_none(self, *args: str) -> Any:
        try:
            return self.gcloud.read(*args)
        except GcloudFailed as exc:
            if _not_found(exc):
                return None
            raise

    def _file(self, name: str, document: Any) -> str:
        path = self.workdir / name
        text = yaml.safe_dump(document, sort_keys=True) if name.endswith(".yaml") else document
        path.write_text(text)
        return str(path)

    # ---- project, APIs, Firestore, bucket ------------------------------------------------
    def read_project(self) -> None:
        project = self._read("projects", "describe", self.config.project)
        self.project_number = str(project["projectNumber"])

    def apis(self) -> None:
        enabled = {
            (service.get("config") or {}).get("name") or service["name"].rsplit("/", 1)[-1]
            for service in self._read("services", "list", "--enabled") or []
        }
        missing = [api for api in self.config.spec.apis if api not in enabled]
        if missing:
            self._change("create", "APIs", ", ".join(missing), ["services", "enable", *missing])
        else:
            self._change("keep", "APIs", f"{len(self.config.spec.apis)} enabled")

    def firestore(self) -> None:
        database = self._read_or_none("firestore", "databases", "describe", "--database=(default)")
        if database is None:
            self._change(
                "create",
                "Firestore database (default)",
                f"native mode in {self.config.region}",
                [
                    "firestore",
                    "databases",
                    "create",
                    "--database=(default)",
                    f"--location={self.config.region}",
                    "--type=firestore-native",
                    "--delete-protection",
                ],
            )
        else:
            self._change("keep", "Firestore database (default)", str(database.get("type", "")))
        # A plan for a project without the database has nothing to read: everything is new.
        readable = database is not None or self.apply
        self.firestore_indexes(readable)
        self.firestore_fields(readable)

    def firestore_indexes(self, readable: bool) -> None:
        listed = (
            self._read("firestore", "indexes", "composite", "list", "--database=(default)")
            if readable
            else []
        )
        actual = {_index_key(index) for index in listed or []}
        for index in self.config.indexes.get("indexes", []):
            key = _index_key(index)
            resource = f"Firestore index {index['collectionGroup']}({_fields_text(index)})"
            if key in actual:
                self._change("keep", resource)
                continue
            configs = [f"--field-config={_field_config(f)}" for f in index["fields"]]
            self._change(
                "create",
                resource,
                command=[
                    "firestore",
                    "indexes",
                    "composite",
                    "create",
                    "--database=(default)",
                    f"--collection-group={index['collectionGroup']}",
                    f"--query-scope={index.get('queryScope', 'COLLECTION')}",
                    *configs,
                    "--async",
                ],
            )

    def firestore_fields(self, readable: bool) -> None:
        fields = ("firestore", "indexes", "fields", "list", "--database=(default)")
        ttls = ("firestore", "fields", "ttls", "list", "--database=(default)")
        exempt = set()
        for entry in (self._read(*fields) if readable else None) or []:
            group, name = _field_path(entry["name"])
            indexes = (entry.get("indexConfig") or {}).get("indexes")
            if indexes == [] and not (entry.get("indexConfig") or {}).get("usesAncestorConfig"):
                exempt.add((group, name))
        ttl = set()
        for entry in (self._read(*ttls) if readable else None) or []:
            state = (entry.get("ttlConfig") or {}).get("state")
            if state in ("ACTIVE", "CREATING"):
                ttl.add(_field_path(entry["name"]))
        for override in self.config.indexes.get("fieldOverrides", []):
            key = (override["collectionGroup"], override["fieldPath"])
            where = f"{key[0]}.{key[1]}"
            if override.get("indexes") == [] and not override.get("ttl"):
                if key in exempt:
                    self._change("keep", f"Firestore index exemption {where}")
                else:
                    self._change(
                        "create",
                        f"Firestore index exemption {where}",
                        "no single-field indexes",
                        [
                            "firestore",
                            "indexes",
                            "fields",
                            "update",
                            key[1],
                            f"--collection-group={key[0]}",
                            "--database=(default)",
                            "--disable-indexes",
                            "--async",
                        ],
                    )
            if override.get("ttl"):
                if key in ttl:
                    self._change("keep", f"Firestore TTL policy {where}")
                else:
                    self._change(
                        "create",
                        f"Firestore TTL policy {where}",
                        command=[
                            "firestore",
                            "fields",
                            "ttls",
                            "update",
                            key[1],
                            f"--collection-group={key[0]}",
                            "--database=(default)",
                            "--enable-ttl",
                            "--async",
                        ],
                    )

    def bucket(self) -> None:
        name = f"gs://{self.config.bucket}"
        lifecycle = self._lifecycle()
        bucket = self._read_or_none("storage", "buckets", "describe", name)
        if bucket is None:
            command = [
                "storage",
                "buckets",
                "create",
                name,
                f"--location={self.config.region}",
                "--uniform-bucket-level-access",
                "--public-access-prevention",
            ]
            if lifecycle is not None:
                command.append(f"--lifecycle-file={self._file('lifecycle.json', lifecycle)}")
            self._change(
                "create", f"bucket {name}", "uniform access, public access prevented", command
            )
            return
        wrong = []
        if bucket.get("uniform_bucket_level_access") is not True:
            wrong.append("uniform access")
        if bucket.get("public_access_prevention") != "enforced":
            wrong.append("public access prevention")
        if lifecycle is not None and _lifecycle_rules(bucket) != lifecycle["rule"]:
            wrong.append("lifecycle")
        if not wrong:
            self._change("keep", f"bucket {name}")
            return
        command = ["storage", "buckets", "update", name]
        if "uniform access" in wrong:
            command.append("--uniform-bucket-level-access")
        if "public access prevention" in wrong:
            command.append("--public-access-prevention")
        if "lifecycle" in wrong and lifecycle is not None:
            command.append(f"--lifecycle-file={self._file('lifecycle.json', lifecycle)}")
        self._change("update", f"bucket {name}", ", ".join(wrong), command)

    def _lifecycle(self) -> dict[str, Any] | None:
        path = self.config.infra / "bucket-lifecycle.json"
        if not path.exists():
            return None
        document: dict[str, Any] = json.loads(path.read_text())
        return document

    # ---- secrets -------------------------------------------------------------------------
    def secrets(self) -> None:
        existing = {
            secret["name"].rsplit("/", 1)[-1] for secret in self._read("secrets", "list") or []
        }
        for secret in self.config.spec.secrets:
            resource = f"secret {secret.name}"
            if secret.name not in existing:
                value = GENERATORS[secret.generate]()
                self._change(
                    "create",
                    resource,
                    "generated value, version 1",
                    [
                        "secrets",
                        "create",
                        secret.name,
                        "--replication-policy=automatic",
                        "--data-file=-",
                        "--labels=managed-by=drgero-deploy",
                    ],
                    stdin=value,
                )
                del value
                if not self.apply:
                    self.pinned[secret.name] = "1"
                    continue
            version = self._newest_enabled_version(secret.name)
            if version is None:
                raise RuntimeError(
                    f"secret {secret.name} has no enabled version: add one"
                    f" (gcloud secrets versions add {secret.name} --data-file=-)"
                )
            self.pinned[secret.name] = version
            if secret.name in existing:
                self._change("keep", resource, f"functions pin version {version}")

    def _newest_enabled_version(self, name: str) -> str | None:
        versions = self._read("secrets", "versions", "list", name) or []
        numbers = [
            int(version["name"].rsplit("/", 1)[-1])
            for version in versions
            if version.get("state") == "ENABLED"
        ]
        return str(max(numbers)) if numbers else None

    # ---- identities and IAM --------------------------------------------------------------
    def service_accounts(self) -> None:
        existing = {account["email"] for account in self._read("iam", "service-accounts", "list")}
        for role, account in self.config.spec.service_accounts.items():
            email = self.config.account_email(role)
            if email in existing:
                self._change("keep", f"service account {email}")
                continue
            self._change(
                "create",
                f"service account {email}",
                command=[
                    "iam",
                    "service-accounts",
                    "create",
                    f"{self.config.prefix}-{role}",
                    f"--display-name={account.display_name}",
                ],
            )

    def iam(self) -> None:
        config = self.config
        accounts = config.spec.service_accounts
        wanted = [
            (config.account_member(role), project_role)
            for role, account in accounts.items()
            for project_role in account.project_roles
        ]
        self._bindings(
            f"project {config.project}",
            ["projects"],
            [config.project],
            wanted,
            condition=True,
        )
        bucket = [
            (config.account_member(role), bucket_role)
            for role, account in accounts.items()
            for bucket_role in account.bucket_roles
        ]
        self._bindings(
            f"bucket gs://{config.bucket}",
            ["storage", "buckets"],
            [f"gs://{config.bucket}"],
            bucket,
        )
        for secret in config.spec.secrets:
            readers = sorted({config.function(name).service_account for name in secret.mounted_by})
            self._bindings(
                f"secret {secret.name}",
                ["secrets"],
                [secret.name],
                [
                    (config.account_member(role), "roles/secretmanager.secretAccessor")
                    for role in readers
                ],
            )
        for role in accounts:
            email = config.account_email(role)
            users = [
                (config.account_member(other), "roles/iam.serviceAccountUser")
                for other, account in accounts.items()
                if role in account.act_as
            ]
            if accounts[role].sign_blob:
                users.append((config.account_member(role), "roles/iam.serviceAccountTokenCreator"))
            if users:
                self._bindings(
                    f"service account {email}",
                    ["iam", "service-accounts"],
                    [email],
                    users,
                )

    def _bindings(
        self,
        resource: str,
        kind: list[str],
        target: list[str],
        wanted: list[tuple[str, str]],
        *,
        condition: bool = False,
    ) -> None:
        """Add the (member, role) pairs of ``wanted`` that the IAM policy of the resource
        ``gcloud <kind> get-iam-policy <target>`` reads lacks."""
        get, add = [*kind, "get-iam-policy", *target], [*kind, "add-iam-policy-binding", *target]
        policy = self._read_or_none(*get) if not self._fresh(resource) else None
        have = {
            (member, binding["role"])
            for binding in (policy or {}).get("bindings", [])
            if not binding.get("condition")
            for member in binding.get("members", [])
        }
        missing = [pair for pair in wanted if pair not in have]
        for member, role in missing:
            command = [*add, f"--member={member}", f"--role={role}"]
            if condition:
                command.append("--condition=None")
            self._change("create", f"IAM {role} for {member} on {resource}", command=command)
        if wanted and not missing:
            self._change("keep", f"IAM on {resource}", f"{len(wanted)} bindings")

    def _fresh(self, resource: str) -> bool:
        """In a plan, a resource the plan itself creates has no policy to read yet."""
        if self.apply:
            return False
        created = {change.resource for change in self.changes if change.verb == "create"}
        return resource in created

    # ---- the queue, the functions and who may call the private ones ----------------------
    def queue(self) -> None:
        from infra.deploy import queues

        desired = queues.desired_queue(self.config.queue)
        if self.tasks_client is None:  # a plan for an empty project
            self._change("create", f"tasks queue {self.config.queue_id}", queues._summary(desired))
            return
        parent = self.config.location_parent
        self._extend(queues.reconcile_queue(self.tasks_client, parent, desired, apply=self.apply))

    def functions(self) -> None:
        services = {
            service["metadata"]["name"]: service
            for service in self._read("run", "services", "list", f"--region={self.config.region}")
            or []
        }
        source = self.source_digest()
        for spec in self.config.functions:
            name = self.config.service(spec.name)
            env = self.env_vars(spec.name)
            command = self.deploy_command(spec.name, self._file(f"env-{spec.name}.yaml", env))
            # What the function is: its source, flags and environment (not where this
            # checkout or the generated file happens to live).
            stable = [a for a in command if not a.startswith(("--source=", "--env-vars-file="))]
            release = _digest([source, *stable, json.dumps(env, sort_keys=True)])[:16]
            command.append(f"--labels={RELEASE_LABEL}={release},managed-by=drgero-deploy")
            current = services.get(name, {}).get("metadata", {}).get("labels", {})
            if name not in services:
                self._change("create", f"function {name}", f"release {release}", command)
            elif current.get(RELEASE_LABEL) != release:
                self._change("update", f"function {name}", f"release {release}", command)
            else:
                self._change("keep", f"function {name}", f"release {release}")

    def env_vars(self, function: str) -> dict[str, str]:
        config = self.config
        spec = config.function(function)
        env = {
            "DRGERO_PROJECT_ID": config.project,
            "DRGERO_BUCKET": config.bucket,
            "DRGERO_TASKS_QUEUE": config.queue,
            "DRGERO_TASKS_SERVICE_ACCOUNT": config.account_email("tasks"),
            "DRGERO_INTERNAL_BASE_URL": config.internal_base_url(self.project_number),
            "DRGERO_PUBLIC_BASE_URL": config.public_base_url,
            # functions-framework serves with gunicorn: one worker, THREADS threads.
            "THREADS": str(spec.concurrency),
        }
        if function in config.private:
            env["DRGERO_INTERNAL_INVOKERS"] = ",".join(config.invokers_of(function))
        return env

    def deploy_command(self, function: str, env_file: str) -> list[str]:
        config = self.config
        spec = config.function(function)
        public = function in config.public
        command = [
            "run",
            "deploy",
            config.service(function),
            f"--source={REPO}",
            f"--function={function}",
            f"--base-image={config.spec.runtime}",
            f"--region={config.region}",
            f"--service-account={config.account_email(spec.service_account)}",
            "--build-service-account="
            f"projects/{config.project}/serviceAccounts/{config.account_email('deployer')}",
            "--ingress=" + ("internal-and-cloud-load-balancing" if public else "internal"),
            "--allow-unauthenticated" if public else "--no-allow-unauthenticated",
            f"--memory={spec.memory}",
            f"--cpu={spec.cpu}",
            f"--concurrency={spec.concurrency}",
            f"--timeout={spec.timeout}",
            f"--max-instances={spec.max_instances}",
            f"--min-instances={spec.min_instances}",
            "--no-cpu-throttling" if spec.cpu_always_allocated else "--cpu-throttling",
            f"--env-vars-file={env_file}",
        ]
        mounts = [
            f"{secret.env}={secret.name}:{self.pinned.get(secret.name, '1')}"
            for secret in config.spec.secrets
            if function in secret.mounted_by
        ]
        if mounts:
            command.append("--set-secrets=" + ",".join(mounts))
        return command

    def source_digest(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(_source_files(self.source_paths)):
            digest.update(str(path.relative_to(REPO)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()

    def invokers(self) -> None:
        for function in self.config.private:
            name = self.config.service(function)
            wanted = [
                (f"serviceAccount:{email}", "roles/run.invoker")
                for email in self.config.invokers_of(function)
            ]
            self._bindings(
                f"function {name}",
                ["run", "services"],
                [name, f"--region={self.config.region}"],
                wanted,
            )

    # ---- the load balancer ---------------------------------------------------------------
    def load_balancer(self) -> None:
        config = self.config
        lb = config.spec.load_balancer
        region = config.region
        addresses = _names(self._read("compute", "addresses", "list", "--global"))
        self._ensure(
            addresses,
            lb.address,
            "global address",
            ["compute", "addresses", "create", lb.address, "--global", "--ip-version=IPV4"],
        )
        negs = _names(self._read("compute", "network-endpoint-groups", "list"))
        policies = {p["name"]: p for p in self._read("compute", "security-policies", "list") or []}
        backends = {
            b["name"]: b
            for b in self._read("compute", "backend-services", "list", "--global") or []
        }
        for function in config.public:
            neg, backend = config.neg(function), config.backend(function)
            self._ensure(
                negs,
                neg,
                "serverless NEG",
                [
                    "compute",
                    "network-endpoint-groups",
                    "create",
                    neg,
                    f"--region={region}",
                    "--network-endpoint-type=serverless",
                    f"--cloud-run-service={config.service(function)}",
                ],
            )
            policy = self._security_policy(function, policies)
            self._backend(function, backends.get(backend), neg, policy)
        maps = {m["name"]: m for m in self._read("compute", "url-maps", "list", "--global") or []}
        self._url_map(maps, urlmap.url_map(config))
        self._url_map(maps, urlmap.redirect_map(config))
        certificates = _names(self._read("compute", "ssl-certificates", "list", "--global"))
        self._ensure(
            certificates,
            config.certificate,
            "managed certificate",
            [
                "compute",
                "ssl-certificates",
                "create",
                config.certificate,
                f"--domains={config.target.domain}",
                "--global",
            ],
            detail=config.target.domain,
        )
        self._proxies()
        rules = _names(self._read("compute", "forwarding-rules", "list", "--global"))
        for rule, proxy_flag, port in (
            (lb.https_rule, f"--target-https-proxy={lb.https_proxy}", "443"),
            (lb.http_rule, f"--target-http-proxy={lb.http_proxy}", "80"),
        ):
            self._ensure(
                rules,
                rule,
                "forwarding rule",
                [
                    "compute",
                    "forwarding-rules",
                    "create",
                    rule,
                    "--global",
                    "--load-balancing-scheme=EXTERNAL_MANAGED",
                    f"--address={lb.address}",
                    proxy_flag,
                    f"--ports={port}",
                ],
                detail=f"port {port}",
            )

    def _ensure(
        self, existing: set[str], name: str, kind: str, command: list[str], detail: str = ""
    ) -> None:
        if name in existing:
            self._change("keep", f"{kind} {name}", detail)
        else:
            self._change("create", f"{kind} {name}", detail, command)

    def _security_policy(self, function: str, policies: dict[str, Any]) -> str | None:
        limit = self.config.function(function).rate_limit
        if limit is None:
            return None
        name = self.config.security_policy(function)
        resource = f"Cloud Armor policy {name}"
        rule_flags = [
            THROTTLE_RULE_PRIORITY,
            f"--security-policy={name}",
            "--src-ip-ranges=*",
            "--action=throttle",
            f"--rate-limit-threshold-count={limit.count}",
            f"--rate-limit-threshold-interval-sec={limit.interval_seconds}",
            "--conform-action=allow",
            "--exceed-action=deny-429",
            "--enforce-on-key=IP",
        ]
        detail = f"{limit.count} requests per {limit.interval_seconds} s per client IP"
        existing = policies.get(name)
        if existing is None:
            self._change(
                "create",
                resource,
                command=[
                    "compute",
                    "security-policies",
                    "create",
                    name,
                    f"--description=Rate limit of {self.config.service(function)}",
                ],
            )
            self._change(
                "create",
                f"{resource} rule {THROTTLE_RULE_PRIORITY}",
                detail,
                ["compute", "security-policies", "rules", "create", *rule_flags],
            )
            return name
        rule = next(
            (
                r
                for r in existing.get("rules", [])
                if str(r.get("priority")) == THROTTLE_RULE_PRIORITY
            ),
            None,
        )
        threshold = ((rule or {}).get("rateLimitOptions") or {}).get("rateLimitThreshold") or {}
        same = (
            rule is not None
            and rule.get("action") == "throttle"
            and int(threshold.get("count", 0)) == limit.count
            and int(threshold.get("intervalSec", 0)) == limit.interval_seconds
        )
        if same:
            self._change("keep", f"{resource} rule {THROTTLE_RULE_PRIORITY}", detail)
        else:
            verb: Verb = "create" if rule is None else "update"
            self._change(
                verb,
                f"{resource} rule {THROTTLE_RULE_PRIORITY}",
                detail,
                ["compute", "security-policies", "rules", verb, *rule_flags],
            )
        return name

    def _backend(
        self, function: str, existing: dict[str, Any] | None, neg: str, policy: str | None
    ) -> None:
        name = self.config.backend(function)
        resource = f"backend service {name}"
        if existing is None:
            self._change(
                "create",
                resource,
                command=[
                    "compute",
                    "backend-services",
                    "create",
                    name,
                    "--global",
                    "--load-balancing-scheme=EXTERNAL_MANAGED",
                    "--enable-logging",
                    "--logging-sample-rate=1",
                ],
            )
            groups: list[str] = []
            attached = None
        else:
            self._change("keep", resource)
            groups = [b.get("group", "").rsplit("/", 1)[-1] for b in existing.get("backends", [])]
            attached = (existing.get("securityPolicy") or "").rsplit("/", 1)[-1] or None
        if neg not in groups:
            self._change(
                "create",
                f"{resource} backend {neg}",
                command=[
                    "compute",
                    "backend-services",
                    "add-backend",
                    name,
                    "--global",
                    f"--network-endpoint-group={neg}",
                    f"--network-endpoint-group-region={self.config.region}",
                ],
            )
        if policy is not None and attached != policy:
            self._change(
                "update",
                f"{resource} security policy",
                policy,
                [
                    "compute",
                    "backend-services",
                    "update",
                    name,
                    "--global",
                    f"--security-policy={policy}",
                ],
            )

    def _url_map(self, existing: dict[str, Any], document: dict[str, Any]) -> None:
        name = document["name"]
        resource = f"URL map {name}"
        current = existing.get(name)
        if current is not None and _same_map(current, document):
            self._change("keep", resource)
            return
        path = self._file(f"{name}.yaml", document)
        self._change(
            "create" if current is None else "update",
            resource,
            f"{sum(len(m.get('routeRules', [])) for m in document.get('pathMatchers', []))}"
            " route rules",
            ["compute", "url-maps", "import", name, "--global", f"--source={path}"],
        )

    def _proxies(self) -> None:
        lb = self.config.spec.load_balancer
        https = {
            p["name"]: p
            for p in self._read("compute", "target-https-proxies", "list", "--global") or []
        }
        current = https.get(lb.https_proxy)
        if current is None:
            self._change(
                "create",
                f"HTTPS proxy {lb.https_proxy}",
                command=[
                    "compute",
                    "target-https-proxies",
                    "create",
                    lb.https_proxy,
                    "--global",
                    f"--url-map={lb.url_map}",
                    "--global-url-map",
                    f"--ssl-certificates={self.config.certificate}",
                    "--global-ssl-certificates",
                ],
            )
        else:
            certificates = [c.rsplit("/", 1)[-1] for c in current.get("sslCertificates", [])]
            if certificates != [self.config.certificate]:
                self._change(
                    "update",
                    f"HTTPS proxy {lb.https_proxy}",
                    f"certificate {self.config.certificate}",
                    [
                        "compute",
                        "target-https-proxies",
                        "update",
                        lb.https_proxy,
                        "--global",
                        f"--ssl-certificates={self.config.certificate}",
                        "--global-ssl-certificates",
                    ],
                )
            else:
                self._change("keep", f"HTTPS proxy {lb.https_proxy}")
        http = _names(self._read("compute", "target-http-proxies", "list", "--global"))
        self._ensure(
            http,
            lb.http_proxy,
            "HTTP proxy",
            [
                "compute",
                "target-http-proxies",
                "create",
                lb.http_proxy,
                "--global",
                f"--url-map={lb.redirect_url_map}",
                "--global-url-map",
            ],
            detail="redirects to HTTPS",
        )

    # ---- scheduler -----------------------------------------------------------------------
    def scheduler(self) -> None:
        from infra.deploy import schedules

        desired = schedules.desired_jobs(
            parent=self.config.location_parent,
            jobs_url=self.config.run_url("jobs", self.project_number),
            invoker_email=self.config.account_email("scheduler"),
        )
        if self.scheduler_client is None:  # a plan for an empty project
            for job in desired:
                short = job.name.rsplit("/", 1)[-1]
                self._change("create", f"scheduler job {short}", schedules._summary(job))
            return
        self._extend(
            schedules.reconcile_jobs(
                self.scheduler_client, self.config.location_parent, desired, apply=self.apply
            )
        )


# ---- helpers ---------------------------------------------------------------------------------
def _names(resources: Any) -> set[str]:
    return {resource["name"] for resource in resources or []}


def _digest(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _source_files(paths: Iterable[str]) -> Iterator[Path]:
    for name in paths:
        path = REPO / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for file in path.rglob("*"):
                if file.is_file() and "__pycache__" not in file.parts:
                    yield file


def _index_key(index: dict[str, Any]) -> tuple[Any, ...]:
    group = (
        index.get("collectionGroup") or index["name"].split("/collectionGroups/")[1].split("/")[0]
    )
    fields = [(f["fieldPath"], f.get("order"), f.get("arrayConfig")) for f in index["fields"]]
    # The API lists the implicit last field, __name__ in the last field's direction: an index
    # is the same with or without it.
    if len(fields) > 1 and fields[-1][0] == "__name__" and fields[-1][1] == fields[-2][1]:
        fields.pop()
    return (group, index.get("queryScope", "COLLECTION"), tuple(fields))


def _fields_text(index: dict[str, Any]) -> str:
    return ", ".join(
        f"{f['fieldPath']} {(f.get('order') or f.get('arrayConfig') or '').lower()}".strip()
        for f in index["fields"]
    )


def _field_config(field_: dict[str, Any]) -> str:
    if field_.get("arrayConfig"):
        return f"field-path={field_['fieldPath']},array-config=contains"
    return f"field-path={field_['fieldPath']},order={field_['order'].lower()}"


def _field_path(name: str) -> tuple[str, str]:
    """``projects/p/databases/(default)/collectionGroups/G/fields/F`` → (G, F)."""
    rest = name.split("/collectionGroups/", 1)[1]
    group, _, field_name = rest.partition("/fields/")
    return group, field_name


def _lifecycle_rules(bucket: dict[str, Any]) -> Any:
    config = bucket.get("lifecycle_config") or bucket.get("lifecycle") or {}
    return config.get("rule", [])


def _same_map(current: dict[str, Any], document: dict[str, Any]) -> bool:
    return all(current.get(key) == value for key, value in document.items() if key != "name")


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="drgero-deploy-") as path:
        yield Path(path)
