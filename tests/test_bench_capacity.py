"""scripts/bench_capacity.py and its streaming test server (scripts/fast_stream_server.js):
the server's plain-socket HTTP/1.1 (keep-alive, chunked streams, one chunk per token, its
counters, its errors) and one short bench point through the script against it, on loopback."""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
from collections.abc import Iterator

import pytest

from tests.scripts import load_script

bc = load_script("bench_capacity")


# --------------------------------------------------------------------------- the server

SERVERS = [
    pytest.param(
        "node",
        marks=pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
    ),
    "python",
]


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    args = argparse.Namespace(
        ttft_ms=20.0, itl_ms=5.0, server_processes=1, server_cores=None, server=request.param
    )
    vocab = tmp_path_factory.mktemp("vocab") / "words.txt"
    proc, url = bc.start_server(args, vocab)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(5)


def _conn(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_the_server_streams_one_chunk_per_token_on_a_kept_alive_connection(server: str) -> None:
    conn = _conn(server)
    conn.request("GET", "/metrics")
    before = conn.getresponse().read().decode()
    body = {
        "model": "fake-model",
        "prompt": "alpha beta gamma",
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for _ in range(2):  # the second request on the same connection
        conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "x"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") == "chunked"
        events = [e for e in resp.read().decode().split("\n\n") if e]
        data = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
        assert events[-1] == "data: [DONE]"
        assert [d["choices"][0]["text"] for d in data[:5]] == [f" t{i}" for i in range(5)]
        assert data[4]["choices"][0]["finish_reason"] == "length"
        assert data[5]["usage"] == {"prompt_tokens": 4, "total_tokens": 9, "completion_tokens": 5}
    conn.request("GET", "/metrics")
    after = conn.getresponse().read().decode()
    gen = "vllm:generation_tokens_total"
    assert _metric(after, gen) - _metric(before, gen) == 10
    ok = "vllm:request_success_total"
    assert _metric(after, ok) - _metric(before, ok) == 2
    conn.close()


def test_the_server_tokenizes_and_refuses_what_it_does_not_serve(server: str) -> None:
    conn = _conn(server)
    conn.request("POST", "/tokenize", json.dumps({"prompt": "one two one"}))
    tokens = json.loads(conn.getresponse().read())["tokens"]
    assert tokens[0] == 0 and tokens[1] == tokens[3] and tokens[1] != tokens[2]
    conn.request("POST", "/detokenize", json.dumps({"tokens": tokens}))
    assert json.loads(conn.getresponse().read()) == {"prompt": "one two one"}
    conn.request("POST", "/v1/completions", "{not json")
    resp = conn.getresponse()
    assert resp.status == 400 and b"invalid JSON" in resp.read()
    conn.request("GET", "/nowhere")
    resp = conn.getresponse()
    assert resp.status == 404
    resp.read()
    conn.request("GET", "/v1/models")
    assert json.loads(conn.getresponse().read())["data"][0]["id"] == "fake-model"
    conn.close()


def test_one_point_through_the_script_measures_the_servers_known_latencies(server: str) -> None:
    args = argparse.Namespace(
        client_cores=None,
        output_tokens=16,
        duration=2.0,
        ttft_ms=20.0,
        itl_ms=5.0,
    )
    row = bc.run_point(args, server, 8, 1, bc.psutil.Process())
    assert row["workers"] == 1 and row["concurrency"] == 8
    # the server sends on an absolute schedule: nothing arrives before it is due
    assert row["ttft_p50_ms"] >= 20.0
    assert row["itl_p50_ms"] >= 4.0
    per_request_s = (20.0 + 15 * 5.0) / 1000.0
    assert row["ideal_tok_per_s"] == pytest.approx(8 * 16 / per_request_s)
    assert 0.0 < row["of_ideal"] <= 1.0
