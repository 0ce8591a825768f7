#!/usr/bin/env bash
# Prints the C++ sources and headers that .clang-format governs, one per line, relative to the
# repository root: the tracked files under git, else every such file under the source folders.
#   scripts/cpp_files.sh
# Used by scripts/check_format.sh and scripts/format.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
patterns=('*.cpp' '*.cc' '*.h' '*.hpp')
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -- "${patterns[@]}"
else
  find src include tools tests fuzz bench \( -name '*.cpp' -o -name '*.cc' -o -name '*.h' -o -name '*.hpp' \) \
    -type f 2>/dev/null | sort
fi
