"""The loopback wire view: frames parsed by hand-built bytes, exchanges rebuilt from
hand-made packets, and, where this machine allows a packet capture, a live capture of
`localeval bench` against the fake server."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer
from localeval.testing.wire import (
    CaptureUnavailable,
    LoopbackCapture,
    Packet,
    exchanges,
    parse_frame,
    summarize,
)

SERVER = 8000


def _tcp(src: int, dst: int, payload: bytes) -> bytes:
    # 20-byte TCP header plus 4 bytes of options: data offset 6 words
    header = struct.pack("!HHIIBBHHH", src, dst, 1, 0, 6 << 4, 0x18, 65535, 0, 0)
    return header + b"\x01\x01\x01\x01" + payload


def _ipv4(tcp: bytes, proto: int = 6) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, proto, 0, b"\x7f\0\0\1", b"\x7f\0\0\1"
    )
    return b"\0" * 12 + b"\x08\x00" + header + tcp + b"\0\0"  # trailing padding is ignored


def _ipv6(tcp: bytes) -> bytes:
    header = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, b"\0" * 15 + b"\1", b"\0" * 16)
    return b"\0" * 12 + b"\x86\xdd" + header + tcp


def test_parse_frame_ipv4_ipv6_and_others() -> None:
    assert parse_frame(_ipv4(_tcp(50000, SERVER, b"POST /x"))) == (50000, SERVER, b"POST /x")
    assert parse_frame(_ipv6(_tcp(SERVER, 50000, b"data"))) == (SERVER, 50000, b"data")
    assert parse_frame(_ipv4(_tcp(1, 2, b""))) == (1, 2, b"")
    assert parse_frame(_ipv4(_tcp(1, 2, b"x"), proto=17)) is None  # UDP
    assert parse_frame(b"\0" * 12 + b"\x08\x06" + b"\0" * 28) is None  # ARP
    assert parse_frame(b"short") is None


def _post(path: str, agent: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: h\r\nUser-Agent: {agent}\r\nContent-Length: 10\r\n\r\n{{}}"
    ).encode()


def _chunk(event: str) -> bytes:
    data = f"data: {event}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_exchanges_rebuilt_per_connection() -> None:
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    role = _chunk('{"choices":[{"delta":{"role":"assistant","content":""}}]}')
    token = _chunk('{"choices":[{"delta":{"content":"Hi"}}]}')
    text = _chunk('{"choices":[{"text":" a"}]}')
    empty = _chunk('{"choices":[{"text":""}]}')  # a token ending inside a UTF-8 character
    usage = _chunk('{"choices":[],"usage":{"completion_tokens":2}}')
    end = _chunk("[DONE]") + b"0\r\n\r\n"
    a, b = 41000, 42000
    packets = [
        Packet(0.5, SERVER, a, b"stray bytes before any request"),
        Packet(1.000, a, SERVER, _post("/v1/chat/completions", "localeval/0.1.0")),
        Packet(1.001, a, SERVER, b'{"rest": "of the body"}'),
        Packet(1.002, b, SERVER, _post("/v1/completions", "python aiohttp")),
        Packet(1.003, SERVER, a, head),
        Packet(1.004, SERVER, a, role),  # role-only: not content
        Packet(1.004, SERVER, b, head + usage),  # an empty choices list is no choice
        Packet(1.005, SERVER, b, empty),
        Packet(1.007, SERVER, b, text),
        Packet(1.010, SERVER, a, token),
        Packet(1.011, SERVER, a, b""),  # an ACK: no payload
        Packet(1.020, SERVER, a, end),
        Packet(1.030, SERVER, b, end),
        Packet(1.0205, a, SERVER, _post("/v1/chat/completions", "localeval/0.1.0")),
        Packet(1.040, SERVER, a, head + text + end),
        Packet(1.050, b, SERVER, b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]
    got = exchanges(packets, SERVER)
    assert [(e.client_port, e.method, e.path) for e in got] == [
        (a, "POST", "/v1/chat/completions"),
        (b, "POST", "/v1/completions"),
        (a, "POST", "/v1/chat/completions"),
        (b, "GET", "/metrics"),
    ]
    first, other, again, metrics = got
    assert first.user_agent == "localeval/0.1.0" and other.user_agent == "python aiohttp"
    assert first.head_t_s == 1.003
    assert first.ttft_s == pytest.approx(0.010)  # the role-only chunk at 1.004 does not count
    assert first.first_choice_s == pytest.approx(0.004)  # but it is the first choice
    assert first.end_t_s == 1.020 and first.idle_before_s is None
    assert other.ttft_s == pytest.approx(0.005) and other.end_t_s == 1.030
    assert other.first_choice_s == pytest.approx(0.003) and other.head_t_s == 1.004
    assert again.idle_before_s == pytest.approx(0.0005)
    assert again.ttft_s == pytest.approx(0.0195) and again.end_t_s == 1.040
    assert metrics.idle_before_s == pytest.approx(0.020) and metrics.ttft_s is None
    assert metrics.first_choice_s is None

    ours = summarize(got, "localeval")
    assert ours.requests == 2
    assert ours.ttft_p50_ms == pytest.approx((10.0 + 19.5) / 2)
    assert ours.first_choice_p50_ms == pytest.approx((4.0 + 19.5) / 2)
    # choice packets at 1.004 and 1.010 (first exchange), 1.040 alone (second)
    assert ours.itl_p50_ms == pytest.approx(6.0)
    assert ours.text_later_share == 0.5  # the role-only chunk came first once in two
    assert ours.head_p50_ms == pytest.approx((3.0 + 19.5) / 2)
    assert ours.idle_before_p50_ms == pytest.approx(0.5)
    theirs = summarize(got, "python aiohttp")  # /metrics is not a generation request
    assert theirs.requests == 1 and theirs.idle_before_p50_ms is None
    assert theirs.text_later_share == 1.0  # its first token came with empty text
    assert summarize(got, "nobody").ttft_p50_ms is None
    after_warmup = summarize(got, "localeval", skip_first=1)
    assert after_warmup.requests == 1 and after_warmup.ttft_p50_ms == pytest.approx(19.5)


def test_live_capture_sees_the_fake_servers_latency(tmp_path: Path) -> None:
    """The wire's TTFT is at least the fake's 30 ms, and the client's own TTFT, which starts
    before its request leaves and ends after the answer is read, is at least the wire's."""
    with FakeOpenAIServer(FakeBehavior(ttft_ms=30.0, itl_ms=2.0, output_tokens=8)) as fake:
        port = int(fake.base_url.rsplit(":", 1)[1])
        try:
            with LoopbackCapture(port) as cap:
                result = CliRunner().invoke(
                    cli,
                    ["bench", "--endpoint", fake.base_url, "--model", "fake-model",
                     "--concurrency", "1", "--num-requests", "6", "--warmup", "1",
                     "--input-tokens", "8", "--output-tokens", "8", "--output",
                     str(tmp_path / "run"), "--no-report", "--no-progress"],
                    catch_exceptions=False,
                )  # fmt: skip
        except CaptureUnavailable as exc:
            pytest.skip(str(exc))
    assert result.exit_code == 0, result.output
    got = [e for e in exchanges(cap.packets, port) if e.path == "/v1/completions"]
    assert len(got) == 7  # the warmup request and six measured ones
    assert all(e.user_agent.startswith("localeval/") for e in got)
    assert all(e.ttft_s is not None and e.ttft_s >= 0.030 for e in got)
    assert all(e.end_t_s is not None for e in got)
    # one kept-alive connection: every request after the first reused it
    assert sum(e.idle_before_s is not None for e in got) == 6
    records = [json.loads(line) for line in (tmp_path / "run" / "requests.jsonl").open()]
    wire_ttft_ms = [e.ttft_s * 1000 for e in got[1:] if e.ttft_s is not None]
    for record, wire_ms in zip(records, wire_ttft_ms, strict=True):
        assert record["ttft_ms"] >= wire_ms
