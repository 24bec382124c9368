#!/usr/bin/env bash
# Builds the CUDA tree here for the GPU machine and lays out gpu-bundle/ (ignored), which travels
# there with the working tree, so no GPU minute goes to compiling:
#   bash scripts/gpu_bundle.sh            # here: build (sm_90: H100, H200), strip, copy, check
#   bash scripts/gpu_run.sh               # there, from the repository root (OUT=dir)
# gpu-bundle/ holds bin.tar.xz (the stripped binaries: each carries the same device code, so xz
# takes 40 MB to 4; gpu_run.sh unpacks it), lib/ (the shared libraries they need that a bare
# CUDA machine may lack: fmt, zlib, OpenMP, the CUDA runtime; cuBLAS comes from the machine's
# toolkit), fonts/ (DejaVu Sans, for the text in pictures), data/fashion-mnist/ and
# classifier.safetensors (for `evaluate`). Python stays
# out of lib/: the peers use the machine's own PyTorch and JAX.
# Env: BUILD_DIR (build-gpu), CUDA_ARCHS (90), BUNDLE (gpu-bundle), BINS (which binaries),
# FASHION_SRC (/usr/share/datasets/fashion-mnist), TEST_SET=0 leaves out the t10k files and the
# classifier, CLASSIFIER (a classifier file to carry instead of training one),
# MAX_MIB (60: the device tool carries 64 MiB with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
bundle=${BUNDLE:-gpu-bundle}
bins=${BINS:-tests/gpu_tests mnist_gan toy_gan benchmarks/bench_step benchmarks/bench_gemm benchmarks/bench_ops benchmarks/bench_conv benchmarks/eval_bench}
data_src=${FASHION_SRC:-/usr/share/datasets/fashion-mnist}
max_mib=${MAX_MIB:-60}

cmake -S . -B "$build" -G Ninja -DGAN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for b in $bins; do targets+=("$(basename "$b")"); done
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/fonts" "$bundle/data/fashion-mnist"
for b in $bins; do strip -o "$bundle/bin/$(basename "$b")" "$build/$b"; done
# Every library the binaries load from outside glibc, libstdc++ and cuBLAS (the machine's are
# newer or the same toolkit's). Never put on Python's path: only our binaries get this lib/.
ldd "$bundle"/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    case $name in
      libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libstdc++* | \
        libgcc_s* | libcublas*) ;;
      *) cp -L "$path" "$bundle/lib/$name" ;;
    esac
  done
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$bundle/fonts/"
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz"
[ "${TEST_SET:-1}" = 1 ] && files="$files t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
for f in $files; do
  [ -f "$data_src/$f" ] || { echo "gpu_bundle: no $data_src/$f (apt-get install dataset-fashion-mnist, or FASHION_SRC)" >&2; exit 1; }
  cp "$data_src/$f" "$bundle/data/fashion-mnist/"
done
# The Fashion-MNIST classifier for `evaluate` there (2 MB): CLASSIFIER, else one trained here on
# the CPU once (about a minute) and kept in the build folder.
if [ "${TEST_SET:-1}" = 1 ]; then
  cls=${CLASSIFIER:-$build/fashion-classifier.safetensors}
  if [ ! -f "$cls" ]; then
    "$build/mnist_gan" classifier --data "$bundle/data/fashion-mnist" --out "$cls" --device cpu
  fi
  cp "$cls" "$bundle/classifier.safetensors"
fi
git rev-parse HEAD >"$bundle/commit"
git diff --quiet || echo "+ uncommitted changes" >>"$bundle/commit"

# Checks here, so no GPU minute goes to a typo: every library resolved, the binaries start, every
# path the run script names exists, and the size.
if LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}" ldd "$bundle"/bin/* | grep 'not found'; then
  echo "gpu_bundle: a library is missing" >&2
  exit 1
fi
for b in "$bundle"/bin/*; do
  case $(basename "$b") in
    gpu_tests) LD_LIBRARY_PATH="$bundle/lib" "$b" --gtest_list_tests >/dev/null ;;
    *) LD_LIBRARY_PATH="$bundle/lib" "$b" --help >/dev/null ;;
  esac || { echo "gpu_bundle: $b does not start here" >&2; exit 1; }
done
BUNDLE=$bundle bash scripts/gpu_run.sh --check
tar cf - -C "$bundle" bin | xz -T0 -6 >"$bundle/bin.tar.xz"
rm -rf "$bundle/bin"
size_mib=$(du -sm "$bundle" | cut -f1)
tree_mib=$(($(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) / 1048576))
echo "gpu_bundle: $bundle is $size_mib MiB (+ $tree_mib MiB of tracked files); carry it: carry [\"$bundle\"]"
if [ "$size_mib" -gt "$max_mib" ]; then
  echo "gpu_bundle: over $max_mib MiB: pick fewer BINS or TEST_SET=0" >&2
  exit 1
fi
