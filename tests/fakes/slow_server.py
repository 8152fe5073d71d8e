"""A stand-in for a vLLM process, to test the launcher's lifecycle fast: it serves /health
and /v1/completions on loopback after a delay, can exit early with a log message, can fail
its completions, and can leave a grandchild process in its group.

    python slow_server.py --port P [--ready-after S] [--exit-after S --exit-code N --message M]
                          [--health-only] [--spawn-child] [--ignore-term]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--exit-after", type=float, default=None)
    parser.add_argument("--exit-code", type=int, default=1)
    parser.add_argument("--message", default="")
    parser.add_argument("--health-only", action="store_true")
    parser.add_argument("--spawn-child", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    print("fake server starting", flush=True)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"child pid {child.pid}", flush=True)
    if args.exit_after is not None:
        time.sleep(args.exit_after)
        print(args.message, flush=True)
        sys.exit(args.exit_code)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def _send(self, code: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            ready = time.monotonic() - started >= args.ready_after
            self._send(200 if ready and self.path == "/health" else 503, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            if args.health_only:
                self._send(500, {"error": "engine not ready"})
                return
            self._send(200, {"choices": [{"text": " 8"}], "usage": {"completion_tokens": 1}})

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("fake server listening", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
