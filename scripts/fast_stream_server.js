#!/usr/bin/env node
// A fast OpenAI-compatible streaming test server, to find a load generator's ceiling.
//
// Plain Node (no packages), HTTP/1.1 on plain sockets (node's http module costs more per
// write than the kernel does, and the server must be cheaper per chunk than the client it
// measures). Every stream's token i is due at arrival + ttft + i * itl on an absolute
// schedule; one timer wheel (1 ms slots) serves every stream, and each token is one SSE
// event in one chunk of the chunked transfer coding, one socket write, so the client sees
// one chunk per token. It answers /v1/models, /health, /version, /tokenize and /detokenize
// (whitespace words are tokens, ids given on first sight, id 0 the BOS, as
// localeval.testing.fake_server), /metrics (the vLLM counters localeval reads) and
// streaming /v1/completions with the usage record, on kept-alive connections.
// Every 5 s it prints chunks/s and the mean lateness of its writes on stderr.
//
// --processes N runs N server processes on the one port (Node's cluster module), for a
// client with more cores than one server process can feed; --vocab FILE (one word per
// line) gives every process the same token ids for those words, so that a prompt built
// with one process's /tokenize and /detokenize is counted alike by the others.
//
//   node scripts/fast_stream_server.js --port 8123 --ttft-ms 20 --itl-ms 5 \
//       [--model fake-model] [--processes 1] [--vocab words.txt]
"use strict";

const cluster = require("cluster");
const fs = require("fs");
const net = require("net");
const { performance } = require("perf_hooks");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const PORT = Number(arg("port", "8123"));
const TTFT_MS = Number(arg("ttft-ms", "20"));
const ITL_MS = Number(arg("itl-ms", "5"));
const MODEL = arg("model", "fake-model");
const DEFAULT_TOKENS = Number(arg("output-tokens", "64"));
const MAX_MODEL_LEN = 4096;
const PROCESSES = Number(arg("processes", "1"));
const VOCAB = arg("vocab", null);

if (PROCESSES > 1 && cluster.isPrimary) {
  for (let i = 0; i < PROCESSES; i++) cluster.fork();
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].kill();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stderr.write(`listening on http://127.0.0.1:${PORT} (${PROCESSES} processes)\n`);
  return;
}

// --- tokenizer --------------------------------------------------------------------------
const ids = new Map([["<s>", 0]]);
const words = ["<s>"];
if (VOCAB) {
  for (const w of fs.readFileSync(VOCAB, "utf8").split(/\s+/)) {
    if (w && !ids.has(w)) {
      ids.set(w, words.length);
      words.push(w);
    }
  }
}
function encode(text) {
  const out = [];
  for (const w of String(text).split(/\s+/)) {
    if (!w) continue;
    let id = ids.get(w);
    if (id === undefined) {
      id = words.length;
      ids.set(w, id);
      words.push(w);
    }
    out.push(id);
  }
  return out;
}

// --- the timer wheel --------------------------------------------------------------------
const slots = new Map(); // ms slot -> streams due in it
let lastSlot = Math.floor(performance.now());
let chunks = 0;
let latenessSum = 0;
let running = 0;
let promptTokens = 0;
let generationTokens = 0;
let success = 0;
let nextId = 0;

// A stream is never due in the slot being served or before it: a late stream's next token
// goes in the next slot instead of a slot already passed (where it would never be sent).
function schedule(stream, dueMs) {
  const slot = Math.max(Math.ceil(dueMs), lastSlot + 1);
  let list = slots.get(slot);
  if (list === undefined) {
    list = [];
    slots.set(slot, list);
  }
  list.push(stream);
}

function tick() {
  const now = performance.now();
  const upTo = Math.floor(now);
  for (let slot = lastSlot + 1; slot <= upTo; slot++) {
    lastSlot = slot;
    const list = slots.get(slot);
    if (list === undefined) continue;
    slots.delete(slot);
    for (const s of list) step(s, now);
  }
  lastSlot = upTo;
  setTimeout(tick, 1);
}

function completionEvent(s, text, finish) {
  const fin = finish === null ? "null" : `"${finish}"`;
  return (
    `data: {"id":"cmpl-${s.id}","object":"text_completion","created":${s.created},` +
    `"model":${JSON.stringify(MODEL)},"choices":[{"index":0,"text":"${text}",` +
    `"logprobs":null,"finish_reason":${fin},"stop_reason":null}]}\n\n`
  );
}

function step(s, now) {
  if (s.closed) return;
  const due = s.start + s.sent * ITL_MS;
  latenessSum += now - due;
  chunks += 1;
  const text = ` t${s.sent}`;
  s.sent += 1;
  generationTokens += 1;
  if (s.sent < s.n) {
    s.sock.write(chunk(completionEvent(s, text, null)));
    schedule(s, s.start + s.sent * ITL_MS);
    return;
  }
  let tail = completionEvent(s, text, "length");
  if (s.usage) {
    const usage = {
      prompt_tokens: s.promptTokens,
      total_tokens: s.promptTokens + s.sent,
      completion_tokens: s.sent,
    };
    tail +=
      `data: {"id":"cmpl-${s.id}","object":"text_completion","created":${s.created},` +
      `"model":${JSON.stringify(MODEL)},"choices":[],"usage":${JSON.stringify(usage)}}\n\n`;
  }
  tail += "data: [DONE]\n\n";
  s.sock.write(chunk(tail) + `0${CRLF}${CRLF}`);
  s.sock.stream = null;
  s.closed = true;
  running -= 1;
  success += 1;
}

function metrics() {
  const lab = `engine="0",model_name="${MODEL}"`;
  return (
    [
      "# TYPE vllm:num_requests_running gauge",
      `vllm:num_requests_running{${lab}} ${running}`,
      "# TYPE vllm:prompt_tokens_total counter",
      `vllm:prompt_tokens_total{${lab}} ${promptTokens}`,
      "# TYPE vllm:generation_tokens_total counter",
      `vllm:generation_tokens_total{${lab}} ${generationTokens}`,
      "# TYPE vllm:request_success_total counter",
      `vllm:request_success_total{${lab},finished_reason="length"} ${success}`,
    ].join("\n") + "\n"
  );
}

function generate(sock, body) {
  const n = Math.max(1, Number(body.max_tokens || DEFAULT_TOKENS));
  const prompt = Array.isArray(body.prompt) ? body.prompt.join(" ") : String(body.prompt || "");
  const s = {
    id: nextId++,
    created: Math.floor(Date.now() / 1000),
    sock,
    n,
    sent: 0,
    promptTokens: 1 + encode(prompt).length,
    usage: Boolean(body.stream_options && body.stream_options.include_usage),
    start: performance.now() + TTFT_MS,
    closed: false,
  };
  promptTokens += s.promptTokens;
  running += 1;
  sock.stream = s;
  sock.write(
    `HTTP/1.1 200 OK${CRLF}Content-Type: text/event-stream${CRLF}Cache-Control: no-cache${CRLF}` +
      `Transfer-Encoding: chunked${CRLF}Connection: keep-alive${CRLF}${CRLF}`
  );
  schedule(s, s.start);
}

// --- HTTP/1.1 over plain sockets -------------------------------------------------------
// Node's http module costs more per write than the kernel does; a load generator's
// ceiling is only found by a server that is cheaper per chunk than the client. So the
// requests are parsed here (request line, headers, Content-Length body, keep-alive) and
// each token is one pre-framed chunk of the chunked transfer coding, one socket write.
const CRLF = "\r\n";

function respond(sock, status, contentType, body) {
  const reason = { 200: "OK", 400: "Bad Request", 404: "Not Found" }[status] || "Error";
  const payload = Buffer.from(body);
  sock.write(
    `HTTP/1.1 ${status} ${reason}${CRLF}Content-Type: ${contentType}${CRLF}` +
      `Content-Length: ${payload.length}${CRLF}Connection: keep-alive${CRLF}${CRLF}`
  );
  sock.write(payload);
}

function json(sock, status, obj) {
  respond(sock, status, "application/json", JSON.stringify(obj));
}

function chunk(text) {
  return `${Buffer.byteLength(text).toString(16)}${CRLF}${text}${CRLF}`;
}

function handle(sock, method, url, raw) {
  if (method === "GET") {
    if (url === "/health") return respond(sock, 200, "text/plain", "");
    if (url === "/version") return json(sock, 200, { version: "fast-node" });
    if (url === "/v1/models")
      return json(sock, 200, {
        object: "list",
        data: [{ id: MODEL, object: "model", owned_by: "fake", max_model_len: MAX_MODEL_LEN }],
      });
    if (url === "/metrics") return respond(sock, 200, "text/plain; version=0.0.4", metrics());
    return json(sock, 404, { detail: "Not Found" });
  }
  let body;
  try {
    body = JSON.parse(raw || "{}");
  } catch (e) {
    return json(sock, 400, { error: { message: "invalid JSON body" } });
  }
  if (url === "/tokenize") {
    const special = body.add_special_tokens !== false;
    const tokens = (special ? [0] : []).concat(encode(body.prompt || ""));
    return json(sock, 200, { count: tokens.length, max_model_len: MAX_MODEL_LEN, tokens });
  }
  if (url === "/detokenize") {
    const text = (body.tokens || []).filter((i) => i > 0 && i < words.length).map((i) => words[i]);
    return json(sock, 200, { prompt: text.join(" ") });
  }
  if (url === "/v1/completions" && body.stream) return generate(sock, body);
  return json(sock, 404, { detail: "Not Found" });
}

function connection(sock) {
  sock.setNoDelay(true);
  let buf = null;
  sock.on("error", () => {});
  sock.on("close", () => {
    const s = sock.stream;
    if (s && !s.closed) {
      s.closed = true;
      running -= 1;
    }
  });
  sock.on("data", (d) => {
    buf = buf === null ? d : Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = buf.toString("latin1", 0, end).split(CRLF);
      const [method, url] = lines[0].split(" ");
      let length = 0;
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(":");
        if (lines[i].slice(0, colon).trim().toLowerCase() === "content-length")
          length = Number(lines[i].slice(colon + 1).trim());
      }
      if (buf.length < end + 4 + length) return;
      const raw = buf.toString("utf8", end + 4, end + 4 + length);
      buf = buf.length === end + 4 + length ? null : buf.subarray(end + 4 + length);
      handle(sock, method, url, raw);
      if (buf === null) return;
    }
  });
}

const server = net.createServer(connection);

let lastChunks = 0;
let lastLate = 0;
let lastT = performance.now();
setInterval(() => {
  const now = performance.now();
  const n = chunks - lastChunks;
  const late = n ? (latenessSum - lastLate) / n : 0;
  process.stderr.write(
    `chunks/s ${((n * 1000) / (now - lastT)).toFixed(0)} mean lateness ${late.toFixed(2)} ms streams ${running}\n`
  );
  lastChunks = chunks;
  lastLate = latenessSum;
  lastT = now;
}, 5000).unref();

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
server.listen(PORT, "127.0.0.1", () => {
  if (PROCESSES <= 1) process.stderr.write(`listening on http://127.0.0.1:${PORT}\n`);
  tick();
});
