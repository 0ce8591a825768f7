#!/usr/bin/env bash
# The GPU checks in one run, with one report folder: the CUDA path as `facelens info --provider
# cuda` sees it, the gpu tests (tests/gpu: CUDA against the CPU for every default model, FP16,
# node placement, device memory, device pool, batched runs, and the reference design's four models
# synthesized by `facelens models synth`'s code, timed on CUDA and CPU), the runtime model tests,
# `facelens bench --providers cpu,cuda`, then `facelens bench --reference-design` (the reference
# design's four models, synthesised, fp32/fp16/int8, beside its table). Runs to the end on a
# machine without a GPU too: the report then says CUDA is unavailable and why, and the GPU tests
# count as skipped.
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
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
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
cuda_state=$(python3 - "$out/info.json" <<'PY' 2>&1
import json, sys
j = json.load(open(sys.argv[1]))
c = j.get("cuda", {})
print("available" if c.get("available") else "unavailable")
print("core %s (providers: %s)" % (j.get("core_library"), ", ".join(j.get("providers", []))))
if c.get("available"):
    print("; ".join("device %d: %s, %d MiB, PCI %s" % (d["ordinal"], d["name"], d["memory_bytes"] >> 20, d["pci_bus_id"])
                    for d in c.get("devices", [])))
else:
    print("reason: " + c.get("reason", ""))
for s in j.get("services", []):
    where = ", ".join("%s %d" % (p["ep"].replace("ExecutionProvider", ""), p["nodes"]) for p in s.get("placement", []))
    print("service %s %s: %s [%s]%s" % (s["service"], s["model"], s.get("provider", "not loaded"), where,
                                       " (CUDA not used)" if s.get("cuda_unavailable_reason") else ""))
PY
) || { cuda_state="unknown"$'\n'"facelens info failed: $(tail -3 "$out/info.stderr")"; failed=1; }
cuda_available=$([[ $(head -1 <<<"$cuda_state") == available ]] && echo 1 || echo 0)
say "CUDA $(head -1 <<<"$cuda_state"): $(sed -n 3p <<<"$cuda_state" | cut -c1-300)"

# ---- 3. the gpu tests and the runtime model tests ----------------------------------------------------
run_tests() {  # NAME PROGRAM
  local name=$1 prog=$2
  "$prog" --gtest_output=xml:"$out/$name.xml" >"$out/$name.log" 2>&1
  local rc=$?
  python3 - "$out/$name.xml" <<'PY' 2>/dev/null || echo "no result (exit $rc)"
import re, sys
x = open(sys.argv[1]).read()
m = re.search(r'<testsuites tests="(\d+)" failures="(\d+)"', x)
print("%s tests, %s failed, %d skipped" % (m.group(1), m.group(2), x.count('result="skipped"')) if m else "no result")
PY
  return $rc
}
gpu_result=$(run_tests gpu_tests "$gpu_test") || failed=1
runtime_result=$(run_tests runtime_model_tests "$runtime_test") || failed=1
say "gpu tests: $gpu_result; runtime model tests: $runtime_result"
# The reference design's models (synthesized by the gpu test, random weights): CPU and CUDA p50.
synth_result=$(grep -h '^\[synth-gpu\]' "$out/gpu_tests.log" 2>/dev/null | sed 's/^\[synth-gpu\] //')
[[ -n $synth_result ]] || synth_result="not measured (the gpu test SyntheticReferenceModelsOnCudaAgainstTheCpu skipped or failed: see gpu_tests.log)"

# ---- 4. facelens bench --providers cpu,cuda ----------------------------------------------------------
bench_result="not run: no photo ($image)"
if [[ -f $image ]]; then
  "$facelens" bench --image "$image" --output "$out/bench" --providers cpu,cuda --batch 1,8,32 \
    --precision fp32,fp16 --iterations "$iterations" --warmup 5 --note "scripts/gpu_check.sh" \
    >"$out/bench.log" 2>&1
  rc=$?
  if [[ $rc == 0 && -f $out/bench/results.json ]]; then
    bench_result=$(python3 - "$out/bench/results.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
cuda = next((p for p in j["providers"] if p["name"] == "cuda"), None)
lines = []
if not cuda or not cuda["available"]:
    lines.append("CUDA unavailable: " + (cuda["reason"] if cuda else "not asked"))
for r in j["results"]:
    if r["provider"] != "cuda" or r["status"] != "ok":
        continue
    line = "%s %s batch %d: %s ms p50 on %s" % (r["service"], r["precision"], r["batch"], r["latency_ms"]["p50"], r["provider_used"])
    if r["speedup_vs_cpu"]:
        line += ", %sx the CPU" % r["speedup_vs_cpu"]
    if r["fell_back_to_cpu"]:
        line += " (fell back: %s)" % r["fallback_reason"]
    lines.append(line)
lines.append("%d CPU rows" % sum(1 for r in j["results"] if r["provider"] == "cpu" and r["status"] == "ok"))
print("\n".join(lines))
PY
)
  else
    bench_result="facelens bench exited $rc: $(tail -3 "$out/bench.log")"
    failed=1
  fi
fi

# ---- 5. facelens bench --reference-design (issue 19): YOLOv10n, ArcFace-R50, AdaFace-IR101, Xception ----
faces=$top/../shared/data/faces/face_recognition
"$facelens" bench --reference-design --output "$out/reference" --providers cpu,cuda --batches 1,8 \
  --precisions fp32,fp16,int8 --iterations "$iterations" --cache "$out/reference-cache" \
  $( [[ -d $faces ]] && echo --calibrate "$faces" --calibration-max-images 8 ) --note "scripts/gpu_check.sh" \
  >"$out/reference.log" 2>&1
rc=$?
if [[ $rc == 0 && -f $out/reference/report.md ]]; then
  reference_result=$(sed -n '/^| reference service/,/^$/p' "$out/reference/report.md")
else
  reference_result="facelens bench --reference-design exited $rc: $(tail -3 "$out/reference.log")"
  failed=1
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
  echo "## Reference-design models (synthetic: YOLOv10n, ArcFace-R50, AdaFace IR-101, Xception; random weights)"
  echo
  echo '```'
  echo "$synth_result"
  echo '```'
  echo
  echo "## facelens bench --providers cpu,cuda"
  echo
  echo '```'
  echo "$bench_result"
  echo '```'
  echo
  echo "## facelens bench --reference-design"
  echo
  echo "$reference_result"
  echo
  echo "Files: environment.txt, info.json, info.txt, gpu_tests.{xml,log}, runtime_model_tests.{xml,log}, bench/ (results.json, report.md, charts), reference/ (the same for --reference-design)."
  echo
  echo "Result: $( ((failed)) && echo FAILED || echo passed)$( ((cuda_available)) || echo " (without CUDA: $(sed -n 3p <<<"$cuda_state" | sed 's/^reason: //'))")"
} >"$summary"
cat "$summary"
exit $failed
