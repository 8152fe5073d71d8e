#!/usr/bin/env node
// A fast OpenAI-compatible streaming test server, to find a load generator's ceiling.
//
// Plain Node (no packages). Every stream's token i is due at arrival + ttft + i * itl on an
// absolute schedule; one timer wheel (1 ms slots) serves every stream, and each token is
// one SSE event in one write, so the client sees one chunk per token. It answers
// /v1/models, /health, /version, /tokenize and /detokenize (whitespace words are tokens,
// ids given on first sight, id 0 the BOS, as localeval.testing.fake_server), /metrics (the
// vLLM counters localeval reads) and streaming /v1/completions with the usage record.
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
const http = require("http");
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

function schedule(stream, dueMs) {
  const slot = Math.ceil(dueMs);
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
    s.res.write(completionEvent(s, text, null));
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
  s.res.end(tail);
  s.closed = true;
  running -= 1;
  success += 1;
}

// --- HTTP -------------------------------------------------------------------------------
function json(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
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

function generate(req, res, body) {
  const n = Math.max(1, Number(body.max_tokens || DEFAULT_TOKENS));
  const prompt = Array.isArray(body.prompt) ? body.prompt.join(" ") : String(body.prompt || "");
  const s = {
    id: nextId++,
    created: Math.floor(Date.now() / 1000),
    res,
    n,
    sent: 0,
    promptTokens: 1 + encode(prompt).length,
    usage: Boolean(body.stream_options && body.stream_options.include_usage),
    start: performance.now() + TTFT_MS,
    closed: false,
  };
  promptTokens += s.promptTokens;
  running += 1;
  res.socket.setNoDelay(true);
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  res.on("close", () => {
    if (!s.closed) {
      s.closed = true;
      running -= 1;
    }
  });
  schedule(s, s.start);
}

const server = http.createServer({ keepAliveTimeout: 600000 }, (req, res) => {
  if (req.method === "GET") {
    if (req.url === "/health") return res.end();
    if (req.url === "/version") return json(res, 200, { version: "fast-node" });
    if (req.url === "/v1/models")
      return json(res, 200, {
        object: "list",
        data: [{ id: MODEL, object: "model", owned_by: "fake", max_model_len: MAX_MODEL_LEN }],
      });
    if (req.url === "/metrics") {
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
      return res.end(metrics());
    }
    return json(res, 404, { detail: "Not Found" });
  }
  const parts = [];
  req.on("data", (d) => parts.push(d));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString() || "{}");
    } catch (e) {
      return json(res, 400, { error: { message: "invalid JSON body" } });
    }
    if (req.url === "/tokenize") {
      const special = body.add_special_tokens !== false;
      const tokens = (special ? [0] : []).concat(encode(body.prompt || ""));
      return json(res, 200, { count: tokens.length, max_model_len: MAX_MODEL_LEN, tokens });
    }
    if (req.url === "/detokenize") {
      const text = (body.tokens || []).filter((i) => i > 0 && i < words.length).map((i) => words[i]);
      return json(res, 200, { prompt: text.join(" ") });
    }
    if (req.url === "/v1/completions" && body.stream) return generate(req, res, body);
    return json(res, 404, { detail: "Not Found" });
  });
});
server.keepAliveTimeout = 600000;
server.headersTimeout = 610000;

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
