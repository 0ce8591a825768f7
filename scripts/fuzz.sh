#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_<name>.cpp), or the ones named, for a while under ASan/UBSan.
#   scripts/fuzz.sh [--engine standalone|libfuzzer] [--minutes N | --seconds N] [--build DIR]
#                   [--no-build] [TARGET...]
#   make fuzz FUZZ_MINUTES=N [FUZZ_ENGINE=libfuzzer]
# standalone (default): fuzz/driver.cpp's seeded mutations, gcc ASan/UBSan build (build-asan).
# libfuzzer: clang's coverage-guided libFuzzer with ASan/UBSan (build-fuzz; clang and
#   libclang-rt-14-dev from scripts/setup.sh).
# Seeds: facelens_fuzz_seeds (fuzz/seeds.cpp) writes each target's into DIR/fuzz/seeds/TARGET
# (image_decode: tiny images of every format, plus small versions of the photos of ../shared/data,
# FACELENS_TEST_DATA, when present). libFuzzer keeps the
# inputs it finds in DIR/fuzz/corpus/TARGET. A finding is written to DIR/fuzz/findings/TARGET/
# and makes the script exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=standalone seconds=60 build="" do_build=1 targets=()
while (($#)); do
  case $1 in
    --engine) engine=$2; shift ;;
    --minutes) seconds=$(($2 * 60)); shift ;;
    --seconds) seconds=$2; shift ;;
    --build) build=$2; shift ;;
    --no-build) do_build=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
data=${FACELENS_TEST_DATA:-$PWD/../shared/data}
case $engine in
  standalone) build=${build:-build-asan}
    flags=(-DCMAKE_BUILD_TYPE=Debug -DFACELENS_ASAN=ON -DFACELENS_BUILD_BENCH=OFF) ;;
  libfuzzer) build=${build:-build-fuzz}
    command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing (scripts/setup.sh installs clang)" >&2; exit 2; }
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
           -DFACELENS_LIBFUZZER=ON -DFACELENS_BUILD_BENCH=OFF -DFACELENS_BUILD_TESTS=OFF) ;;
  *) echo "fuzz.sh: --engine is standalone or libfuzzer" >&2; exit 2 ;;
esac
if ((do_build)); then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" "${flags[@]}" "${launcher[@]}" >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
  cmake --build "$build" -j"$(nproc)" --target fuzz_all
fi
if ((${#targets[@]} == 0)); then
  for f in fuzz/fuzz_*.cpp; do n=${f#fuzz/fuzz_}; targets+=("${n%.cpp}"); done
fi
work=$build/fuzz
[[ -d $data/faces ]] || echo "fuzz.sh: $data/faces is absent (set FACELENS_TEST_DATA): seeds made up in code only"
# UBSan reports are findings: stop at the first, with a stack.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
rc=0
for t in "${targets[@]}"; do
  bin=$build/fuzz/fuzz_$t
  [[ -x $bin ]] || { echo "fuzz.sh: $bin is not built" >&2; exit 1; }
  findings=$work/findings/$t seeds=$work/seeds/$t
  mkdir -p "$findings" "$work/corpus/$t"
  rm -rf "$seeds"
  if [[ -d $data/faces ]]; then "$build/fuzz/facelens_fuzz_seeds" "$t" "$seeds" "$data/faces"
  else "$build/fuzz/facelens_fuzz_seeds" "$t" "$seeds"; fi
  echo "fuzz.sh: $t for $seconds s ($engine)"
  if [[ $engine == libfuzzer ]]; then
    "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=1048576 -print_final_stats=1 \
      -artifact_prefix="$findings/" "$work/corpus/$t" "$seeds" || rc=1
  else
    "$bin" -seconds="$seconds" -timeout=30 -artifact_prefix="$findings/" "$seeds" || rc=1
  fi
done
((rc == 0)) && echo "fuzz.sh: no findings" || echo "fuzz.sh: findings in $work/findings" >&2
exit $rc
