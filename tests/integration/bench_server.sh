#!/usr/bin/env bash
# `facelens bench --sweep PHOTO --server URL` against a real `facelens serve` started here on
# loopback with an API key (issue 17). Checks structure and values, not speed:
#  - results.json matches docs/bench-results.schema.json; the 17 sweep photos each have finite
#    pipeline / decode / models figures and ratio = pipeline p50 / (scaled decode p50 + models p50);
#  - 3 photos x 3 body formats of /v1/embed, each with requests = ok + errors, finite latencies and
#    overhead = p50 - the in-process pipeline's p50 on the same photo (timed in the same rounds);
#    multipart and JSON answered 200 with a face; a raw body either answered 200 or counted as errors with its HTTP status (415 before
#    the service accepts raw bodies), and then the exit code says so;
#  - the concurrency rows (1 and 4 connections) count every request;
#  - a wrong API key: every request is an error row (HTTP 401), counted, exit code 1.
#   bench_server.sh FACELENS SCHEMA VALIDATOR_JS DATA_DIR
set -u
bin=$1 schema=$2 validator=$3 data=$4
photo=$data/faces/face_recognition/obama3.jpg
[[ -f $photo ]] || { echo "bench_server: $photo is absent: test skipped"; exit 77; }
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [[ -f $work/server.log ]] && tail -20 "$work/server.log"; exit 1; }

key=bench-test-key-0123456789
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FACELENS_API_KEYS="user:$key" "$bin" serve --host 127.0.0.1 --port "$port" --no-gallery --provider cpu --threads 2 \
  >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -sf -H "X-API-Key: $key" "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
curl -sf -H "X-API-Key: $key" "http://127.0.0.1:$port/ready" >/dev/null || fail "facelens serve did not become ready"

# Usage errors: --server without --sweep; https.
"$bin" bench --server "http://127.0.0.1:$port" --output "$work/x" >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--server without --sweep exited $rc, expected 2 (usage)"
"$bin" bench --sweep "$photo" --server "https://127.0.0.1:$port" --output "$work/x" >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "an https URL exited $rc, expected 2 (usage)"

out=$work/out
"$bin" bench --sweep "$photo" --server "http://127.0.0.1:$port" --api-key "$key" --output "$out" --providers cpu \
  --threads 2 --warmup 0 --sweep-iterations 1 --server-warmup 1 --server-iterations 3 --connections 4 \
  --load-requests 8 >"$work/stdout" 2>"$work/stderr"; rc=$?
[[ $rc == 0 || $rc == 1 ]] || { cat "$work/stderr"; fail "facelens bench exited $rc"; }
[[ -s $out/results.json && -s $out/report.md ]] || { cat "$work/stderr"; fail "results.json or report.md missing"; }
node "$validator" "$schema" "$out/results.json" || fail "results.json does not match the schema"
[[ $(ls "$out/photos"/*.jpg | wc -l) == 17 ]] || fail "expected 17 sweep photos in $out/photos"

node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1])); const rc = Number(process.argv[2]);
const die = (m) => { console.error(m); process.exit(1); };
const fin = (x) => typeof x === "number" && Number.isFinite(x);
const close = (a, b) => Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
const sw = j.sweep; if (!sw) die("no sweep");
if (sw.rows.length !== 17) die("expected 17 sweep rows, got " + sw.rows.length);
for (const r of sw.rows) {
  const n = r.photo.name;
  if (r.status !== "ok") die(n + ": " + r.note);
  for (const k of ["pipeline_ms", "decode_scaled_ms", "decode_full_ms", "models_ms"])
    if (!r[k] || r[k].n !== 1 || !fin(r[k].p50) || r[k].p50 <= 0) die(n + ": bad " + k + " " + JSON.stringify(r[k]));
  if (!close(r.floor_ms, r.decode_scaled_ms.p50 + r.models_ms.p50)) die(n + ": floor is not decode + models");
  if (!close(r.ratio, r.pipeline_ms.p50 / r.floor_ms)) die(n + ": ratio is not pipeline / floor");
  if (r.meets_target !== (r.ratio <= sw.target_ratio)) die(n + ": meets_target disagrees with the ratio");
  if ((r.photo.restart_rows > 0) !== (r.ratio_vs_full_decode !== null)) die(n + ": ratio_vs_full_decode only with restarts");
  if (r.faces < 1) die(n + ": the pipeline found no face");
  if (r.scaled_width < 1 || r.scaled_width > r.photo.width) die(n + ": scaled width " + r.scaled_width);
}
const s = j.server; if (!s || !s.reachable) die("server not reached: " + (s && s.error));
if (!s.api_key) die("api_key not recorded as sent");
if (s.pipeline_threads !== 2) die("the in-process pipeline should run the --threads 2 of the service, got " + s.pipeline_threads);
if (s.pipeline_provider !== "cpu" || s.pipeline_allow_spinning !== false)
  die("the in-process pipeline should run the CPU of the service without spinning: " + s.pipeline_provider + " " + s.pipeline_allow_spinning);
if (s.rows.length !== 9) die("expected 9 server rows, got " + s.rows.length);
let errors = 0;
for (const photo of ["0.3mp-baseline", "2.6mp-baseline", "13mp-progressive"]) for (const f of ["multipart", "raw", "json"]) {
  const r = s.rows.find(x => x.photo === photo && x.format === f); if (!r) die("no row " + photo + " " + f);
  const sweep = sw.rows.find(x => x.photo.name === photo);
  if (r.requests !== 3 || r.ok + r.errors.count !== 3) die(photo + " " + f + ": counts " + JSON.stringify([r.requests, r.ok, r.errors]));
  errors += r.errors.count;
  if (!sweep) die("no sweep row for " + photo);
  if (!fin(r.pipeline_p50_ms) || r.pipeline_p50_ms <= 0 || r.pipeline_source !== "interleaved") die(photo + " " + f + ": in-process pipeline p50");
  const same = s.rows.filter(x => x.photo === photo).map(x => x.pipeline_p50_ms);
  if (same.some(x => x !== r.pipeline_p50_ms)) die(photo + ": formats of one photo compare with different pipeline figures");
  if (r.ok > 0) {
    if (!fin(r.latency_ms.p50) || r.latency_ms.p50 <= 0 || r.latency_ms.n !== r.ok) die(photo + " " + f + ": latency");
    if (!close(r.overhead_ms, r.latency_ms.p50 - r.pipeline_p50_ms)) die(photo + " " + f + ": overhead is not p50 - pipeline");
    if (!close(r.overhead_ratio, r.overhead_ms / r.pipeline_p50_ms)) die(photo + " " + f + ": overhead ratio");
    if (r.faces < 1) die(photo + " " + f + ": answer without a face");
  } else if (r.latency_ms !== null || r.overhead_ms !== null) die(photo + " " + f + ": figures without a 200 answer");
  if (f !== "raw" && r.ok !== 3) die(photo + " " + f + ": " + r.errors.first);
  if (f === "raw" && r.errors.count > 0 && !r.errors.by_kind["HTTP 415"]) die("raw body errors that are not 415: " + JSON.stringify(r.errors));
  if (r.errors.count > 0 && !r.errors.first) die(photo + " " + f + ": errors without the first answer");
}
if (s.load.length !== 2 || s.load[0].connections !== 1 || s.load[1].connections !== 4) die("load rows " + JSON.stringify(s.load));
for (const l of s.load) {
  if (l.requests !== 8 || l.ok + l.errors.count !== 8) die("load counts " + JSON.stringify(l));
  errors += l.errors.count;
  if (!(l.throughput_rps > 0) || !fin(l.latency_ms.p99) || !fin(l.throughput_vs_one)) die("load figures " + JSON.stringify(l));
}
if (s.load[0].throughput_vs_one !== 1) die("one connection against itself is not 1");
if (s.n_errors !== errors) die("n_errors " + s.n_errors + " but rows count " + errors);
if ((errors > 0) !== (rc === 1)) die("exit code " + rc + " with " + errors + " error(s)");
console.log("sweep rows 17, server rows 9, errors " + errors + ", exit " + rc);
' "$out/results.json" "$rc" || fail "results.json content"
grep -q "## Pipeline sweep" "$out/report.md" || fail "report.md has no sweep table"
grep -q "## Service (HTTP) bench" "$out/report.md" || fail "report.md has no service table"
grep -q "throughput vs 1 connection" "$out/report.md" || fail "report.md has no concurrency table"

# A wrong key: every request is refused, and the bench says so instead of hiding it. Neither
# --threads nor --server-threads: the in-process pipeline runs serve's default, 1 intra-op thread
# (not ONNX Runtime's one per core), as a service started without --threads does.
bad=$work/bad
"$bin" bench --sweep "$photo" --server "http://127.0.0.1:$port" --api-key wrong-key-0123456789 --output "$bad" \
  --providers cpu --warmup 0 --sweep-iterations 1 --server-warmup 0 --server-iterations 2 \
  --connections 2 --load-requests 2 >"$work/stdout2" 2>"$work/stderr2"; rc=$?
[[ $rc == 1 ]] || { cat "$work/stderr2"; fail "a refused key exited $rc, expected 1"; }
grep -q "request(s) to the service failed" "$work/stderr2" || fail "stderr does not report the failed requests"
node "$validator" "$schema" "$bad/results.json" || fail "results.json (wrong key) does not match the schema"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1])).server;
const die = (m) => { console.error(m); process.exit(1); };
if (s.rows.length !== 9) die("expected 9 rows");
for (const r of s.rows) if (r.ok !== 0 || r.errors.count !== 2 || r.errors.by_kind["HTTP 401"] !== 2 || r.latency_ms !== null)
  die("row not counted as 2 refused requests: " + JSON.stringify(r));
if (s.n_errors !== 9 * 2 + 1 * 2 + 2) die("n_errors " + s.n_errors);
if (s.pipeline_threads !== 1) die("without --threads the in-process pipeline should run the default of serve, 1 thread, got " + s.pipeline_threads);
' "$bad/results.json" || fail "wrong-key results"
grep -q "HTTP 401" "$bad/report.md" || fail "report.md does not show the 401 answers"

# --server without URL and --spin: the bench starts its own serve (CPU, no spinning: serve has no
# --spin) with --threads 2, and the in-process pipeline runs exactly that runtime, not the spinning
# one of the bench's other cells.
own=$work/own
"$bin" bench --sweep "$photo" --server --spin --providers cpu --threads 2 --output "$own" --warmup 0 \
  --sweep-iterations 1 --server-warmup 0 --server-iterations 1 --connections 0 >"$work/stdout3" 2>"$work/stderr3"; rc=$?
[[ $rc == 0 || $rc == 1 ]] || { cat "$work/stderr3"; fail "facelens bench --server (own serve) exited $rc"; }
grep -q "started facelens serve on http://127.0.0.1:" "$work/stderr3" || fail "the bench did not say it started serve"
node "$validator" "$schema" "$own/results.json" || fail "results.json (own serve) does not match the schema"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1])).server;
const die = (m) => { console.error(m); process.exit(1); };
if (!s.reachable) die("own serve not reached: " + s.error);
if (s.pipeline_threads !== 2 || s.pipeline_provider !== "cpu" || s.pipeline_allow_spinning !== false)
  die("the in-process pipeline should run the child serve runtime (2 threads, cpu, no spinning): " +
      JSON.stringify([s.pipeline_threads, s.pipeline_provider, s.pipeline_allow_spinning]));
const h = JSON.parse(s.health), loaded = JSON.stringify(h);
if (!/CPUExecutionProvider|"cpu"/.test(loaded) || /CUDAExecutionProvider/.test(loaded)) die("the child serve is not on the CPU: " + loaded);
for (const r of s.rows) if (r.format !== "raw" && r.ok !== 1) die("own serve row failed: " + JSON.stringify(r));
' "$own/results.json" || fail "own-serve results"
grep -q "provider cpu, intra-op threads 2, spinning off" "$own/report.md" || fail "report.md does not state the pipeline runtime"
echo PASS
