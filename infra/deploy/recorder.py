"""A stand-in for gcloud and the Google project behind it: every command the deploy issues is
recorded and applied to an in-memory project, so a second deploy sees what the first made.

``make deploy-check`` deploys to a fresh project and again to the result, then replays every
recorded command through the real gcloud (``infra.deploy.gcloud_check``), which judges the
flags. This module judges what gcloud cannot offline: that each command means what the deploy
thinks (it creates the resource a later read finds) and that nothing secret is on a command
line. It knows only the commands the deploy uses; any other is an error, so a new kind of
command must be modelled here before the check passes.

Answers have the shape of gcloud's ``--format=json`` for the fields the deploy reads.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.deploy.gcloud import Call, GcloudFailed, full_args

COMPUTE = "https://www.googleapis.com/compute/v1"


class UnknownCommand(AssertionError):
    """The deploy issued a command the recorder does not model."""


@dataclass
class FakeProject:
    project: str
    number: str = "123456789012"
    services: set[str] = field(default_factory=set)
    database: dict[str, Any] | None = None
    indexes: list[dict[str, Any]] = field(default_factory=list)
    exemptions: set[tuple[str, str]] = field(default_factory=set)
    ttls: set[tuple[str, str]] = field(default_factory=set)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(dict))
    run_services: dict[str, dict[str, Any]] = field(default_factory=dict)
    compute: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))

    def policy(self, key: str) -> dict[str, Any]:
        bindings = self.policies.get(key, {})
        return {
            "bindings": [
                {"role": role, "members": sorted(members)}
                for role, members in sorted(bindings.items())
            ],
            "etag": "BwX=",
            "version": 1,
        }

    def bind(self, key: str, member: str, role: str) -> None:
        self.policies[key].setdefault(role, set()).add(member)


def _split(args: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    positionals: list[str] = []
    flags: dict[str, list[str]] = defaultdict(list)
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            flags[name].append(value)
        else:
            positionals.append(arg)
    return positionals, flags


def _one(flags: dict[str, list[str]], name: str) -> str:
    values = flags.get(name)
    if not values:
        raise UnknownCommand(f"--{name} is missing")
    return values[-1]


def _not_found(command: str, what: str) -> GcloudFailed:
    return GcloudFailed([command], 1, f"ERROR: (gcloud.{command}) NOT_FOUND: {what} not found")


class Recorder:
    """Implements the :class:`~infra.deploy.gcloud.Gcloud` protocol over a :class:`FakeProject`."""

    def __init__(self, state: FakeProject) -> None:
        self.state = state
        self.project = state.project
        self.calls: list[Call] = []

    # ---- the protocol --------------------------------------------------------------------
    def read(self, *args: str) -> Any:
        self.calls.append(Call(tuple(full_args(self.project, args, read=True)), mutates=False))
        return copy.deepcopy(self._read(args))

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        self.calls.append(
            Call(tuple(full_args(self.project, args, read=False)), mutates=True, stdin=stdin)
        )
        self._mutate(args, stdin)
        return ""

    # ---- reads ---------------------------------------------------------------------------
    def _read(self, args: tuple[str, ...]) -> Any:
        s = self.state
        words, flags = _split(args)
        command = " ".join(words[:4])
        if words[:2] == ["projects", "describe"]:
            return {"projectId": s.project, "projectNumber": s.number}
        if words[:2] == ["services", "list"]:
            return [
                {"config": {"name": name}, "name": f"projects/{s.number}/services/{name}"}
                for name in sorted(s.services)
            ]
        if words[:3] == ["firestore", "databases", "describe"]:
            if s.database is None:
                raise _not_found("firestore.databases.describe", "database (default)")
            return s.database
        self._need_database(words)
        if words[:4] == ["firestore", "indexes", "composite", "list"]:
            return s.indexes
        if words[:4] == ["firestore", "indexes", "fields", "list"]:
            return [
                {
                    "name": self._field_name(group, name),
                    "indexConfig": {"indexes": [], "usesAncestorConfig": False},
                }
                for group, name in sorted(s.exemptions)
            ]
        if words[:4] == ["firestore", "fields", "ttls", "list"]:
            return [
                {"name": self._field_name(group, name), "ttlConfig": {"state": "ACTIVE"}}
                for group, name in sorted(s.ttls)
            ]
        if words[:3] == ["storage", "buckets", "describe"]:
            bucket = s.buckets.get(words[3])
            if bucket is None:
                raise _not_found("storage.buckets.describe", words[3])
            return bucket
        if words[:2] == ["secrets", "list"]:
            return [{"name": f"projects/{s.number}/secrets/{name}"} for name in sorted(s.secrets)]
        if words[:3] == ["secrets", "versions", "list"]:
            if words[3] not in s.secrets:
                raise _not_found("secrets.versions.list", f"secret {words[3]}")
            return list(reversed(s.secrets[words[3]]))
        if words[:3] == ["iam", "service-accounts", "list"]:
            return list(s.accounts.values())
        if words[-1:] == ["get-iam-policy"] or "get-iam-policy" in words:
            return s.policy(self._policy_key(words, flags))
        if words[:3] == ["run", "services", "list"]:
            return list(s.run_services.values())
        if words[0] == "compute" and words[2] == "list":
            return list(s.compute[words[1]].values())
        raise UnknownCommand(f"read: gcloud {command}")

    def _need_database(self, words: list[str]) -> None:
        if words[0] == "firestore" and self.state.database is None:
            raise _not_found("firestore", "database (default)")

    def _field_name(self, group: str, name: str) -> str:
        return f"projects/{self.project}/databases/(default)/collectionGroups/{group}/fields/{name}"

    def _policy_key(self, words: list[str], flags: dict[str, list[str]]) -> str:
        verb = next(
            i
            for i, word in enumerate(words)
            if word.endswith("-iam-policy-binding") or word == "get-iam-policy"
        )
        kind = " ".join(words[:verb])
        resource = words[verb + 1]
        self._exists(kind, resource)
        return f"{kind}:{resource}"

    def _exists(self, kind: str, resource: str) -> None:
        s = self.state
        found = {
            "projects": lambda: resource == s.project,
            "storage buckets": lambda: resource in s.buckets,
            "secrets": lambda: resource in s.secrets,
            "iam service-accounts": lambda: resource in s.accounts,
            "run services": lambda: resource in s.run_services,
        }[kind]()
        if not found:
            raise _not_found(kind.replace(" ", "."), resource)

    # ---- changes -------------------------------------------------------------------------
    def _mutate(self, args: tuple[str, ...], stdin: bytes | None) -> None:
        s = self.state
        words, flags = _split(args)
        if words[:2] == ["services", "enable"]:
            s.services.update(words[2:])
            return
        if "add-iam-policy-binding" in words:
            s.bind(self._policy_key(words, flags), _one(flags, "member"), _one(flags, "role"))
            return
        if words[:3] == ["firestore", "databases", "create"]:
            self._requires_api("firestore.googleapis.com")
            s.database = {
                "name": f"projects/{s.project}/databases/(default)",
                "locationId": _one(flags, "location"),
                "type": "FIRESTORE_NATIVE",
            }
            return
        if words[0] == "firestore":
            self._need_database(words)
        if words[:4] == ["firestore", "indexes", "composite", "create"]:
            fields = []
            for config in flags["field-config"]:
                parts = dict(part.split("=", 1) for part in config.split(","))
                entry: dict[str, Any] = {"fieldPath": parts["field-path"]}
                if "order" in parts:
                    entry["order"] = parts["order"].upper()
                else:
                    entry["arrayConfig"] = "CONTAINS"
                fields.append(entry)
            group = _one(flags, "collection-group")
            s.indexes.append(
                {
                    "name": f"projects/{s.project}/databases/(default)/collectionGroups/{group}"
                    f"/indexes/CICAg{len(s.indexes)}",
                    "queryScope": _one(flags, "query-scope"),
                    "fields": _with_implicit_name(fields),
                    "state": "READY",
                }
            )
            return
        if words[:4] == ["firestore", "indexes", "fields", "update"]:
            s.exemptions.add((_one(flags, "collection-group"), words[4]))
            return
        if words[:4] == ["firestore", "fields", "ttls", "update"]:
            s.ttls.add((_one(flags, "collection-group"), words[4]))
            return
        if words[:3] == ["storage", "buckets", "create"]:
            if words[3] in s.buckets:
                raise GcloudFailed(list(args), 1, "ERROR: HTTPError 409: already exists")
            bucket = {"name": words[3][5:], "storage_url": words[3] + "/"}
            bucket["location"] = _one(flags, "location").upper()
            self._bucket_flags(bucket, flags)
            s.buckets[words[3]] = bucket
            return
        if words[:3] == ["storage", "buckets", "update"]:
            self._exists("storage buckets", words[3])
            self._bucket_flags(s.buckets[words[3]], flags)
            return
        if words[:2] == ["secrets", "create"]:
            if words[2] in s.secrets:
                raise GcloudFailed(list(args), 1, "ERROR: ALREADY_EXISTS")
            if not stdin or _one(flags, "data-file") != "-":
                raise UnknownCommand("a secret's value must come on stdin (--data-file=-)")
            s.secrets[words[2]] = [
                {"name": f"projects/{s.number}/secrets/{words[2]}/versions/1", "state": "ENABLED"}
            ]
            return
        if words[:3] == ["iam", "service-accounts", "create"]:
            email = f"{words[3]}@{s.project}.iam.gserviceaccount.com"
            if email in s.accounts:
                raise GcloudFailed(list(args), 1, "ERROR: ALREADY_EXISTS")
            s.accounts[email] = {
                "email": email,
                "displayName": _one(flags, "display-name"),
                "name": f"projects/{s.project}/serviceAccounts/{email}",
            }
            return
        if words[:2] == ["run", "deploy"]:
            self._deploy(words[2], flags)
            return
        if words[0] == "compute":
            self._compute(words, flags, args)
            return
        raise UnknownCommand(f"change: gcloud {' '.join(words[:4])}")

    def _requires_api(self, api: str) -> None:
        if api not in self.state.services:
            raise GcloudFailed([api], 1, f"ERROR: PERMISSION_DENIED: {api} has not been used")

    @staticmethod
    def _bucket_flags(bucket: dict[str, Any], flags: dict[str, list[str]]) -> None:
        if "uniform-bucket-level-access" in flags:
            bucket["uniform_bucket_level_access"] = True
        if "public-access-prevention" in flags:
            bucket["public_access_prevention"] = "enforced"
        if "lifecycle-file" in flags:
            document = json.loads(Path(_one(flags, "lifecycle-file")).read_text())
            bucket["lifecycle_config"] = {"rule": document["rule"]}

    def _deploy(self, name: str, flags: dict[str, list[str]]) -> None:
        s = self.state
        self._requires_api("run.googleapis.com")
        account = _one(flags, "service-account")
        if account not in s.accounts:
            raise GcloudFailed([name], 1, f"ERROR: service account {account} does not exist")
        for mount in (flags.get("set-secrets") or [""])[-1].split(","):
            if mount:
                secret = mount.split("=", 1)[1].split(":", 1)[0]
                self._exists("secrets", secret)
        Path(_one(flags, "env-vars-file")).read_text()  # gcloud reads it: it must exist
        labels = dict(pair.split("=", 1) for pair in _one(flags, "labels").split(","))
        s.run_services[name] = {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "status": {"url": f"https://{name}-{s.number}.{_one(flags, 'region')}.run.app"},
        }
        if "allow-unauthenticated" in flags:
            s.bind(f"run services:{name}", "allUsers", "roles/run.invoker")

    def _compute(
        self, words: list[str], flags: dict[str, list[str]], args: tuple[str, ...]
    ) -> None:
        s = self.state
        kind, verb, name = words[1], words[2], words[3] if len(words) > 3 else ""
        self._requires_api("compute.googleapis.com")
        resources = s.compute[kind]
        base = f"{COMPUTE}/projects/{s.project}"
        if kind == "security-policies" and verb == "rules":
            policy_name = _one(flags, "security-policy")
            if policy_name not in s.compute["security-policies"]:
                raise _not_found("compute.security-policies.rules", policy_name)
            rules = s.compute["security-policies"][policy_name]["rules"]
            priority = int(words[4])
            rule = {
                "priority": priority,
                "action": _one(flags, "action"),
                "rateLimitOptions": {
                    "rateLimitThreshold": {
                        "count": int(_one(flags, "rate-limit-threshold-count")),
                        "intervalSec": int(_one(flags, "rate-limit-threshold-interval-sec")),
                    },
                    "conformAction": _one(flags, "conform-action"),
                    "exceedAction": _one(flags, "exceed-action"),
                    "enforceOnKey": _one(flags, "enforce-on-key"),
                },
            }
            existing = [r for r in rules if r["priority"] == priority]
            if (name == "create") == bool(existing):
                raise GcloudFailed(list(args), 1, "ERROR: rule exists / does not exist")
            rules[:] = [r for r in rules if r["priority"] != priority] + [rule]
            return
        if verb == "create":
            if name in resources:
                raise GcloudFailed(list(args), 1, f"ERROR: The resource '{name}' already exists")
            resource: dict[str, Any] = {"name": name}
            if kind == "security-policies":
                resource["rules"] = [{"priority": 2147483647, "action": "allow"}]
            if kind == "backend-services":
                resource["backends"] = []
                resource["loadBalancingScheme"] = _one(flags, "load-balancing-scheme")
            if kind == "network-endpoint-groups":
                service = _one(flags, "cloud-run-service")
                resource["cloudRun"] = {"service": service}
            if kind == "ssl-certificates":
                resource["managed"] = {"domains": _one(flags, "domains").split(",")}
            if kind in ("target-https-proxies", "target-http-proxies"):
                self._named("url-maps", _one(flags, "url-map"))
                resource["urlMap"] = f"{base}/global/urlMaps/{_one(flags, 'url-map')}"
                if kind == "target-https-proxies":
                    certificate = _one(flags, "ssl-certificates")
                    self._named("ssl-certificates", certificate)
                    resource["sslCertificates"] = [f"{base}/global/sslCertificates/{certificate}"]
            if kind == "forwarding-rules":
                self._named("addresses", _one(flags, "address"))
                https = "target-https-proxy" in flags
                proxy = _one(flags, "target-https-proxy" if https else "target-http-proxy")
                self._named("target-https-proxies" if https else "target-http-proxies", proxy)
                resource["portRange"] = _one(flags, "ports")
            resources[name] = resource
            return
        if kind == "backend-services" and verb == "add-backend":
            neg = _one(flags, "network-endpoint-group")
            self._named("network-endpoint-groups", neg)
            region = _one(flags, "network-endpoint-group-region")
            self._named(kind, name)["backends"].append(
                {"group": f"{base}/regions/{region}/networkEndpointGroups/{neg}"}
            )
            return
        if kind == "backend-services" and verb == "update":
            policy = _one(flags, "security-policy")
            self._named("security-policies", policy)
            self._named(kind, name)["securityPolicy"] = f"{base}/global/securityPolicies/{policy}"
            return
        if kind == "url-maps" and verb == "import":
            document = yaml.safe_load(Path(_one(flags, "source")).read_text())
            if document.get("name") != name:
                raise GcloudFailed(list(args), 1, "ERROR: the URL map's name differs")
            for service in _services_of(document):
                self._named("backend-services", service.rsplit("/", 1)[-1])
            resources[name] = document
            return
        if kind == "target-https-proxies" and verb == "update":
            certificate = _one(flags, "ssl-certificates")
            self._named("ssl-certificates", certificate)
            self._named(kind, name)["sslCertificates"] = [
                f"{base}/global/sslCertificates/{certificate}"
            ]
            return
        raise UnknownCommand(f"change: gcloud compute {kind} {verb}")

    def _named(self, kind: str, name: str) -> dict[str, Any]:
        found = self.state.compute[kind].get(name)
        if found is None:
            raise _not_found(f"compute.{kind}", name)
        return found


def _with_implicit_name(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API lists an index with its implicit last field, __name__ in the direction of the
    last field (unless __name__ is already last)."""
    if fields[-1]["fieldPath"] == "__name__":
        return fields
    return [*fields, {"fieldPath": "__name__", "order": fields[-1].get("order", "ASCENDING")}]


def _services_of(document: dict[str, Any]) -> list[str]:
    services = [document["defaultService"]] if "defaultService" in document else []
    for matcher in document.get("pathMatchers", []):
        services.append(matcher["defaultService"])
        services.extend(rule["service"] for rule in matcher.get("routeRules", []))
    return services
