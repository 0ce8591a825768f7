#!/usr/bin/env bash
# The CLI items of issue 20, end to end: one match threshold everywhere (the config's, unless
# --threshold; the source said), `calibrate --write-config` refusing a FAR its pairs cannot show,
# folders as inputs (`detect DIR`, `gallery enroll-dir DIR`), `--draw` (a folder for several
# images, the format by extension, each path printed), `info` (the CUDA reason once, --json on one
# line), the help layout, the gallery's exit codes, serve's curl hint with an absolute path.
#   usage: cli_rough_edges.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
src=$data/faces/face_recognition
[[ -d $src/knn/train ]] || { echo "cli_rough_edges: no test photos under $data: skipped"; exit 77; }
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export SPDLOG_LEVEL=error
cpu=(--provider cpu)
db=(--db "$work/g.db" --provider cpu)
fail() { echo "cli_rough_edges: $*"; exit 1; }
json_get() { python3 -c 'import json,sys; j=json.loads(sys.stdin.readline()); print(eval("j"+sys.argv[1]))' "$1"; }

# ---- help: the command's own options first, the shared ones under their own heading
heading='Config, models and runtime (every command):'
for cmd in "detect" "verify" "info" "serve" "calibrate" "gallery identify" "gallery enroll-dir" "models convert"; do
  # shellcheck disable=SC2086
  help=$("$facelens" $cmd --help) || fail "$cmd --help failed"
  [[ $help == *"$heading"* ]] || fail "$cmd --help: no heading '$heading'"
  own=${help%%"$heading"*} shared=${help#*"$heading"}
  [[ $own != *--config* && $own != *--recognizer* && $shared == *--config* && $shared == *--deepfake-margin* ]] ||
    fail "$cmd --help: the model options are not under their heading: $help"
  [[ $own == *--json* ]] || fail "$cmd --help: --json is not among its own options"
done
[[ $("$facelens" detect --help) == *--draw*"$heading"* ]] || fail "detect --help: --draw not before the shared options"
top=$("$facelens" --help)
[[ $top == *convert* && $top == *enroll-dir* ]] || fail "the top-level help omits models convert or gallery enroll-dir: $top"

# ---- info: the CUDA reason printed once; --json one object on one line
info_json=$("$facelens" info --json) || fail "info --json failed"
[[ $(wc -l <<<"$info_json") == 1 ]] || fail "info --json is not one line"
reason=$(json_get "['cuda'].get('reason', '')" <<<"$info_json")
if [[ -n $reason ]]; then
  n=$("$facelens" info | grep -cF -- "$reason")
  [[ $n == 1 ]] || fail "info prints the CUDA reason $n times"
fi
[[ $("$facelens" models inspect --json "$(json_get "['models'][0]['path']" <<<"$info_json")" | wc -l) == 1 ]] ||
  fail "models inspect --json is not one line"

# ---- --draw
a=$src/obama.jpg b=$src/biden.jpg
"$facelens" detect "$a" "$b" "${cpu[@]}" --draw "$work/two.png" >/dev/null 2>"$work/err"
rc=$?
[[ $rc == 2 && ! -e $work/two.png ]] || fail "two images --draw two.png: exit $rc (expected 2), created: $(ls "$work")"
grep -q 'name a folder' "$work/err" || fail "two images --draw two.png: $(cat "$work/err")"
out=$("$facelens" detect "$a" "$b" "${cpu[@]}" --draw "$work/drawn") || fail "--draw into a folder failed"
for f in "$work/drawn/obama.png" "$work/drawn/biden.png"; do
  [[ $out == *"drawn: $f"* ]] || fail "the path $f is not printed: $out"
  [[ $(head -c 8 "$f" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$f is not a PNG"
done
out=$("$facelens" detect "$a" "${cpu[@]}" --draw "$work/one.jpg" --json) || fail "--draw one.jpg failed"
[[ $(json_get "['drawn']" <<<"$out") == "$work/one.jpg" ]] || fail "--json does not name the drawing: $out"
[[ $(head -c 3 "$work/one.jpg" | od -An -tx1 | tr -d ' \n') == ffd8ff ]] || fail "one.jpg is not a JPEG"
"$facelens" detect "$a" "${cpu[@]}" --draw "$work/one.gif" >/dev/null 2>"$work/err"
rc=$?
[[ $rc == 2 && ! -e $work/one.gif ]] || fail "--draw one.gif: exit $rc, expected 2"
grep -q '.png, .jpg or .jpeg' "$work/err" || fail "--draw one.gif does not name the accepted extensions: $(cat "$work/err")"
# One image into a folder named with a trailing separator (created); never over the photo itself.
out=$("$facelens" detect "$a" "${cpu[@]}" --draw "$work/into/") || fail "one image --draw into/ failed"
[[ -f $work/into/obama.png && $out == *"drawn: $work/into/obama.png"* ]] || fail "one image --draw into/: $out"
cp "$a" "$work/self.jpg"
"$facelens" detect "$work/self.jpg" "${cpu[@]}" --draw "$work/self.jpg" >/dev/null 2>"$work/err"
rc=$?
[[ $rc == 2 ]] && cmp -s "$a" "$work/self.jpg" || fail "--draw over the photo itself: exit $rc, $(cat "$work/err")"
# A negative --threshold is refused, not silently replaced by the config's.
"$facelens" verify "$a" "$b" "${cpu[@]}" --threshold -0.1 >/dev/null 2>"$work/err"
rc=$?
[[ $rc == 2 ]] || fail "verify --threshold -0.1: exit $rc (expected 2): $(cat "$work/err")"

# ---- folders as inputs
n_files=$(find "$src/knn/test" -maxdepth 1 -type f | wc -l)
[[ $("$facelens" detect "$src/knn/test" "${cpu[@]}" --json | wc -l) == "$n_files" ]] || fail "detect DIR: not one line per photo"
mkdir "$work/empty"
"$facelens" detect "$work/empty" "${cpu[@]}" >/dev/null 2>&1
[[ $? == 3 ]] || fail "detect of a folder without photos: expected exit 3"

# ---- calibrate --write-config: refused with fewer than 3/FAR different-person pairs, unless --force
printf '[detector]\nthreshold = 0.7\n' >"$work/fl.toml"
cp "$work/fl.toml" "$work/before.toml"
cal=(calibrate --pairs "$src/knn/train" "${cpu[@]}" --no-chart --bootstrap 20 --write-config "$work/fl.toml")
"$facelens" "${cal[@]}" --far 0.01 >"$work/cal.txt" 2>"$work/err"
rc=$?
[[ $rc == 2 ]] || fail "calibrate --far 0.01 on 32 different-person pairs: exit $rc, expected 2"
cmp -s "$work/fl.toml" "$work/before.toml" || fail "the refused calibration changed the config"
grep -q -- '--force' "$work/err" && grep -q '300' "$work/err" || fail "the refusal does not say why and --force: $(cat "$work/err")"
out=$("$facelens" "${cal[@]}" --far 0.01 --force) || fail "calibrate --force failed"
grep -qE '^wrote \[recognizer\] match_threshold = [0-9.]+ to .*\(was 0\.[0-9]+ from the manifest of ' <<<"$out" ||
  fail "calibrate does not print the old and the new threshold: $out"
t=$(sed -n 's/^match_threshold = //p' "$work/fl.toml")
out=$("$facelens" "${cal[@]}" --far 0.1 --json) || fail "calibrate --far 0.1 (32 pairs >= 30) was refused"
[[ $(json_get "['previous_threshold']['threshold']" <<<"$out") == "$t" ]] || fail "previous threshold is not $t: $out"
[[ $(json_get "['previous_threshold']['source']" <<<"$out") == config ]] || fail "previous threshold source: $out"
t=$(sed -n 's/^match_threshold = //p' "$work/fl.toml")
out=$("$facelens" calibrate --pairs "$src/knn/train" "${cpu[@]}" --no-chart --bootstrap 20 --config "$work/fl.toml") ||
  fail "calibrate --config failed"
grep -qE "^current threshold ${t%0}0* \(from $work/fl.toml \[recognizer\] match_threshold\)" <<<"$out" ||
  fail "calibrate does not measure the config's threshold $t: $out"

# ---- one threshold everywhere: verify, gallery identify and verify read --config; --threshold wins
same() { python3 -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1e-6)' "$1" "$2"; }
out=$("$facelens" verify "$a" "$b" "${cpu[@]}" --config "$work/fl.toml" --json) || fail "verify --config failed"
same "$(json_get "['threshold']" <<<"$out")" "$t" && [[ $(json_get "['threshold_source']" <<<"$out") == config ]] ||
  fail "verify --config ignores the calibrated threshold $t: $out"
out=$("$facelens" verify "$a" "$b" "${cpu[@]}" --config "$work/fl.toml") || fail "verify (text) failed"
[[ $out == *"from $work/fl.toml [recognizer] match_threshold"* ]] || fail "verify does not say its threshold: $out"
out=$("$facelens" verify "$a" "$b" "${cpu[@]}" --config "$work/fl.toml" --threshold 0.77 --json)
same "$(json_get "['threshold']" <<<"$out")" 0.77 && [[ $(json_get "['threshold_source']" <<<"$out") == flag ]] ||
  fail "--threshold does not win over the config: $out"
out=$("$facelens" verify "$a" "$b" "${cpu[@]}" --json)
[[ $(json_get "['threshold_source']" <<<"$out") == manifest ]] || fail "no config: the manifest's threshold: $out"

# ---- gallery enroll-dir: one subfolder per person, per-photo report, summary, exit 3 on a refusal
mkdir -p "$work/people/empty_person"
cp -r "$src/knn/train/obama" "$src/knn/train/biden" "$work/people/"
cp "$src/two_people.jpg" "$work/people/biden/"  # two faces: refused
cp "$src/obama3.jpg" "$work/people/"           # not in a person's folder: refused
"$facelens" gallery enroll-dir "$work/people" "${db[@]}" --json >"$work/dir.jsonl"
rc=$?
[[ $rc == 3 ]] || fail "enroll-dir with refusals: exit $rc, expected 3: $(cat "$work/dir.jsonl")"
[[ $(grep -c '"status":"enrolled"' "$work/dir.jsonl") == 4 ]] || fail "enroll-dir: expected 4 enrolled: $(cat "$work/dir.jsonl")"
grep -q '"image":"[^"]*two_people.jpg","name":"biden","status":"refused"' "$work/dir.jsonl" ||
  fail "enroll-dir: two_people.jpg not refused: $(cat "$work/dir.jsonl")"
grep -q 'obama3.jpg.*not in a person' "$work/dir.jsonl" || fail "enroll-dir: the loose photo not reported"
grep -q '"name":"empty_person","status":"skipped"' "$work/dir.jsonl" || fail "enroll-dir: the empty folder not reported"
summary=$(tail -1 "$work/dir.jsonl")
[[ $(json_get "['summary']['enrolled']" <<<"$summary") == 4 && $(json_get "['summary']['refused']" <<<"$summary") == 2 &&
  $(json_get "['summary']['people_new']" <<<"$summary") == 2 ]] || fail "enroll-dir summary: $summary"
"$facelens" gallery list "${db[@]}" --json | grep -q '"name":"biden","faces":2' || fail "enroll-dir: biden not enrolled twice"
rm -rf "$work/people2" && mkdir -p "$work/people2/ada"
cp "$src/knn/train/rose_leslie/"*.jpg "$work/people2/ada/"
out=$("$facelens" gallery enroll-dir "$work/people2" "${db[@]}") || fail "enroll-dir without refusals: exit $?"
[[ $out == *"2 of 2 photos enrolled, 0 refused; 1 of 1 people enrolled (1 new)"* ]] || fail "enroll-dir text summary: $out"
"$facelens" gallery enroll-dir "$work/nothing" "${db[@]}" >/dev/null 2>&1
[[ $? == 3 ]] || fail "enroll-dir of a missing folder: expected exit 3"

# ---- gallery: folders, thresholds and exit codes (README: 1 runtime, 2 usage, 3 bad input / not found)
out=$("$facelens" gallery identify "$src/knn/test" "${db[@]}" --config "$work/fl.toml" --json) ||
  [[ $? == 3 ]] || fail "gallery identify DIR failed"
[[ $(wc -l <<<"$out") == "$n_files" ]] || fail "gallery identify DIR: not one line per photo"
same "$(head -1 <<<"$out" | json_get "['threshold']")" "$t" &&
  [[ $(head -1 <<<"$out" | json_get "['threshold_source']") == config ]] || fail "identify --config: $(head -1 <<<"$out")"
out=$("$facelens" gallery verify "$src/obama2.jpg" obama "${db[@]}" --threshold 0.5)
[[ $out == *"(threshold 0.5000 from --threshold)"* ]] || fail "gallery verify --threshold: $out"
expect_rc() {  # RC WHAT COMMAND...
  local want=$1 what=$2
  shift 2
  "$@" >/dev/null 2>"$work/err"
  local rc=$?
  [[ $rc == "$want" ]] || fail "$what: exit $rc, expected $want: $(cat "$work/err")"
}
expect_rc 3 "gallery verify IMG nobody" "$facelens" gallery verify "$src/obama2.jpg" nobody "${db[@]}"
expect_rc 3 "gallery verify of a missing photo" "$facelens" gallery verify "$work/missing.jpg" obama "${db[@]}"
expect_rc 3 "gallery remove nobody" "$facelens" gallery remove nobody "${db[@]}"
expect_rc 3 "gallery import of a missing file" "$facelens" gallery import "$work/missing.json" "${db[@]}"
expect_rc 3 "gallery enroll of a missing photo" "$facelens" gallery enroll ada "$work/missing.jpg" "${db[@]}"
expect_rc 3 "gallery identify of a missing photo" "$facelens" gallery identify "$work/missing.jpg" "${db[@]}"
expect_rc 3 "calibrate --pairs of a missing file" "$facelens" calibrate --pairs "$work/missing.csv" "${cpu[@]}"
expect_rc 2 "gallery verify without NAME" "$facelens" gallery verify "$src/obama2.jpg" "${db[@]}"
expect_rc 2 "gallery list --bogus" "$facelens" gallery list --bogus "${db[@]}"
expect_rc 0 "gallery export" "$facelens" gallery export "$work/g.json" "${db[@]}"
expect_rc 0 "gallery check" "$facelens" gallery check "${db[@]}"
expect_rc 1 "gallery identify with a missing model" "$facelens" gallery identify "$src/obama2.jpg" "${db[@]}" \
  --recognizer "$work/missing.onnx"

# ---- serve: the curl hint names the photo by an absolute path, and the threshold used
"$facelens" serve --port 0 --no-gallery "${cpu[@]}" --config "$work/fl.toml" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^try:' "$work/serve.log" && break; sleep 0.2; done
hint=$(grep '^try:' "$work/serve.log") || fail "serve printed no hint: $(cat "$work/serve.log")"
[[ $hint =~ image=@(/[^ ]+) ]] || fail "the curl hint's path is not absolute: $hint"
grep -q "^match threshold .* from $work/fl.toml \[recognizer\] match_threshold" "$work/serve.log" ||
  fail "serve does not say its threshold: $(cat "$work/serve.log")"
echo "cli_rough_edges: ok"
