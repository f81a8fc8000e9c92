"""Hugging Face endpoints and the Hub (whoami, dataset files as rows) against the simulator."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.providers.base import ChatRequest
from shared.providers.errors import (
    DatasetAccessDenied,
    DatasetInvalid,
    DatasetNotFound,
    DatasetTooLarge,
    MissingCredentials,
    UpstreamAuthFailed,
)
from shared.providers.huggingface import HuggingFaceEndpoint, HuggingFaceHub
from simulator.server import Simulator
from tests.providers import HF_TOKEN, SimControl, loopback_client, running_simulator

QUESTION = "Translate 'good morning' to French."
ANSWER = "Bonjour"
MODEL = "acme/tgi-7b"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ROWS = [{"input": f"question {i}", "expected": f"answer {i}", "id": i} for i in range(5)]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with running_simulator(
        tmp_path_factory.mktemp("hf"),
        models=[{"id": MODEL}],
        custom_endpoints={"my-llm": {"auth": "bearer", "token": HF_TOKEN}},
        answer_key=[{"input": QUESTION, "expected": ANSWER}],
    ) as started:
        yield started


@pytest.fixture(scope="module")
def control(sim: Simulator) -> Iterator[SimControl]:
    control = SimControl(sim)
    control.hf_file("acme/qa", "train.jsonl", jsonl(ROWS))
    control.hf_file("acme/qa", "data/train.jsonl.gz", gzip.compress(jsonl(ROWS)))
    control.hf_file("acme/secret", "train.jsonl", jsonl(ROWS), private=True)
    yield control
    control.close()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with loopback_client() as client:
        yield client


def hub(sim: Simulator, client: httpx.Client, token: str | None = None) -> HuggingFaceHub:
    return HuggingFaceHub(client=client, endpoint=sim.base_url, token=token)


def ask() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": QUESTION}])


# --- inference endpoints ---------------------------------------------------------------------


def test_endpoint_base_url_gets_the_openai_route(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    target = HuggingFaceEndpoint(
        client=client, url=f"{sim.base_url}/endpoints/my-llm/", token=HF_TOKEN, model=None
    )
    completion = target.complete(ask(), timeout=TIMEOUT)
    assert completion.output == ANSWER
    assert completion.prompt_tokens and completion.completion_tokens
    sent = control.last_request()
    assert sent["path"] == "/endpoints/my-llm/v1/chat/completions"
    assert sent["body"]["model"] == "tgi"
    assert target.label == f"huggingface:127.0.0.1:{sim.port}/endpoints/my-llm/v1/chat/completions"


def test_a_full_chat_completions_url_is_kept(sim: Simulator, client: httpx.Client) -> None:
    target = HuggingFaceEndpoint(
        client=client, url=f"{sim.base_url}/v1/chat/completions", token=HF_TOKEN, model=MODEL
    )
    completion = target.complete(ask(), timeout=TIMEOUT)
    assert completion.output == ANSWER and completion.model == MODEL


def test_endpoint_without_token_is_refused(sim: Simulator, client: httpx.Client) -> None:
    target = HuggingFaceEndpoint(
        client=client, url=f"{sim.base_url}/endpoints/my-llm", token=None, model=None
    )
    with pytest.raises(UpstreamAuthFailed):
        target.complete(ask(), timeout=TIMEOUT)


def test_endpoint_streams(sim: Simulator, client: httpx.Client) -> None:
    target = HuggingFaceEndpoint(
        client=client, url=f"{sim.base_url}/endpoints/my-llm", token=HF_TOKEN, model=None
    )
    events = list(target.stream(ask(), timeout=TIMEOUT))
    assert "".join(event.delta for event in events) == ANSWER
    assert events[-1].completion is not None and events[-1].completion.output == ANSWER


# --- whoami ----------------------------------------------------------------------------------


def test_whoami(sim: Simulator, client: httpx.Client) -> None:
    assert hub(sim, client, HF_TOKEN).whoami()["name"] == "sim-user"


def test_whoami_refuses_a_bad_token(sim: Simulator, client: httpx.Client) -> None:
    with pytest.raises(UpstreamAuthFailed) as info:
        hub(sim, client, "not-a-token-0000000").whoami()
    assert info.value.status == 401 and "not-a-token" not in str(info.value)
    with pytest.raises(MissingCredentials):
        hub(sim, client, None).whoami()


# --- dataset rows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "hf://datasets/acme/qa/train.jsonl",
        "https://huggingface.co/datasets/acme/qa/resolve/main/train.jsonl",
        "https://huggingface.co/datasets/acme/qa/blob/main/data/train.jsonl.gz",
        "hf://datasets/acme/qa@main/data/train.jsonl.gz",
    ],
)
def test_rows_of_jsonl_and_jsonl_gz(
    sim: Simulator, client: httpx.Client, control: SimControl, url: str
) -> None:
    assert list(hub(sim, client).open_rows(url)) == ROWS


def test_private_dataset_needs_a_token(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    url = "hf://datasets/acme/secret/train.jsonl"
    with pytest.raises(DatasetAccessDenied) as info:
        next(hub(sim, client).open_rows(url))
    assert "add a Hugging Face token in integrations" in info.value.message
    assert info.value.url == url and info.value.status == 401
    assert list(hub(sim, client, HF_TOKEN).open_rows(url)) == ROWS


def test_an_invalid_token_is_access_denied(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    with pytest.raises(DatasetAccessDenied) as info:
        next(hub(sim, client, "hf-wrong-0000000000").open_rows("hf://datasets/acme/qa/train.jsonl"))
    assert "token" in info.value.message and "hf-wrong" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["hf://datasets/acme/qa/missing.jsonl", "hf://datasets/acme/nothing/train.jsonl"]
)
def test_missing_files_and_repos_are_not_found(
    sim: Simulator, client: httpx.Client, control: SimControl, url: str
) -> None:
    with pytest.raises(DatasetNotFound) as info:
        next(hub(sim, client).open_rows(url))
    assert info.value.status == 404


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b'{"input": "a"}\n{"input": "b"}\nnot json\n', 3),
        (b'{"input": "a"}\n\n[1, 2]\n', 3),  # blank lines count
        (b'{"input": "a"}\n"just a string"', 2),
        (b'{"input": "a"}\n\xff\xfe\n', 2),
    ],
)
def test_invalid_lines_name_their_line_number(
    sim: Simulator, client: httpx.Client, control: SimControl, content: bytes, line: int
) -> None:
    url = control.hf_file("acme/broken", f"bad-{line}.jsonl", content)
    rows = hub(sim, client).open_rows(url)
    assert next(rows) == {"input": "a"}
    with pytest.raises(DatasetInvalid) as info:
        list(rows)
    assert info.value.line == line
    assert f"line {line}" in info.value.reason


def test_gzip_edge_cases(sim: Simulator, client: httpx.Client, control: SimControl) -> None:
    two_members = gzip.compress(jsonl(ROWS[:2])) + gzip.compress(jsonl(ROWS[2:]))
    url = control.hf_file("acme/gz", "members.jsonl.gz", two_members)
    assert list(hub(sim, client).open_rows(url)) == ROWS

    crlf_bom = b"\xef\xbb\xbf" + jsonl(ROWS).replace(b"\n", b"\r\n")
    url = control.hf_file("acme/gz", "windows.jsonl.gz", gzip.compress(crlf_bom))
    assert list(hub(sim, client).open_rows(url)) == ROWS

    whole = gzip.compress(jsonl(ROWS))
    url = control.hf_file("acme/gz", "truncated.jsonl.gz", whole[: len(whole) // 2])
    with pytest.raises(DatasetInvalid, match="ends early") as info:
        list(hub(sim, client).open_rows(url))
    assert info.value.line is None

    url = control.hf_file("acme/gz", "corrupt.jsonl.gz", whole[:10] + b"\x00" * 50)
    with pytest.raises(DatasetInvalid, match="corrupt"):
        list(hub(sim, client).open_rows(url))


def test_a_large_gzip_file_streams_and_can_be_capped(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    many = [
        {"input": f"question number {i} " + "x" * 100, "expected": str(i)} for i in range(20000)
    ]
    url = control.hf_file("acme/big", "big.jsonl.gz", gzip.compress(jsonl(many)))
    rows = hub(sim, client).open_rows(url)
    assert sum(1 for _ in rows) == len(many)

    first = hub(sim, client).open_rows(url)
    assert next(first)["expected"] == "0"
    first.close()  # type: ignore[attr-defined]  # a prefix read closes the download

    with pytest.raises(DatasetTooLarge) as info:
        list(hub(sim, client).open_rows(url, max_bytes=100_000))
    assert info.value.max_bytes == 100_000
