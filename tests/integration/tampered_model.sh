#!/usr/bin/env bash
# A model file with one byte changed must make `facelens info` and a command using that model
# fail (exit != 0) with a message naming the file and both hashes.
set -u
bin=$1 models=$2
if [[ ! -f $models/fr_detect.onnx ]]; then echo "default models absent (run scripts/setup.sh): skipped"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$models"/manifest.json "$models"/*.onnx "$tmp"/
# flip one byte in the middle of the detector
size=$(stat -c %s "$tmp/fr_detect.onnx")
off=$((size / 2))
b=$(dd if="$tmp/fr_detect.onnx" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" | dd of="$tmp/fr_detect.onnx" bs=1 seek=$off conv=notrunc 2>/dev/null
expected=$(node -e 'console.log(require(process.argv[1]).models.find(m=>m.id==="fr_detect").sha256)' "$tmp/manifest.json")
actual=$(sha256sum "$tmp/fr_detect.onnx" | cut -d' ' -f1)
fail=0
for cmd in "info" "detect --json $(dirname "$0")/../../scripts/setup.sh"; do
  out=$("$bin" $cmd --models "$tmp" 2>&1); rc=$?
  if [[ $rc == 0 ]]; then echo "FAIL: '$cmd' exited 0 with a tampered model"; fail=1; fi
  for want in "fr_detect.onnx" "$expected" "$actual"; do
    [[ $out == *"$want"* ]] || { echo "FAIL: '$cmd' output does not name $want:"; echo "$out"; fail=1; }
  done
done
[[ $fail == 0 ]] && echo "tampered model refused by info and detect"
exit $fail
