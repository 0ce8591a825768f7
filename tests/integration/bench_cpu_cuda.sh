#!/usr/bin/env bash
# `facelens bench --providers cpu,cuda` on a sample photo, a few runs per cell: results.json must
# match docs/bench-results.schema.json; CUDA is either used (GPU host: CUDA rows on CUDA, or
# marked fell_back_to_cpu with the reason and no speedup) or marked unavailable with the reason
# while every CPU cell still completes; report.md holds the reference design's figures but sets
# none beside the default models (other models), has no speedup column when only the CPU ran and
# states the warm-up rule, which every row follows; with gnuplot installed every chart exists as
# non-empty SVG and PNG.
#   bench_cpu_cuda.sh FACELENS_BIN SCHEMA VALIDATOR_JS PHOTO
set -u
bin=$1 schema=$2 validator=$3 photo=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

[[ -f $photo ]] || { echo "sample photo $photo is absent (run scripts/setup.sh): test skipped"; exit 77; }

# Usage errors and bad input are told apart by the exit code.
"$bin" bench --image "$photo" --output "$tmp/x" --batch 0 >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--batch 0 exited $rc, expected 2 (usage)"
"$bin" bench --image "$tmp/no-such.jpg" --output "$tmp/x" --iterations 1 >/dev/null 2>&1; rc=$?
[[ $rc == 3 ]] || fail "a missing --image exited $rc, expected 3 (bad input)"

out=$tmp/out
"$bin" bench --image "$photo" --image "$photo" --output "$out" --providers cpu,cuda --iterations 3 --warmup 1 --warmup-max 4 \
  --batch 1,2 --precision fp32,fp16 --note "ctest bench_cpu_cuda" >"$tmp/stdout" 2>"$tmp/stderr"; rc=$?
[[ $rc == 0 ]] || { cat "$tmp/stderr"; fail "facelens bench exited $rc"; }
grep -q "results.json" "$tmp/stdout" || fail "stdout does not name the results: $(cat "$tmp/stdout")"
grep -q "^bench: \[" "$tmp/stderr" || fail "no progress lines on a non-terminal stderr"
[[ -s $out/results.json && -s $out/report.md ]] || fail "results.json or report.md missing or empty"

node "$validator" "$schema" "$out/results.json" || fail "results.json does not match the schema"
# The validator itself must reject a broken document (else the check above proves nothing).
node -e '
const fs = require("fs"); const {validate} = require(process.argv[1]);
const schema = JSON.parse(fs.readFileSync(process.argv[2])); const doc = JSON.parse(fs.readFileSync(process.argv[3]));
const broken = [d => { delete d.environment; }, d => { d.results[0].latency_ms.p95 = "fast"; },
                d => { d.providers[0].name = "tpu"; }, d => { d.results[0].surprise = 1; }];
for (const [i, edit] of broken.entries()) {
  const copy = JSON.parse(JSON.stringify(doc)); edit(copy);
  const errors = []; validate(schema, copy, schema, "$", errors);
  if (!errors.length) { console.error("validator accepted broken document " + i); process.exit(1); }
}' "$validator" "$schema" "$out/results.json" || fail "the schema validator accepts broken documents"

node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
const die = (m) => { console.error(m); process.exit(1); };
const cuda = j.providers.find(p => p.name === "cuda"), cpu = j.providers.find(p => p.name === "cpu");
if (!cpu || !cpu.available) die("cpu provider missing or unavailable");
if (!cuda) die("cuda provider not recorded");
const rows = j.results;
const cpuRows = rows.filter(r => r.provider === "cpu");
const cudaRows = rows.filter(r => r.provider === "cuda");
if (!cuda.available) {
  if (!cuda.reason || cuda.reason.length < 10) die("cuda unavailable without a reason");
  if (cudaRows.length) die("cuda is unavailable but has result rows");
  console.log("cuda unavailable: " + cuda.reason.slice(0, 160));
} else {
  if (!cudaRows.length) die("cuda available but no cuda rows");
  for (const r of cudaRows) {
    if (r.fell_back_to_cpu) {
      if (!r.fallback_reason) die(r.service + ": fell back without a reason");
      if (r.speedup_vs_cpu !== null) die(r.service + ": a CPU fallback has a GPU speedup");
      if (r.provider_used.includes("CUDA")) die(r.service + ": fell back but provider_used says CUDA");
    } else if (r.provider_used !== "CUDAExecutionProvider") die(r.service + ": on " + r.provider_used + " without fell_back_to_cpu");
  }
  console.log("cuda rows: " + cudaRows.length);
}
const measured = ["detect", "landmarks", "embed", "liveness", "pipeline"];
for (const s of measured) for (const b of [1, 2]) {
  const r = cpuRows.find(x => x.service === s && x.batch === b && x.precision === "fp32");
  if (!r) die("no cpu row for " + s + " batch " + b);
  if (r.status !== "ok") die(s + " batch " + b + " failed: " + r.note);
  if (r.provider_used !== "CPUExecutionProvider") die(s + ": cpu row ran on " + r.provider_used);
  const l = r.latency_ms;
  if (r.iterations !== 3 || r.samples_ms.length !== 3) die(s + ": expected 3 timed runs");
  if (!(l.min > 0 && l.min <= l.p50 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max && l.min <= l.mean && l.mean <= l.max))
    die(s + ": inconsistent latency statistics " + JSON.stringify(l));
  if (Math.abs(r.throughput_items_per_s - b * 3 / (r.samples_ms.reduce((a, x) => a + x, 0) / 1000)) > 0.01 * r.throughput_items_per_s)
    die(s + ": throughput does not follow from the samples");
  // A speedup only where a second provider ran the cell (issue 20): 1 on the CPU row then, else null.
  const onCuda = cudaRows.find(x => x.service === s && x.batch === b && x.precision === "fp32" && x.status === "ok" && !x.fell_back_to_cpu);
  if (r.speedup_vs_cpu !== (onCuda ? 1 : null)) die(s + ": cpu speedup should be " + (onCuda ? 1 : null) + ", got " + r.speedup_vs_cpu);
  // The warm-up rule: at least 1 run, at most 4 (--warmup 1 --warmup-max 4), each one recorded, and why it stopped.
  if (!(r.warmup >= 1 && r.warmup <= 4) || r.warmup_ms.length !== r.warmup) die(s + ": warm-up runs " + r.warmup + " / " + r.warmup_ms.length);
  if (!["stable", "max_runs", "max_seconds"].includes(r.warmup_stop)) die(s + ": warmup_stop " + r.warmup_stop);
  if (r.warmup === 4 ? false : r.warmup_stop !== "stable") die(s + ": stopped before the cap without being stable");
  if (r.reference !== null) die(s + ": a default model compared with the reference design: " + r.reference);
  if (r.items_per_run !== b) die(s + ": items_per_run " + r.items_per_run);
  if (s !== "pipeline" && r.calls_per_run !== (r.batched ? 1 : b)) die(s + ": calls_per_run does not match batched");
  if (r.memory.rss_load_delta_bytes === null) die(s + ": RSS not measured");
  if (!r.placement.length || r.placement.some(p => p.ep !== "CPUExecutionProvider" || p.nodes < 1))
    die(s + ": cpu row without its node placement on the CPU: " + JSON.stringify(r.placement));
  if (!r.commit && j.environment.git.source !== "unknown") die(s + ": row without commit");
}
if (!cpuRows.find(r => r.service === "pipeline" && r.faces_per_run >= 1)) die("pipeline found no face");
const df = j.skipped.find(s => s.service === "deepfake");
if (!df && !rows.find(r => r.service === "deepfake")) die("deepfake neither measured nor skipped with a note");
if (!j.skipped.find(s => s.precision === "fp16" && /issue 9|convert/.test(s.reason)) && !rows.find(r => r.precision === "fp16"))
  die("fp16 neither measured nor skipped with a note");
if (!j.models.length || j.models.some(m => m.precision === "fp32" && !m.sha256_matches_manifest)) die("models without matching sha256");
if (!j.environment.cpu.model || j.environment.cpu.logical_cores < 1) die("CPU not described");
if (!/at least 1 warm-up runs/.test(j.options.warmup_rule.text) || j.options.warmup_rule.max_runs !== 4) die("warm-up rule not recorded: " + JSON.stringify(j.options.warmup_rule));
if (j.reference_comparison.length !== 0) die("default models compared with the reference design");
if (!j.environment.onnxruntime_version) die("ORT version missing");
console.log("cpu rows ok: " + cpuRows.length);
' "$out/results.json" || fail "results.json content"

grep -q "Against the reference design" "$out/report.md" || fail "report.md has no reference-design table"
grep -q "80–120 ms" "$out/report.md" || fail "report.md lacks the reference detection figure"
# The reference design's figures only beside its own models (issue 20): none here.
grep -q "timed none of the reference design's models" "$out/report.md" || fail "report.md sets the reference figures beside other models"
grep -q "| Face Detection |" "$out/report.md" && fail "report.md has a reference row without a reference-design model"
grep -q "reference design" "$out/charts/cpu_vs_gpu.dat" && fail "cpu_vs_gpu draws reference bars beside other models"
# No speedup column without a second provider.
if ! grep -q '"provider_used": "CUDAExecutionProvider"' "$out/results.json"; then
  grep -q "speedup vs CPU" "$out/report.md" && fail "report.md has a speedup column though only the CPU ran"
fi
grep -q "then more until the median of the last" "$out/report.md" || fail "report.md does not state the warm-up rule"
grep -q "## Node placement" "$out/report.md" || fail "report.md has no node placement table"

if command -v gnuplot >/dev/null; then
  for c in cpu_vs_gpu latency_distribution throughput_vs_batch; do
    svg=$out/charts/$c.svg png=$out/charts/$c.png
    [[ -s $svg ]] || fail "$svg missing or empty"
    [[ -s $png ]] || fail "$png missing or empty"
    grep -q "<svg" "$svg" || fail "$svg is not SVG"
    [[ $(head -c 4 "$png" | od -An -tx1 | tr -d ' \n') == 89504e47 ]] || fail "$png is not PNG"
  done
  node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1])); if(!j.charts.rendered||j.charts.files.length!==6){console.error(JSON.stringify(j.charts));process.exit(1)}' \
    "$out/results.json" || fail "results.json does not list the six rendered charts"
  echo "charts: $(ls "$out/charts" | grep -cE '\.(svg|png)$') files"
else
  grep -q "gnuplot" "$out/report.md" || fail "no gnuplot, and report.md does not say charts were not rendered"
  echo "gnuplot not installed: charts not rendered, and the report says so"
fi
echo "PASS"
