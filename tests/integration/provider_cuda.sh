#!/usr/bin/env bash
# `facelens info --json --provider cuda`: each service reports the provider it really got and where
# its nodes run; on the CPU it must say why CUDA was not used (with a CPU-only core: that the core
# is built without CUDA), and --require-gpu must then exit non-zero with a reason.
set -u
bin=$1
out=$("$bin" info --json --provider cuda 2>/dev/null) || { echo "FAIL: info --provider cuda exited non-zero"; exit 1; }
n_services=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.services.length)' <<<"$out")
n_cuda=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.services.filter(s=>s.provider==="CUDAExecutionProvider").length)' <<<"$out")
n_cpu_reason=$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.services.filter(s=>s.provider==="CPUExecutionProvider"&&s.cuda_unavailable_reason).length)' <<<"$out")
echo "services $n_services, on CUDA $n_cuda, on CPU with a reason $n_cpu_reason"
[[ $n_services -gt 0 && $((n_cuda + n_cpu_reason)) == "$n_services" ]] || { echo "FAIL: a service is on the CPU without a reason"; echo "$out"; exit 1; }
# The core and its providers are named; CUDA is either available with its devices or unavailable
# with the reason; every loaded service reports where its nodes run.
node -e '
const j = JSON.parse(require("fs").readFileSync(0));
const die = (m) => { console.error("FAIL: " + m); process.exit(1); };
if (!/libonnxruntime/.test(j.core_library || "")) die("core_library missing: " + j.core_library);
if (!j.cuda) die("no cuda report");
const coreHasCuda = j.providers.includes("CUDAExecutionProvider");
if (j.cuda.available) {
  if (!coreHasCuda) die("CUDA available with a core that does not list it");
  if (!j.cuda.devices.length || j.cuda.devices.some(d => !(d.ordinal >= 0) || !d.name || !d.pci_bus_id)) die("CUDA devices not described");
} else {
  if (!j.cuda.reason || j.cuda.reason.length < 20) die("CUDA unavailable without a reason");
  if (!coreHasCuda && !/build without CUDA/.test(j.cuda.reason)) die("CPU-only core, but the reason does not say so: " + j.cuda.reason);
  if (j.ep_devices.some(d => d.ep === "CUDAExecutionProvider")) die("a CUDA EP device is listed although CUDA is unavailable");
}
for (const s of j.services.filter(s => s.loaded)) {
  const nodes = (s.placement || []).reduce((a, p) => a + p.nodes, 0);
  if (nodes < 1) die(s.service + ": no node placement");
  const onCuda = (s.placement || []).filter(p => p.ep === "CUDAExecutionProvider").length;
  if (s.provider === "CPUExecutionProvider" && onCuda) die(s.service + ": on the CPU with nodes on CUDA");
}
console.log("core " + j.core_library + "; CUDA " + (j.cuda.available ? "available" : "unavailable: " + j.cuda.reason.slice(0, 120)));
' <<<"$out" || { echo "$out" | head -50; exit 1; }
if [[ $n_cuda == 0 ]]; then
  err=$("$bin" info --json --provider cuda --require-gpu 2>&1 >/dev/null); rc=$?
  [[ $rc != 0 ]] || { echo "FAIL: --require-gpu exited 0 without a GPU"; exit 1; }
  [[ $err == *"require_gpu"* ]] || { echo "FAIL: --require-gpu error does not say why: $err"; exit 1; }
  echo "--require-gpu refused: ${err:0:200}"
fi
exit 0
