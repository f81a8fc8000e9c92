"""The slice of the Hugging Face Hub that Dr.Gero uses, served from a local directory.

- ``GET /api/whoami-v2``: the token's user (valid tokens start ``hf_``, or the config's list).
- ``GET|HEAD /datasets/{owner}/{name}/resolve/{revision}/{path}``: the file
  ``<hf_root>/{owner}/{name}/{path}`` (any revision). A repository is private when the config's
  ``hf_private`` lists it or it holds a ``.private`` marker file; it then needs a valid token.

Errors carry the Hub's ``X-Error-Code`` / ``X-Error-Message`` headers, which
``huggingface_hub`` reads: ``RepoNotFound`` (401 for a private repository without a valid
token, 404 for a missing one), ``EntryNotFound`` (404) and 401 "Invalid credentials in
Authorization header" for a token the Hub does not know.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from flask import Flask, Response, request

from simulator.state import SimulatorState
from simulator.web import bearer_token

PRIVATE_MARKER = ".private"
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
SIM_USER_ID = hashlib.sha256(b"sim-user").hexdigest()[:24]
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CONTENT_TYPES = {
    ".gz": "application/gzip",
    ".jsonl": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".parquet": "application/octet-stream",
}


def register(app: Flask, state: SimulatorState) -> None:
    @app.get("/api/whoami-v2")
    def whoami() -> Response:
        token = bearer_token(request)
        if token is None or not state.hf_token_is_valid(token):
            return hub_error(401, INVALID_CREDENTIALS)
        return Response(
            json.dumps(
                {
                    "type": "user",
                    "id": SIM_USER_ID,
                    "name": "sim-user",
                    "fullname": "Simulated User",
                    "email": None,
                    "emailVerified": False,
                    "isPro": False,
                    "canPay": False,
                    "orgs": [],
                    "auth": {
                        "type": "access_token",
                        "accessToken": {"displayName": "simulator", "role": "read"},
                    },
                }
            ),
            mimetype="application/json",
        )

    @app.get("/datasets/<owner>/<name>/resolve/<revision>/<path:file_path>")
    def resolve(owner: str, name: str, revision: str, file_path: str) -> Response:
        repo_id = f"{owner}/{name}"
        token = bearer_token(request)
        if token is not None and not state.hf_token_is_valid(token):
            return hub_error(401, INVALID_CREDENTIALS)
        repo_dir = repo_path(state.hf_root, repo_id)
        if repo_dir is None or not repo_dir.is_dir():
            return hub_error(404, "Repository not found", code="RepoNotFound")
        private = repo_id in state.config.hf_private or (repo_dir / PRIVATE_MARKER).exists()
        if private and token is None:
            return hub_error(401, "Repository not found", code="RepoNotFound")
        target = file_in_repo(repo_dir, file_path)
        if target is None or not target.is_file():
            return hub_error(404, "Entry not found", code="EntryNotFound")
        content = target.read_bytes()
        if request.method == "GET":
            state.count_download(f"{repo_id}/{file_path}")
        response = Response(content, mimetype=content_type(target))
        response.headers["ETag"] = '"' + hashlib.sha256(content).hexdigest() + '"'
        commit = hashlib.sha1(repo_id.encode(), usedforsecurity=False).hexdigest()
        response.headers["X-Repo-Commit"] = commit
        return response


def hub_error(status: int, message: str, *, code: str | None = None) -> Response:
    response = Response(json.dumps({"error": message}), status=status, mimetype="application/json")
    response.headers["X-Error-Message"] = message
    if code:
        response.headers["X-Error-Code"] = code
    return response


def repo_path(root: Path, repo_id: str) -> Path | None:
    return root / repo_id if _REPO_ID.match(repo_id) and ".." not in repo_id else None


def file_in_repo(repo_dir: Path, file_path: str) -> Path | None:
    """The file inside the repository, or None for escapes and hidden (dot) files."""
    parts = Path(file_path).parts
    if not parts or any(part.startswith(".") for part in parts):
        return None
    target = (repo_dir / file_path).resolve()
    return target if target.is_relative_to(repo_dir.resolve()) else None


def content_type(path: Path) -> str:
    return _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def write_dataset_file(
    root: Path, repo_id: str, file_path: str, content: bytes, *, private: bool
) -> Path:
    """Add (or replace) a file of a dataset repository; ``private`` marks the whole repository."""
    repo_dir = repo_path(root, repo_id)
    if repo_dir is None:
        raise ValueError(f"{repo_id!r} is not an 'owner/name' repository id")
    target = file_in_repo(repo_dir, file_path)
    if target is None:
        raise ValueError(f"{file_path!r} is not a file path inside the repository")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    if private:
        (repo_dir / PRIVATE_MARKER).touch()
    return target
