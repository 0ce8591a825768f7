#!/usr/bin/env bash
# `facelens models inspect FILE` names the family of every default model (models/manifest.json)
# and of every extra model (models/extra.json, files in ../shared/data/models), and refuses an
# ONNX file that fits no family with an error that lists the known families.
#   models_inspect.sh FACELENS MODELS_DIR TEST_DATA_DIR
set -u
bin=$1 models=$2 data=$3
fail=0
# id, file and family of each entry of a manifest, one per line.
entries() { node -e 'for (const m of require(require("path").resolve(process.argv[1])).models) console.log(m.id, m.file, m.family)' "$1"; }
check() {  # FILE FAMILY
  local out
  out=$("$bin" models inspect --json --models "$models" "$1" 2>&1) || { echo "FAIL: inspect $1 exited $?: $out"; fail=1; return; }
  local got
  got=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).family)' <<<"$out")
  if [[ $got != "$2" ]]; then echo "FAIL: $1: family '$got', expected '$2'"; fail=1; else echo "$1: $got"; fi
}
n=0
if [[ -f $models/fr_detect.onnx ]]; then
  while read -r id file family; do check "$models/$file" "$family"; n=$((n + 1)); done < <(entries "$models/manifest.json")
else
  echo "default models absent (run scripts/setup.sh): their part skipped"
fi
if [[ -f $data/models/scrfd_500m_bnkps.onnx ]]; then
  while read -r id file family; do check "$data/models/$file" "$family"; n=$((n + 1)); done < <(entries "$models/extra.json")
else
  echo "../shared/data/models absent: the extra models' part skipped"
fi
# An ONNX model of no known family (the age model, without the manifest that names it).
if [[ -f $models/fr_age.onnx ]]; then
  empty=$(mktemp -d); trap 'rm -rf "$empty"' EXIT
  out=$("$bin" models inspect --models "$empty" "$models/fr_age.onnx" 2>&1); rc=$?
  if [[ $rc == 0 ]]; then echo "FAIL: an unsupported model was accepted"; fail=1; fi
  for fam in ultraface scrfd yunet yolov5face yolov8face yolov10face arcface adaface mobilefacenet minifasnet xception; do
    [[ $out == *"$fam"* ]] || { echo "FAIL: the error does not list $fam: $out"; fail=1; }
  done
fi
[[ $fail == 0 ]] && echo "families named for $n models"
exit $fail
