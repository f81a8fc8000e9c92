"""Hugging Face dataset file URLs: what users paste, checked and split into its parts.

:func:`parse_dataset_url` reads ``hf://datasets/...`` paths and Hub ``https://`` file URLs (on
the Hub's hosts or the configured ``HF_ENDPOINT``) into ``(owner, name, revision, path)``, and
refuses any part that would change which Hub path a download asks for.
:class:`~shared.providers.huggingface.HuggingFaceHub` turns the parts into a download URL.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from shared.providers.errors import DatasetUrlInvalid

DEFAULT_REVISION = "main"
HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
# Revisions that contain "/" and may be written unescaped (as huggingface_hub accepts them).
_SPECIAL_REF = re.compile(r"^(refs/pr/\d+|refs/convert/\w+)(/|$)")
_EXAMPLE = "https://huggingface.co/datasets/<owner>/<name>/resolve/main/<file>.jsonl"


def parse_dataset_url(
    url: str, *, hosts: frozenset[str] | set[str] = HUB_HOSTS
) -> tuple[str, str, str, str]:
    """``(owner, name, revision, path)`` of a dataset file URL, or DatasetUrlInvalid.

    ``https://`` URLs are accepted on the Hub's hosts and on ``hosts`` (the configured
    ``HF_ENDPOINT``, so the local simulator's URLs work as pasted).
    """
    text = url.strip()
    if text.startswith("hf://"):
        owner, name, revision, path = _parse_hf_path(text)
    elif text.startswith(("https://", "http://")):
        owner, name, revision, path = _parse_hub_url(text, hosts=hosts)
    else:
        raise DatasetUrlInvalid(
            f"{short_url(text)!r} is not a Hugging Face dataset URL: use {_EXAMPLE} "
            "or hf://datasets/<owner>/<name>/<file>.jsonl"
        )
    _check_parts(text, owner=owner, name=name, revision=revision, path=path)
    segments = path.split("/")
    if not path.lower().endswith((".jsonl", ".jsonl.gz")):
        raise DatasetUrlInvalid(
            f"{short_url(text)!r}: the file must be .jsonl or .jsonl.gz, not {segments[-1]!r}"
        )
    return owner, name, revision, path


# Hub repo names: letters, digits, "_", "." and "-", at most 96, starting with a letter or digit.
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
# What no part may hold once decoded: "%" followed by an encoded ".", "/" or "\\" (the part was
# encoded twice, and a server that decodes again would see a traversal).
_DOUBLE_ENCODED = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def _check_parts(text: str, *, owner: str, name: str, revision: str, path: str) -> None:
    """Refuse parts that would change which Hub path the download asks for: dot segments,
    empty segments, backslashes, control characters and double encoding, in every part (all
    are decoded already). The file path keeps its "/"s; the revision is sent as one segment."""

    def refuse(part: str, value: str, why: str) -> None:
        raise DatasetUrlInvalid(f"{short_url(text)!r}: the {part} {value!r} is not valid: {why}")

    for part, value in (("owner", owner), ("name", name)):
        if not _REPO_PART.fullmatch(value) or ".." in value:
            refuse(part, value, 'Hub names are letters, digits, "_", "." and "-" (no "..")')
    for part, value in (("revision", revision), ("file path", path)):
        if "\\" in value:
            refuse(part, value, "it contains a backslash")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            refuse(part, value, "it contains a control character")
        if _DOUBLE_ENCODED.search(value):
            refuse(part, value, 'it holds a percent-encoded ".", "/" or "\\" (encoded twice)')
        segments = value.split("/")
        if "" in segments:
            refuse(part, value, "it has an empty segment")
        if any(segment in (".", "..") for segment in segments):
            refuse(part, value, 'it has a "." or ".." segment')
    if ".." in revision:
        refuse("revision", revision, 'a revision has no ".."')


def _parse_hf_path(text: str) -> tuple[str, str, str, str]:
    rest = text.removeprefix("hf://")
    if not rest.startswith("datasets/"):
        raise DatasetUrlInvalid(
            f"{short_url(text)!r}: only dataset repos are supported (hf://datasets/<owner>/<name>/...)"
        )
    parts = rest.removeprefix("datasets/").split("/", 2)
    if len(parts) < 3 or not parts[0] or not parts[1]:
        raise DatasetUrlInvalid(
            f"{short_url(text)!r}: expected hf://datasets/<owner>/<name>[@revision]/<file>.jsonl"
        )
    owner, name_rev, path = parts
    name, at, revision = name_rev.partition("@")
    if at and revision == "refs":  # an unescaped special ref: @refs/pr/1/data.jsonl
        special = _SPECIAL_REF.match("refs/" + path)
        if special:
            revision, path = special.group(1), ("refs/" + path)[special.end() :]
    revision = unquote(revision)
    if not name or (at and not revision):
        raise DatasetUrlInvalid(f"{short_url(text)!r}: the dataset name or revision is empty")
    return owner, name, revision or DEFAULT_REVISION, unquote(path)


def _parse_hub_url(text: str, *, hosts: frozenset[str] | set[str]) -> tuple[str, str, str, str]:
    parts = urlsplit(text)
    if (parts.hostname or "").lower() not in hosts:
        raise DatasetUrlInvalid(
            f"{short_url(text)!r} is not on huggingface.co: GET datasets are read from the Hub"
        )
    segments = parts.path.strip("/").split("/")
    if not segments or segments[0] != "datasets":
        raise DatasetUrlInvalid(
            f"{short_url(text)!r} is not a dataset URL: GET datasets live under "
            "huggingface.co/datasets/<owner>/<name>"
        )
    if len(segments) < 6 or segments[3] not in ("resolve", "blob", "raw"):
        raise DatasetUrlInvalid(
            f"{short_url(text)!r} points at a dataset page, not a file: link one .jsonl or "
            f".jsonl.gz file, like {_EXAMPLE}"
        )
    owner, name, revision, rest = segments[1], segments[2], segments[4], segments[5:]
    if revision == "refs" and len(rest) > 2:  # an unescaped refs/pr/1 or refs/convert/x
        special = _SPECIAL_REF.match("refs/" + "/".join(rest))
        if special:
            revision = special.group(1)
            rest = rest[2:]
    return unquote(owner), unquote(name), unquote(revision), unquote("/".join(rest))


def short_url(url: str) -> str:
    """A URL for messages: without query or fragment (they may carry signed tokens)."""
    return url.split("?", 1)[0].split("#", 1)[0][:300]
