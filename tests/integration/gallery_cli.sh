#!/usr/bin/env bash
# `facelens gallery` and `facelens calibrate` end to end: exit codes, JSON shapes, duplicate
# refusal, export/import, calibration written into a config that the next command reads.
#   usage: gallery_cli.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
src=$data/faces/face_recognition
[[ -d $src/knn/train ]] || { echo "gallery_cli: no test photos under $data: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SPDLOG_LEVEL=error
db=(--db "$work/sub/g.db" --provider cpu)
fail() { echo "gallery_cli: $*"; exit 1; }

"$facelens" gallery enroll obama "$src/knn/train/obama/obama.jpg" "$src/knn/train/obama/obama2.jpg" \
  "${db[@]}" --meta '{"role": "president"}' --json >"$work/enroll.jsonl" || fail "enroll obama failed"
[[ $(grep -c '"status":"enrolled"' "$work/enroll.jsonl") == 2 ]] || fail "expected 2 enrolled lines: $(cat "$work/enroll.jsonl")"
[[ -f $work/sub/g.db ]] || fail "the database folder was not created"
"$facelens" gallery enroll biden "$src/knn/train/biden/biden.jpg" "${db[@]}" >/dev/null || fail "enroll biden failed"

# A refusal: exit 3, the reason on the line.
"$facelens" gallery enroll someone "$src/knn/train/obama/obama.jpg" "${db[@]}" --json >"$work/dup.jsonl"
rc=$?
[[ $rc == 3 ]] || fail "duplicate enrolment: expected exit 3, got $rc"
grep -q '"status":"refused".*duplicate image' "$work/dup.jsonl" || fail "no duplicate reason: $(cat "$work/dup.jsonl")"
# two_people.jpg: two faces (biden2.jpg had a false second face under the old detector selection).
"$facelens" gallery enroll biden "$src/two_people.jpg" "${db[@]}" >/dev/null
[[ $? == 3 ]] || fail "two faces without --largest must be refused"

# identify: one JSON object per image; identity null for a stranger.
out=$("$facelens" gallery identify "$src/knn/test/obama_and_biden.jpg" "$src/lin-manuel-miranda.png" "${db[@]}" --top-k 2 --json) ||
  fail "identify failed"
[[ $(wc -l <<<"$out") == 2 ]] || fail "expected one line per image: $out"
line1=$(head -1 <<<"$out") line2=$(tail -1 <<<"$out")
[[ $line1 == *'"identity":"obama"'* && $line1 == *'"identity":"biden"'* && $line1 == *'"identity":null'* ]] ||
  fail "obama_and_biden: $line1"
[[ $line1 == *'"matches":[{"name":'*'"score":'* && $line1 == *'"box":['* ]] || fail "face shape: $line1"
[[ $line2 == *'"identity":null'* && $line2 != *'"identity":"'* ]] || fail "lin-manuel-miranda must be unknown: $line2"

# verify
"$facelens" gallery verify "$src/knn/test/obama1.jpg" obama "${db[@]}" --json | grep -q '"match":true' || fail "verify obama"
"$facelens" gallery verify "$src/knn/test/obama1.jpg" biden "${db[@]}" --json | grep -q '"match":false' || fail "verify biden"
"$facelens" gallery verify "$src/knn/test/obama1.jpg" nobody "${db[@]}" >/dev/null 2>&1 && fail "verify nobody must fail"

# list, export, import into another database, remove
"$facelens" gallery list "${db[@]}" --json | grep -q '"name":"obama","faces":2,"metadata":{"role":"president"}' ||
  fail "list: $("$facelens" gallery list "${db[@]}" --json)"
"$facelens" gallery export "$work/g.json" "${db[@]}" >/dev/null || fail "export failed"
"$facelens" gallery import "$work/g.json" --db "$work/copy.db" --json | grep -q '"faces":3' || fail "import failed"
"$facelens" gallery identify "$src/knn/test/obama1.jpg" --db "$work/copy.db" --provider cpu --json |
  grep -q '"identity":"obama"' || fail "the imported gallery does not know obama"
"$facelens" gallery remove biden "${db[@]}" >/dev/null || fail "remove failed"
"$facelens" gallery remove biden "${db[@]}" >/dev/null 2>&1 && fail "removing twice must fail"
"$facelens" gallery check "${db[@]}" --json | grep -q '"integrity":"ok","identities":1,"faces":2' || fail "check"

# calibrate on the knn/train folder (name/image), threshold into a TOML config read back by identify.
printf '# test config\n[detector]\nthreshold = 0.7\n' >"$work/facelens.toml"
# --far 0 can never be shown by a finite number of pairs: written only with --force.
cal=$("$facelens" calibrate --pairs "$src/knn/train" --far 0 --force --provider cpu --no-chart --write-config "$work/facelens.toml" --json) ||
  fail "calibrate failed"
[[ $cal == *'"auc":'* && $cal == *'"threshold":'* && $cal == *'"roc":['* ]] || fail "calibrate output: $cal"
grep -q '^\[recognizer\]' "$work/facelens.toml" && grep -q '^match_threshold = ' "$work/facelens.toml" &&
  grep -q '^threshold = 0.7' "$work/facelens.toml" || fail "config not written as expected: $(cat "$work/facelens.toml")"
t=$(grep '^match_threshold' "$work/facelens.toml" | sed 's/.*= //')
"$facelens" gallery identify "$src/knn/test/obama1.jpg" "${db[@]}" --config "$work/facelens.toml" --json |
  grep -q "\"threshold\":${t%0}" || fail "identify did not use the calibrated threshold $t"
# A CSV of pairs works too.
printf 'a,b,same\n%s,%s,1\n%s,%s,0\n' "$src/knn/train/obama/obama.jpg" "$src/knn/train/obama/obama2.jpg" \
  "$src/knn/train/obama/obama.jpg" "$src/biden.jpg" >"$work/pairs.csv"
"$facelens" calibrate --pairs "$work/pairs.csv" --provider cpu --no-chart --json | grep -q '"pairs":2' || fail "calibrate CSV"
echo "gallery_cli: ok"
