#!/usr/bin/env bash
# A gallery row whose name is not valid UTF-8 (stored by an older facelens, inserted here with
# sqlite3): `gallery list`, `identify` and `export` still work and print valid JSON, `check`
# reports the row (exit 1), `check --repair` renames it, and enrolling such a name is refused
# without committing anything.
#   usage: gallery_names.sh FACELENS DATA_DIR
# Exit 77 (ctest: skipped) when DATA_DIR has no test photos.
set -u
facelens=$1 data=$2
src=$data/faces/face_recognition
[[ -d $src/knn/train ]] || { echo "gallery_names: no test photos under $data: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SPDLOG_LEVEL=error
db=(--db "$work/g.db" --provider cpu)
fail() { echo "gallery_names: $*"; exit 1; }
valid_json() { python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]' || fail "not valid JSON: $1"; }

"$facelens" gallery enroll obama "$src/knn/train/obama/obama.jpg" "${db[@]}" >/dev/null || fail "enroll obama failed"
# A copy of obama's face under the name bytes FF FE (not UTF-8), as an older version stored it.
python3 - "$work/g.db" <<'PY' || fail "could not insert the bad row"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.text_factory = bytes
db.execute("INSERT INTO identities(name, created_at, updated_at) VALUES (CAST(x'FFFE' AS TEXT), 'x', 'x')")
db.execute("INSERT INTO faces(identity_id, embedding, dim, model_id, box_x1, box_y1, box_x2, box_y2, created_at) "
           "SELECT (SELECT id FROM identities WHERE name = CAST(x'FFFE' AS TEXT)), embedding, dim, model_id, "
           "box_x1, box_y1, box_x2, box_y2, created_at FROM faces LIMIT 1")
db.commit()
PY

out=$("$facelens" gallery list "${db[@]}" --json) || fail "list failed: $out"
valid_json list <<<"$out"
[[ $out == *'"name":"\\xFF\\xFE"'* ]] || fail "list must show the escaped name: $out"
out=$("$facelens" gallery identify "$src/knn/train/obama/obama2.jpg" "${db[@]}" --json) || fail "identify failed: $out"
valid_json identify <<<"$out"
"$facelens" gallery export "$work/x.json" "${db[@]}" --no-crops >/dev/null || fail "export failed"
valid_json export <"$work/x.json"

out=$("$facelens" gallery check "${db[@]}" --json)
rc=$?
[[ $rc == 1 ]] || fail "check must fail (exit 1) on an invalid name, got $rc: $out"
[[ $out == *'"invalid_names":[{'*'UTF-8'* ]] || fail "check must report the name: $out"
out=$("$facelens" gallery check --repair "${db[@]}" --json) || fail "check --repair failed: $out"
[[ $out == *'"renamed_to":"\\xFF\\xFE"'* ]] || fail "repair must rename to the escaped form: $out"
out=$("$facelens" gallery check "${db[@]}" --json) || fail "check after repair must pass: $out"
[[ $out == *'"invalid_names":[]'* ]] || fail "no invalid name after repair: $out"
"$facelens" gallery remove '\xFF\xFE' "${db[@]}" >/dev/null || fail "the repaired name must be removable"

# New invalid names are refused (exit 3) and nothing is committed.
"$facelens" gallery enroll "$(printf '\xff\xfe')" "$src/knn/train/biden/biden.jpg" "${db[@]}" --json >"$work/bad.jsonl"
rc=$?
[[ $rc == 3 ]] || fail "a non-UTF-8 name must be refused with exit 3, got $rc: $(cat "$work/bad.jsonl")"
valid_json refusal <"$work/bad.jsonl"
grep -q 'UTF-8' "$work/bad.jsonl" || fail "the refusal must say why: $(cat "$work/bad.jsonl")"
out=$("$facelens" gallery list "${db[@]}" --json) || fail "list failed"
[[ $out == *'"identities":[{"name":"obama"'*'}]}' && $out != *'biden'* ]] || fail "only obama must remain: $out"
echo "gallery_names: ok"
