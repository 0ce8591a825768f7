#!/usr/bin/env bash
# Formats the C++ files in place with .clang-format (the fix for scripts/check_format.sh).
#   scripts/format.sh            # every tracked C++ file (scripts/cpp_files.sh)
#   scripts/format.sh FILE...    # only these
# CLANG_FORMAT names the binary (default: clang-format, from Debian's clang-format package).
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null 2>&1 || {
  echo "format: no $clang_format on PATH (apt-get install clang-format, or scripts/setup.sh)" >&2
  exit 1
}
if (($#)); then
  files=("$@")
else
  mapfile -t files < <(bash scripts/cpp_files.sh)
fi
((${#files[@]})) || { echo "format: no C++ files found"; exit 0; }
"$clang_format" --style=file -i "${files[@]}"
echo "format: ${#files[@]} files formatted with .clang-format"
