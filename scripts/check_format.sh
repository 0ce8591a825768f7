#!/usr/bin/env bash
# Checks that the C++ files follow .clang-format (clang-format --dry-run --Werror) and lists those
# that do not; scripts/format.sh fixes them. `make test` runs it before the tests.
#   scripts/check_format.sh            # every tracked C++ file (scripts/cpp_files.sh)
#   scripts/check_format.sh FILE...    # only these
# CLANG_FORMAT names the binary (default: clang-format, from Debian's clang-format package, which
# scripts/setup.sh installs). Without one the check is skipped with the reason, exit status 0.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "check_format: skipped: no $clang_format on PATH (apt-get install clang-format, or scripts/setup.sh)"
  exit 0
fi
if (($#)); then
  files=("$@")
else
  mapfile -t files < <(bash scripts/cpp_files.sh)
fi
if ((${#files[@]} == 0)); then
  echo "check_format: no C++ files found"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$clang_format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} of ${#files[@]} files differ from .clang-format ($("$clang_format" --version)):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "check_format: run scripts/format.sh (or scripts/format.sh FILE...) to fix them; " \
       "'$clang_format --dry-run FILE' shows what changes" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files follow .clang-format"
