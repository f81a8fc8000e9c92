"""The simulator's mutable state: catalog with runtime patches, answer key, keys, statistics.

Shared by the request threads of one server, so every change happens under one lock. Random
choices (faults, refusals, malformed judge answers, latency samples) come from one RNG seeded
by the config; answer correctness never does (see :mod:`simulator.answers`).
"""

from __future__ import annotations

import copy
import math
import random
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from simulator.answers import AnswerKey
from simulator.config import AnswerRow, CustomEndpoint, Latency, SimModel, SimulatorConfig

RECENT_REQUESTS = 50
_SECRET_HEADER_WORDS = ("authorization", "token", "key", "secret", "cookie")


def mask(value: str) -> str:
    """A secret shown as its first and last characters, like OpenRouter's key labels."""
    scheme, _, secret = value.partition(" ") if " " in value else ("", "", value)
    shown = f"{secret[:6]}...{secret[-3:]}" if len(secret) > 12 else "***"
    return f"{scheme} {shown}" if scheme else shown


def _is_secret_header(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_HEADER_WORDS)


class SimulatorState:
    def __init__(self, config: SimulatorConfig, *, hf_root: Path) -> None:
        self.config = config
        self.hf_root = hf_root
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the config: catalog, custom endpoints, answer key, RNG, usage and stats."""
        with self._lock:
            self._models = {model.id: model for model in self.config.models}
            self._custom = dict(self.config.custom_endpoints)
            self.answer_key = AnswerKey(self.config.answer_key)
            self._rng = random.Random(self.config.seed)
            self._key_usage: dict[str, float] = {}
            self._stats: dict[str, dict[str, float]] = {}
            self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)
            self._downloads: dict[str, int] = {}

    # ------------------------------------------------------------ catalog

    def models(self) -> list[SimModel]:
        with self._lock:
            return list(self._models.values())

    def model(self, model_id: str) -> SimModel | None:
        with self._lock:
            return self._models.get(model_id)

    def upsert_model(self, fields: dict[str, Any]) -> SimModel:
        """Patch the model with this ``id`` (top-level fields replaced), or add it."""
        model_id = fields.get("id")
        if not isinstance(model_id, str):
            raise ValueError("a model needs an 'id'")
        with self._lock:
            current = self._models.get(model_id)
            merged = current.model_dump() if current else {}
            merged.update(fields)
            model = SimModel.model_validate(merged)
            unknown = [t for t in model.router_targets if t not in self._models and t != model_id]
            if unknown:
                raise ValueError(f"{model_id} routes to unknown models: {', '.join(unknown)}")
            self._models[model_id] = model
            return model

    def custom_endpoint(self, name: str) -> CustomEndpoint | None:
        with self._lock:
            return self._custom.get(name)

    def upsert_custom_endpoint(self, name: str, fields: dict[str, Any]) -> CustomEndpoint:
        with self._lock:
            current = self._custom.get(name)
            merged = current.model_dump() if current else {}
            merged.update(fields)
            endpoint = CustomEndpoint.model_validate(merged)
            self._custom[name] = endpoint
            return endpoint

    def add_answer_key(self, rows: list[AnswerRow], *, replace: bool) -> int:
        with self._lock:
            # Readers may hold the old key: build a new one and swap, never mutate in place.
            key = AnswerKey(rows) if replace else self.answer_key.extended(rows)
            self.answer_key = key
            return len(key)

    # ------------------------------------------------------------ randomness

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def sample_latency_ms(self, latency: Latency) -> float:
        """One draw of the model's latency, in real milliseconds (``time_scale`` applied)."""
        if latency.fixed is not None:
            value = latency.fixed
        elif latency.median <= 0:
            value = 0.0
        else:
            with self._lock:
                z = self._rng.gauss(0.0, 1.0)
            value = latency.median * math.exp(latency.sigma * z)
        return value * self.config.time_scale

    def sleep_ms(self, milliseconds: float) -> None:
        if milliseconds > 0:
            time.sleep(milliseconds / 1000.0)

    # ------------------------------------------------------------ keys and credits

    def key_is_valid(self, key: str) -> bool:
        if self.config.api_keys:
            return key in self.config.api_keys
        return key.startswith("sk-or-") and len(key) > len("sk-or-")

    def hf_token_is_valid(self, token: str) -> bool:
        if self.config.hf_tokens:
            return token in self.config.hf_tokens
        return token.startswith("hf_") and len(token) > len("hf_")

    def key_usage(self, key: str) -> float:
        with self._lock:
            return self._key_usage.get(key, 0.0)

    def charge(self, key: str | None, cost: float) -> None:
        if key is None:
            return
        with self._lock:
            self._key_usage[key] = self._key_usage.get(key, 0.0) + cost

    # ------------------------------------------------------------ statistics

    def count(self, model_id: str, outcome: str, *, cost: float = 0.0) -> None:
        """Record one call: ``outcome`` is "ok", "refusal", "malformed" or an HTTP status."""
        with self._lock:
            stats = self._stats.setdefault(
                model_id,
                {"total": 0, "ok": 0, "429": 0, "500": 0, "refusals": 0, "malformed": 0},
            )
            stats["total"] += 1
            if outcome in ("refusal", "malformed"):
                stats["ok"] += 1
                stats["refusals" if outcome == "refusal" else "malformed"] += 1
            else:
                stats[outcome] = stats.get(outcome, 0) + 1
            stats["cost"] = stats.get("cost", 0.0) + cost

    def count_stream(self, model_id: str, *, cut: bool, broken: bool = False) -> None:
        """A stream ended: ``cut`` when the client left before its last event, ``broken`` when
        the model itself broke it off (``stream_cut_after_chunks``). The two are kept apart:
        ``streams_cut`` counts only clients that left, ``streams_broken`` only upstream faults.
        """
        with self._lock:
            stats = self._stats.setdefault(model_id, {"total": 0, "ok": 0})
            stats["streams"] = stats.get("streams", 0) + 1
            stats["streams_cut"] = stats.get("streams_cut", 0) + (1 if cut else 0)
            stats["streams_broken"] = stats.get("streams_broken", 0) + (1 if broken else 0)

    def count_download(self, file_path: str) -> None:
        with self._lock:
            self._downloads[file_path] = self._downloads.get(file_path, 0) + 1

    def remember_request(
        self, *, method: str, path: str, headers: dict[str, str], body: Any, status: int
    ) -> None:
        shown = {
            name: mask(value) if _is_secret_header(name) else value
            for name, value in headers.items()
        }
        entry = {
            "at": time.time(),
            "method": method,
            "path": path,
            "headers": shown,
            "body": body,
            "status": status,
        }
        with self._lock:
            self._recent.append(entry)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "models": copy.deepcopy(self._stats),
                "downloads": dict(self._downloads),
                "answer_key_rows": len(self.answer_key),
                "recent_requests": list(self._recent),
            }
