#!/usr/bin/env bash
# `facelens info --json --provider cuda`: each service reports the provider it really got; on the
# CPU it must say why CUDA was not used, and --require-gpu must then exit non-zero with a reason.
set -u
bin=$1
out=$("$bin" info --json --provider cuda 2>/dev/null) || { echo "FAIL: info --provider cuda exited non-zero"; exit 1; }
n_services=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.services.length)' <<<"$out")
n_cuda=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.services.filter(s=>s.provider==="CUDAExecutionProvider").length)' <<<"$out")
n_cpu_reason=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.services.filter(s=>s.provider==="CPUExecutionProvider"&&s.cuda_unavailable_reason).length)' <<<"$out")
echo "services $n_services, on CUDA $n_cuda, on CPU with a reason $n_cpu_reason"
[[ $n_services -gt 0 && $((n_cuda + n_cpu_reason)) == "$n_services" ]] || { echo "FAIL: a service is on the CPU without a reason"; echo "$out"; exit 1; }
if [[ $n_cuda == 0 ]]; then
  err=$("$bin" info --json --provider cuda --require-gpu 2>&1 >/dev/null); rc=$?
  [[ $rc != 0 ]] || { echo "FAIL: --require-gpu exited 0 without a GPU"; exit 1; }
  [[ $err == *"require_gpu"* ]] || { echo "FAIL: --require-gpu error does not say why: $err"; exit 1; }
  echo "--require-gpu refused: ${err:0:200}"
fi
exit 0
