"""Hugging Face endpoints and the Hub (whoami, dataset files as rows) against the simulator."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
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
from shared.providers.huggingface import MAX_LINE_BYTES, HuggingFaceEndpoint, HuggingFaceHub
from shared.settings import Settings
from simulator.server import Simulator
from tests.providers import HF_TOKEN, SimControl, running_simulator

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
def control(control: SimControl) -> SimControl:
    """The shared ``control`` (tests/providers/conftest.py), with this module's Hub files."""
    control.hf_file("acme/qa", "train.jsonl", jsonl(ROWS))
    control.hf_file("acme/qa", "data/train.jsonl.gz", gzip.compress(jsonl(ROWS)))
    control.hf_file("acme/secret", "train.jsonl", jsonl(ROWS), private=True)
    return control


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


# --- bounded reads ---------------------------------------------------------------------------


def _long_line(size: int) -> bytes:
    """One JSON row line of exactly ``size`` bytes (without its newline)."""
    head, tail = b'{"input": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("gz", [False, True], ids=["jsonl", "jsonl.gz"])
def test_every_line_is_measured_even_one_completed_inside_one_chunk(
    sim: Simulator, client: httpx.Client, control: SimControl, gz: bool
) -> None:
    # The long line sits between two short ones, so it ends inside the chunk it starts in:
    # inflating gzip turns a few KiB on the wire into one chunk holding all of it.
    content = jsonl(ROWS[:1]) + _long_line(MAX_LINE_BYTES + 1) + b"\n" + jsonl(ROWS[1:2])
    url = control.hf_file(
        "acme/long", f"long.jsonl{'.gz' if gz else ''}", gzip.compress(content) if gz else content
    )
    rows = hub(sim, client).open_rows(url)
    assert next(rows) == ROWS[0]
    with pytest.raises(DatasetInvalid) as info:
        next(rows)
    assert info.value.line == 2
    assert f"line 2 is longer than {MAX_LINE_BYTES} bytes" in info.value.message


def test_the_line_limit_is_a_parameter_and_a_line_at_it_is_read(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    content = _long_line(1000) + b"\n" + _long_line(1001) + b"\n"
    url = control.hf_file("acme/long", "limit.jsonl.gz", gzip.compress(content))
    rows = hub(sim, client).open_rows(url, max_line_bytes=1000)
    assert len(next(rows)["input"]) == 1000 - 13
    with pytest.raises(DatasetInvalid, match="line 2 is longer than 1000 bytes"):
        next(rows)
    crlf = _long_line(1000) + b"\r\n"  # the line's "\r" is its end, not part of it
    url = control.hf_file("acme/long", "crlf.jsonl", crlf)
    assert len(list(hub(sim, client).open_rows(url, max_line_bytes=1000))) == 1


def test_gzip_is_inflated_a_bounded_chunk_at_a_time(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    """A gzip bomb (a few KiB per 16 MiB of blank lines) stops at the byte cap without ever
    holding more than a bounded piece of it: the peak memory of the read stays small."""
    block = (b" " * 1023 + b"\n") * (16 * 1024)  # 16 MiB, blank lines (skipped)
    member = gzip.compress(block, compresslevel=9)
    bomb = member * 16  # 256 MiB inflated
    url = control.hf_file("acme/bomb", "bomb.jsonl.gz", bomb)
    cap = 8 * 1024 * 1024
    # The same read once first: the first one in a process allocates once for good (imports,
    # the pool's first connection, the error's first formatting), which is not what this
    # measures; an unbounded buffer would show in every read.
    with pytest.raises(DatasetTooLarge):
        list(hub(sim, client).open_rows(url, max_bytes=cap))
    tracemalloc.start()
    try:
        with pytest.raises(DatasetTooLarge) as info:
            list(hub(sim, client).open_rows(url, max_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.max_bytes == cap
    assert f"larger than {cap} bytes" in info.value.message
    # Unbounded, the read peaked at 45 MiB (a whole inflated member at a time). tracemalloc
    # counts every thread of the process (in a full run, the session stack's threads too):
    # bound by the rule, within a few MiB of the cap, not by this read alone.
    assert peak < cap + 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_a_long_line_in_many_small_chunks_is_read_in_linear_time(
    sim: Simulator, client: httpx.Client, control: SimControl
) -> None:
    line = _long_line(12 * 1024 * 1024)
    url = control.hf_file("acme/long", "linear.jsonl.gz", gzip.compress(line + b"\n"))
    started = time.perf_counter()
    [row] = list(hub(sim, client).open_rows(url))
    assert len(row["input"]) == len(line) - 13
    assert time.perf_counter() - started < 3.0


def test_the_line_limit_default_is_the_settings_default() -> None:
    assert Settings().dataset_max_line_bytes == MAX_LINE_BYTES
