#!/usr/bin/env bash
# `facelens calibrate` as a user checks accuracy on their own labelled photos: the photos of
# ../shared/data/faces laid out as <name>/<image> (face_api_js: 8 people x 5, knn/train: 5 people).
# Checks that the printed figures parse and are consistent (each interval holds its estimate),
# the JSON carries the same, the worst pairs name images, and the ROC chart files are a valid PNG
# and SVG.
#   usage: calibrate_cli.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
faces=$data/faces
[[ -d $faces/face_api_js && -d $faces/face_recognition/knn/train ]] ||
  { echo "calibrate_cli: no labelled photos under $data/faces: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SPDLOG_LEVEL=error
fail() { echo "calibrate_cli: $*"; exit 1; }

for f in "$faces"/face_api_js/*.png; do
  n=$(basename "$f" .png) && p=${n%%[0-9]*}
  mkdir -p "$work/people/$p" && ln -s "$f" "$work/people/$p/$n.png"
done
for d in "$faces"/face_recognition/knn/train/*/; do
  p=$(basename "$d") && mkdir -p "$work/people/$p"
  for f in "$d"*; do ln -s "$f" "$work/people/$p/"; done
done

"$facelens" calibrate --pairs "$work/people" --provider cpu --bootstrap 200 --seed 7 --worst 3 \
  --chart "$work/out/roc.png" --chart "$work/out/roc.svg" >"$work/text.txt" || fail "calibrate failed: $(cat "$work/text.txt")"
cat "$work/text.txt"
num='[0-9]+\.[0-9]+'
# "<label> X [LO, HI]": LO <= X <= HI, all in [0, 1].
check_interval() {
  local label=$1 line
  line=$(grep -E "^$label $num \[$num, $num\]" "$work/text.txt" | head -1) || true
  [[ -n $line ]] || fail "no '$label X [LO, HI]' line"
  read -r x lo hi < <(sed -E "s/^$label ($num) \[($num), ($num)\].*/\1 \2 \3/" <<<"$line")
  awk -v x="$x" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(0 <= lo && lo <= x + 1e-9 && x <= hi + 1e-9 && hi <= 1) }' ||
    fail "$label: $x not within [$lo, $hi] or outside [0, 1]"
}
check_interval "ROC AUC"
check_interval "EER"
for far in 1e-02 1e-03 1e-04; do check_interval "TAR at FAR $far:"; done
grep -qE "^[0-9]+ pairs \([0-9]+ same person, [0-9]+ different\) from [0-9]+ images of 13 identities" "$work/text.txt" ||
  fail "no pair/identity counts (13 people expected)"
grep -q "bootstrap over identities, 200 resamples, seed 7" "$work/text.txt" || fail "bootstrap settings not stated"
grep -qE "^worst false accepts at threshold $num:" "$work/text.txt" || fail "no worst false accepts"
grep -qE "^worst false rejects at threshold $num:" "$work/text.txt" || fail "no worst false rejects"

if command -v gnuplot >/dev/null; then
  [[ $(head -c 8 "$work/out/roc.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "roc.png is not a PNG"
  grep -q '<svg' "$work/out/roc.svg" && grep -q '</svg>' "$work/out/roc.svg" || fail "roc.svg is not an SVG"
  grep -q "ROC chart: $work/out/roc.png" "$work/text.txt" || fail "the chart path is not printed"
else
  echo "calibrate_cli: gnuplot not installed (scripts/setup.sh installs it): chart images not checked"
  [[ -f $work/out/roc.dat && -f $work/out/roc.png.gp ]] || fail "without gnuplot the chart data and script must be written"
fi

# The same run as JSON: the same seed gives the same interval.
"$facelens" calibrate --pairs "$work/people" --provider cpu --bootstrap 200 --seed 7 --worst 3 --no-chart --json \
  >"$work/out.json" || fail "calibrate --json failed"
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const fail = (m) => { console.error("calibrate_cli: " + m); process.exit(1); };
if (j.identities !== 13) fail("identities " + j.identities);
if (!(j.auc_ci[0] <= j.auc && j.auc <= j.auc_ci[1])) fail("auc outside its interval");
if (j.tar_at_far.length !== 3) fail("three TAR at FAR entries expected");
for (const t of j.tar_at_far) if (!(t.ci[0] <= t.tar && t.tar <= t.ci[1])) fail("tar outside its interval at " + t.far);
if (j.bootstrap.resamples !== 200 || j.bootstrap.seed !== 7) fail("bootstrap " + JSON.stringify(j.bootstrap));
if (j.charts.length !== 0) fail("--no-chart wrote a chart");
for (const k of ["false_accepts", "false_rejects"]) {
  if (j.worst[k].length > 3) fail(k + ": more than --worst 3");
  for (const p of j.worst[k]) if (!p.image_a || !p.image_b || typeof p.score !== "number") fail(k + " entry " + JSON.stringify(p));
}
const fa = j.worst.false_accepts.map((p) => p.score), fr = j.worst.false_rejects.map((p) => p.score);
for (let i = 1; i < fa.length; ++i) if (fa[i] > fa[i - 1]) fail("false accepts not worst first");
for (let i = 1; i < fr.length; ++i) if (fr[i] < fr[i - 1]) fail("false rejects not worst first");
' "$work/out.json" || exit 1
auc_text=$(sed -nE "s/^ROC AUC ($num) \[($num), ($num)\].*/\2/p" "$work/text.txt")
auc_json=$(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(j.auc_ci[0].toFixed(5))' "$work/out.json")
[[ $auc_text == "$auc_json" ]] || fail "same seed, different interval: $auc_text vs $auc_json"
echo "calibrate_cli: ok"
