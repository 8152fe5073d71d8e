"""What HTTP exchanges look like on the loopback wire, timed by the kernel.

A benchmark client measures TTFT from its own clock; when two clients disagree, the
question is whether the server answered one of them later or one of them measured
differently. This module answers it from outside both: it captures the TCP packets to and
from one port on the loopback interface (a Linux ``AF_PACKET`` socket, so it needs root or
``CAP_NET_RAW``), with the kernel's receive timestamp on each, and rebuilds every
request/response exchange:

- ``request_t_s``: the packet that carried the request line;
- ``head_t_s``: the first packet of the answer (usually the status line and headers);
- ``first_content_t_s``: the first packet whose body holds a non-empty ``"text"`` or
  ``"content"`` field, the wire's TTFT mark as localeval counts it (a role-only chat
  chunk, or a token whose text is still empty because it ends inside a UTF-8 character,
  does not count);
- ``first_choice_t_s``: the first packet with a non-empty ``"choices"`` list, empty text
  or not: the mark vLLM's own benchmark client counts TTFT to;
- ``choice_ts``: every packet with a choice, for the gaps between them (the wire's ITL);
- ``end_t_s``: the packet that ended a chunked body (``0\\r\\n\\r\\n``);
- ``idle_before_s``: how long the connection sat idle between the previous exchange's end
  and this request: the client's turnaround.

Used by ``scripts/bench_vs_vllm.py --wire``. Only loopback is read; only the first
``SNAP_BYTES`` of each packet are kept.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import statistics
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

SNAP_BYTES = 1024
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4  # loopback shows each packet twice: sent, then received; keep one
_SO_TIMESTAMPNS = 35
_SO_RCVBUFFORCE = 33
_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_CONTENT = re.compile(rb'"(?:text|content)":"[^"]')
_CHOICE = re.compile(rb'"choices":\[\{')


class CaptureUnavailable(RuntimeError):
    """A loopback capture cannot be opened here (not Linux, or no CAP_NET_RAW)."""


@dataclass(frozen=True)
class Packet:
    """One TCP segment with a payload: kernel time, ports, the first bytes of the payload."""

    t_s: float
    src_port: int
    dst_port: int
    payload: bytes


@dataclass
class Exchange:
    """One request and its answer on one connection, as seen on the wire."""

    client_port: int
    method: str
    path: str
    user_agent: str
    request_t_s: float
    idle_before_s: float | None = None
    head_t_s: float | None = None
    first_choice_t_s: float | None = None
    first_content_t_s: float | None = None
    end_t_s: float | None = None
    choice_ts: list[float] = field(default_factory=list)

    @property
    def ttft_s(self) -> float | None:
        if self.first_content_t_s is None:
            return None
        return self.first_content_t_s - self.request_t_s

    @property
    def first_choice_s(self) -> float | None:
        if self.first_choice_t_s is None:
            return None
        return self.first_choice_t_s - self.request_t_s


def parse_frame(frame: bytes) -> tuple[int, int, bytes] | None:
    """(source port, destination port, payload) of an Ethernet-framed IPv4 or IPv6 TCP
    segment; None for anything else (other protocols, IPv6 extension headers)."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == 0x0800:
        ip = memoryview(frame)[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            return None
        total = struct.unpack_from("!H", ip, 2)[0]
        tcp = ip[(ip[0] & 0x0F) * 4 : total]
    elif ethertype == 0x86DD:
        ip = memoryview(frame)[14:]
        if len(ip) < 40 or ip[6] != 6:
            return None
        tcp = ip[40 : 40 + struct.unpack_from("!H", ip, 4)[0]]
    else:
        return None
    if len(tcp) < 20:
        return None
    src, dst = struct.unpack_from("!HH", tcp, 0)
    return src, dst, bytes(tcp[(tcp[12] >> 4) * 4 :])


def _header(head: bytes, name: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return ""


def exchanges(packets: Iterable[Packet], server_port: int) -> list[Exchange]:
    """Rebuild the HTTP/1.1 exchanges with ``server_port`` from captured packets (in
    capture order). A request is a client packet that starts with a method; every server
    packet on that connection until the next request belongs to its answer."""
    current: dict[int, Exchange] = {}
    last_end: dict[int, float] = {}
    out: list[Exchange] = []
    for p in packets:
        if not p.payload:
            continue
        if p.dst_port == server_port:
            method, _, rest = p.payload.partition(b" ")
            if method not in (b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"PATCH"):
                continue  # the rest of a request body
            prev_end = last_end.get(p.src_port)
            ex = Exchange(
                client_port=p.src_port,
                method=method.decode(),
                path=rest.split(b" ", 1)[0].decode("latin-1"),
                user_agent=_header(p.payload.split(b"\r\n\r\n", 1)[0], b"user-agent"),
                request_t_s=p.t_s,
                idle_before_s=None if prev_end is None else p.t_s - prev_end,
            )
            current[p.src_port] = ex
            out.append(ex)
        elif p.src_port == server_port:
            answering = current.get(p.dst_port)
            if answering is None:
                continue
            if answering.head_t_s is None:
                answering.head_t_s = p.t_s
            if _CHOICE.search(p.payload):
                answering.choice_ts.append(p.t_s)
                if answering.first_choice_t_s is None:
                    answering.first_choice_t_s = p.t_s
            if answering.first_content_t_s is None and _CONTENT.search(p.payload):
                answering.first_content_t_s = p.t_s
            if p.payload.endswith(b"0\r\n\r\n"):
                answering.end_t_s = p.t_s
                last_end[p.dst_port] = p.t_s
    return out


@dataclass(frozen=True)
class WireSummary:
    """Medians over a client's generation requests, in milliseconds."""

    requests: int
    ttft_p50_ms: float | None
    first_choice_p50_ms: float | None
    # share of requests whose first choice came before their first text (empty text first)
    text_later_share: float | None
    head_p50_ms: float | None
    idle_before_p50_ms: float | None
    # gaps between successive packets with a choice, after the first (one SSE event a
    # packet, as vLLM and the fake server write them, makes this the wire's ITL)
    itl_p50_ms: float | None = None


def summarize(
    items: Iterable[Exchange], user_agent_prefix: str, skip_first: int = 0
) -> WireSummary:
    """Medians over the ``/completions`` exchanges whose User-Agent starts with
    ``user_agent_prefix`` (a tool's name), leaving out the first ``skip_first`` of them
    (a tool's warmup requests)."""
    mine = [
        e
        for e in items
        if e.path.endswith("/completions") and e.user_agent.startswith(user_agent_prefix)
    ][skip_first:]

    def median_ms(values: Iterable[float | None]) -> float | None:
        got = [v * 1000.0 for v in values if v is not None]
        return statistics.median(got) if got else None

    return WireSummary(
        requests=len(mine),
        ttft_p50_ms=median_ms(e.ttft_s for e in mine),
        first_choice_p50_ms=median_ms(e.first_choice_s for e in mine),
        text_later_share=_text_later_share(mine),
        head_p50_ms=median_ms(
            None if e.head_t_s is None else e.head_t_s - e.request_t_s for e in mine
        ),
        idle_before_p50_ms=median_ms(e.idle_before_s for e in mine),
        itl_p50_ms=median_ms(b - a for e in mine for a, b in itertools.pairwise(e.choice_ts)),
    )


def _text_later_share(items: list[Exchange]) -> float | None:
    """Share of the exchanges with text whose first choice came in an earlier packet."""
    marked = [e for e in items if e.first_content_t_s is not None]
    if not marked:
        return None
    later = sum(
        1
        for e in marked
        if e.first_choice_t_s is not None
        and e.first_content_t_s is not None
        and e.first_content_t_s > e.first_choice_t_s
    )
    return later / len(marked)


class LoopbackCapture:
    """Capture TCP segments with a payload to or from ``port`` on ``lo``, in a thread::

    with LoopbackCapture(8000) as cap:
        ...  # run the load
    cap.packets, cap.dropped

    Raises :class:`CaptureUnavailable` when the socket cannot be opened."""

    def __init__(self, port: int, interface: str = "lo") -> None:
        self.port = port
        self.interface = interface
        self.packets: list[Packet] = []
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> LoopbackCapture:
        af_packet = getattr(socket, "AF_PACKET", None)
        if af_packet is None:
            raise CaptureUnavailable("packet capture needs Linux (AF_PACKET sockets)")
        try:
            sock = socket.socket(af_packet, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        except PermissionError as exc:
            raise CaptureUnavailable(
                "packet capture needs root or CAP_NET_RAW (e.g. sudo setcap "
                "cap_net_raw+ep on the Python binary)"
            ) from exc
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 64 << 20)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        sock.bind((self.interface, 0))
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._read, name="wire-capture", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._sock is not None
        anc_size = socket.CMSG_SPACE(16)
        while not self._stop.is_set():
            try:
                frame, anc, _flags, addr = self._sock.recvmsg(SNAP_BYTES + 128, anc_size)
            except (TimeoutError, InterruptedError):
                continue
            except OSError:
                return
            if addr[2] != _PACKET_OUTGOING:
                continue
            parsed = parse_frame(frame)
            if parsed is None or self.port not in parsed[:2] or not parsed[2]:
                continue
            t_s = _timestamp(anc)
            self.packets.append(Packet(t_s, parsed[0], parsed[1], parsed[2][:SNAP_BYTES]))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                stats = self._sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
                self.dropped = struct.unpack("II", stats)[1]
            self._sock.close()


def _timestamp(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("qq", data)
            return float(sec) + float(nsec) * 1e-9
    raise RuntimeError("a captured packet came without its kernel timestamp")
