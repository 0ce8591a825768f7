#!/usr/bin/env bash
# The GPU checks in one run, with one report folder: the CUDA path as `facelens info --provider
# cuda` sees it, the gpu tests (tests/gpu: CUDA against the CPU for every default model, FP16,
# node placement, device memory, device pool, batched runs), the runtime model tests, and
# `facelens bench --providers cpu,cuda`. Runs to the end on a machine without a GPU too: the
# report then says CUDA is unavailable and why, and the GPU tests count as skipped.
#
# usage: scripts/gpu_check.sh [--build DIR | --bin DIR] [--models DIR] [--image FILE] [--out DIR]
#                             [--iterations N]
#   --build DIR   a build tree to take the programs from (default: build-cuda, configured and
#                 built against the CUDA-enabled core of scripts/setup.sh --gpu when it is set up;
#                 else build)
#   --bin DIR     prebuilt programs instead: facelens, gpu_test_cuda, model_test_runtime_models
#                 (on a GPU host, the bin/ of ../shared/tools/gpu-bundle.sh's bundle)
#   --models DIR  models folder (default: the build's models/)
#   --image FILE  photo with faces (default: .deps/samples/astronaut.png)
#   --out DIR     report folder (default: gpu-report-<UTC time>)
# Exit status: 0 when nothing failed (checks that need CUDA are skipped without it), 1 otherwise.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="" bin="" models="" image="" out="" iterations=30
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "gpu_check: $*" >&2; }
out=${out:-$top/gpu-report-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=$out/summary.md
failed=0

# ---- the programs ---------------------------------------------------------------------------------
if [[ -z $bin ]]; then
  if [[ -z $build ]]; then
    if [[ -f $top/.deps/onnxruntime-cuda/lib/libonnxruntime.so.1 ]]; then
      build=$top/build-cuda
      if [[ ! -f $build/CMakeCache.txt ]]; then
        say "configuring $build against the CUDA-enabled core (.deps/onnxruntime-cuda)"
        # The headers of the CPU SDK (the same files): compiler caches then reuse the objects.
        cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DONNXRUNTIME_ROOT="$top/.deps/onnxruntime-cuda" \
          -DONNXRuntime_INCLUDE_DIR="$top/.deps/onnxruntime/include" \
          $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache) \
          >"$out/configure.log" 2>&1 || { cat "$out/configure.log" >&2; exit 1; }
      fi
    else
      build=$top/build
      say "the CUDA-enabled core is not set up (scripts/setup.sh --gpu): using $build and its core"
    fi
  fi
  say "building facelens, gpu_test_cuda and model_test_runtime_models in $build"
  cmake --build "$build" -j"$(nproc)" --target facelens_cli gpu_test_cuda model_test_runtime_models \
    >"$out/build.log" 2>&1 || { tail -30 "$out/build.log" >&2; exit 1; }
  facelens=$build/facelens gpu_test=$build/tests/gpu_test_cuda runtime_test=$build/tests/model_test_runtime_models
else
  facelens=$bin/facelens gpu_test=$bin/gpu_test_cuda runtime_test=$bin/model_test_runtime_models
fi
for p in "$facelens" "$gpu_test" "$runtime_test"; do
  [[ -x $p ]] || { say "$p is missing"; exit 1; }
done
[[ -n $models ]] && export FACELENS_MODELS=$models
image=${image:-${FACELENS_SAMPLE:-$top/.deps/samples/astronaut.png}}
[[ -f $image ]] && export FACELENS_SAMPLE=$image

# ---- 1. the machine and the libraries -------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -a)"
  echo "commit: $(git -C "$top" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "programs: $facelens $gpu_test $runtime_test"
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  echo "FACELENS_CUDA_EP=${FACELENS_CUDA_EP:-}"
  echo "--- nvidia-smi"
  nvidia-smi 2>&1 || echo "(nvidia-smi not found)"
  echo "--- libraries facelens loads"
  ldd "$facelens" | grep -E "onnxruntime|cuda|cudnn" || true
} >"$out/environment.txt" 2>&1

# ---- 2. facelens info --provider cuda --------------------------------------------------------------
"$facelens" info --provider cuda --json >"$out/info.json" 2>"$out/info.stderr"
"$facelens" info --provider cuda >"$out/info.txt" 2>&1
cuda_state=$(node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
const c = j.cuda || {};
console.log(c.available ? "available" : "unavailable");
console.log("core " + j.core_library + " (providers: " + j.providers.join(", ") + ")");
console.log(c.available ? (c.devices || []).map(d => `device ${d.ordinal}: ${d.name}, ${Math.round(d.memory_bytes / 2**20)} MiB, PCI ${d.pci_bus_id}`).join("; ")
                        : "reason: " + c.reason);
for (const s of j.services || []) {
  const where = (s.placement || []).map(p => p.ep.replace("ExecutionProvider", "") + " " + p.nodes).join(", ");
  console.log(`service ${s.service} ${s.model}: ${s.provider || "not loaded"} [${where}]` + (s.cuda_unavailable_reason ? " (CUDA not used)" : ""));
}' "$out/info.json" 2>&1) || { cuda_state="unknown"$'\n'"facelens info failed: $(tail -3 "$out/info.stderr")"; failed=1; }
cuda_available=$([[ $(head -1 <<<"$cuda_state") == available ]] && echo 1 || echo 0)
say "CUDA $(head -1 <<<"$cuda_state"): $(sed -n 3p <<<"$cuda_state" | cut -c1-300)"

# ---- 3. the gpu tests and the runtime model tests ----------------------------------------------------
run_tests() {  # NAME PROGRAM
  local name=$1 prog=$2
  "$prog" --gtest_output=xml:"$out/$name.xml" >"$out/$name.log" 2>&1
  local rc=$?
  node -e '
const x = require("fs").readFileSync(process.argv[1], "utf8");
const m = x.match(/<testsuites tests="(\d+)" failures="(\d+)" disabled="(\d+)" errors="(\d+)"/);
const skipped = (x.match(/result="skipped"/g) || []).length;
console.log(m ? `${m[1]} tests, ${m[2]} failed, ${skipped} skipped` : "no result");' "$out/$name.xml" 2>/dev/null || echo "no result (exit $rc)"
  return $rc
}
gpu_result=$(run_tests gpu_tests "$gpu_test") || failed=1
runtime_result=$(run_tests runtime_model_tests "$runtime_test") || failed=1
say "gpu tests: $gpu_result; runtime model tests: $runtime_result"

# ---- 4. facelens bench --providers cpu,cuda ----------------------------------------------------------
bench_result="not run: no photo ($image)"
if [[ -f $image ]]; then
  "$facelens" bench --image "$image" --output "$out/bench" --providers cpu,cuda --batch 1,8,32 \
    --precision fp32,fp16 --iterations "$iterations" --warmup 5 --note "scripts/gpu_check.sh" \
    >"$out/bench.log" 2>&1
  rc=$?
  if [[ $rc == 0 && -f $out/bench/results.json ]]; then
    bench_result=$(node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
const cuda = j.providers.find(p => p.name === "cuda");
const lines = [];
if (!cuda || !cuda.available) lines.push("CUDA unavailable: " + (cuda ? cuda.reason : "not asked"));
for (const r of j.results.filter(r => r.provider === "cuda" && r.status === "ok"))
  lines.push(`${r.service} ${r.precision} batch ${r.batch}: ${r.latency_ms.p50} ms p50 on ${r.provider_used}` +
             (r.speedup_vs_cpu ? `, ${r.speedup_vs_cpu}x the CPU` : "") + (r.fell_back_to_cpu ? " (fell back: " + r.fallback_reason + ")" : ""));
lines.push(j.results.filter(r => r.provider === "cpu" && r.status === "ok").length + " CPU rows");
console.log(lines.join("\n"));' "$out/bench/results.json")
  else
    bench_result="facelens bench exited $rc: $(tail -3 "$out/bench.log")"
    failed=1
  fi
fi

# ---- the summary -------------------------------------------------------------------------------------
{
  echo "# GPU check"
  echo
  echo "$(date -u +%FT%TZ), commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "## CUDA"
  echo
  echo '```'
  echo "$cuda_state"
  echo '```'
  echo
  echo "## Tests"
  echo
  echo "- gpu tests (tests/gpu): $gpu_result"
  echo "- runtime model tests (tests/model/test_runtime_models.cpp): $runtime_result"
  (( cuda_available )) || echo "- CUDA is unavailable, so the gpu tests are skipped (their reason is in gpu_tests.log)"
  echo
  echo "## facelens bench --providers cpu,cuda"
  echo
  echo '```'
  echo "$bench_result"
  echo '```'
  echo
  echo "Files: environment.txt, info.json, info.txt, gpu_tests.{xml,log}, runtime_model_tests.{xml,log}, bench/ (results.json, report.md, charts)."
  echo
  echo "Result: $( ((failed)) && echo FAILED || echo passed)$( ((cuda_available)) || echo " (without CUDA: $(sed -n 3p <<<"$cuda_state" | sed 's/^reason: //'))")"
} >"$summary"
cat "$summary"
exit $failed
