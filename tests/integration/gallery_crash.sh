#!/usr/bin/env bash
# Crash safety of gallery enrolment: a bulk `facelens gallery enroll` is killed with SIGKILL at a
# random moment, RUNS times over the same database. After each kill the gallery must open, pass
# SQLite's integrity check, and hold every face the killed process reported as enrolled (it prints
# a line only after the store's commit).
#   usage: gallery_crash.sh FACELENS DATA_DIR [RUNS] [SEED]
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2 runs=${3:-20} seed=${4:-$$}
src=$data/faces/face_recognition
[[ -d $src/knn/train ]] || { echo "gallery_crash: no test photos under $data: skipped"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=$work/gallery.db
RANDOM=$seed
# Photos with one face; every run enrols fresh byte-distinct copies (a trailer after the image
# data changes the sha256, not the pixels), so none is refused as a duplicate.
photos=("$src"/knn/train/alex_lacamoire/img1.jpg "$src"/knn/train/kit_harington/john1.jpeg
        "$src"/knn/train/kit_harington/john2.jpeg "$src"/knn/train/obama/obama2.jpg
        "$src"/knn/train/rose_leslie/img1.jpg "$src"/knn/train/rose_leslie/img2.jpg
        "$src"/obama-240p.jpg "$src"/biden.jpg "$src"/lin-manuel-miranda.png "$src"/obama_small.jpg)
per_run=60
opts=(--db "$db" --provider cpu)
quality=(--min-face 0 --min-sharpness 0 --max-pose 0)  # durability is tested here, not quality
export SPDLOG_LEVEL=error

acked=$work/acked.txt
: >"$acked"
fail=0
for ((run = 1; run <= runs; run++)); do
  dir=$work/run$run
  mkdir -p "$dir"
  images=()
  for ((k = 0; k < per_run; k++)); do
    p=${photos[k % ${#photos[@]}]}
    f=$dir/$k.${p##*.}
    cp "$p" "$f"
    printf 'facelens-crash-test %d %d' "$run" "$k" >>"$f"
    images+=("$f")
  done
  # Kill somewhere between model loading and the end of the enrolment.
  delay_ms=$((100 + RANDOM % 2400))
  "$facelens" gallery enroll "person$((run % 4))" "${images[@]}" "${opts[@]}" "${quality[@]}" --json >"$dir/out.jsonl" 2>"$dir/err.txt" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # Complete "enrolled" lines only (a line cut by the kill does not count).
  n_run=0
  while IFS= read -r line; do
    [[ $line == *'"status":"enrolled"'*'}' ]] || continue
    sha=$(grep -o '"image_sha256":"[0-9a-f]*"' <<<"$line" | cut -d'"' -f4)
    [[ -n $sha ]] && echo "$sha" >>"$acked" && n_run=$((n_run + 1))
  done <"$dir/out.jsonl"

  check=$("$facelens" gallery check "${opts[@]}" --json 2>&1)
  if [[ $check != *'"integrity":"ok"'* ]]; then
    echo "run $run: integrity check failed after kill at ${delay_ms} ms: $check"
    fail=1
    break
  fi
  stored=$("$facelens" gallery list --faces "${opts[@]}" --json 2>&1)
  missing=0
  while IFS= read -r sha; do
    [[ $stored == *"\"image_sha256\":\"$sha\""* ]] || { echo "run $run: acknowledged face $sha is missing"; missing=$((missing + 1)); }
  done <"$acked"
  n_stored=$(grep -o '"image_sha256":"[0-9a-f]*"' <<<"$stored" | wc -l)
  n_acked=$(wc -l <"$acked")
  echo "run $run: killed at ${delay_ms} ms; $n_run acknowledged this run; $n_acked acknowledged in all, $n_stored stored; integrity ok"
  if ((missing > 0 || n_stored < n_acked)); then
    fail=1
    break
  fi
done

# The gallery still works after all this: one more enrolment goes through and is found.
if ((fail == 0)); then
  cp "${photos[0]}" "$work/last.jpg" && printf 'facelens-crash-test last' >>"$work/last.jpg"
  if ! "$facelens" gallery enroll after_crashes "$work/last.jpg" "${opts[@]}" "${quality[@]}" >/dev/null ||
     [[ $("$facelens" gallery list "${opts[@]}" --json) != *'"name":"after_crashes"'* ]]; then
    echo "enrolment after the crashes failed"
    fail=1
  fi
fi
((fail == 0)) && echo "gallery crash safety: $runs runs, every acknowledged enrolment survived"
exit $fail
