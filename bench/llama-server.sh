#!/usr/bin/env bash
# Builds llama.cpp's own server (`llama-server`) around the very llama.cpp engine that veritas
# links: the source vendored in the `llama-cpp-sys-2` crate the workspace pins (0.1.161,
# llama.cpp 0.6.0-dev), with the cmake options that crate's build script uses on this machine,
# so the LLM serving benchmark compares like with like. Prints the binary's path; logs go to
# stderr.
#
# The crate ships a trimmed tree: ggml/, src/, include/, common/, vendor/, tools/mtmd are there,
# tools/server, tools/ui and the other tools' sources are not. We copy the vendored tree and only
# ADD the missing files from a donor llama.cpp tree; no vendored file is ever replaced, so the
# engine (ggml, llama, common, mtmd) is byte-for-byte the crate's.
#
# Donor: $LLAMA_CPP_SRC (a llama.cpp source tree; ideally the exact commit the crate vendors), or
# else the llama.cpp tree inside the llama-cpp-python 0.3.36 sdist from PyPI (llama.cpp 0.5.0
# era, a few weeks older than the crate's). The exact upstream commit of llama-cpp-sys-2 0.1.161
# (llama-cpp-rs e7af607) could not be obtained here; with the older donor two server files need
# a one-line API fix each (patched below, only when needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/llama-server"
[ -x "$out/bin/llama-server" ] && { echo "$out/bin/llama-server"; exit 0; }

vendored=$(cargo metadata --manifest-path "$root/Cargo.toml" --format-version 1 \
  | python3 -c 'import json,sys,os; m=json.load(sys.stdin); print([os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="llama-cpp-sys-2"][0])')/llama.cpp

donor=${LLAMA_CPP_SRC:-}
if [ -z "$donor" ]; then
  mkdir -p "$out/donor"
  [ -f "$out/donor/llama_cpp_python-0.3.36.tar.gz" ] ||
    pip download -q --no-deps --no-binary :all: -d "$out/donor" llama-cpp-python==0.3.36 >&2
  [ -d "$out/donor/llama_cpp_python-0.3.36" ] || tar xzf "$out/donor/llama_cpp_python-0.3.36.tar.gz" -C "$out/donor"
  donor="$out/donor/llama_cpp_python-0.3.36/vendor/llama.cpp"
fi

# Source tree = vendored tree + files only the donor has (cp -n never overwrites).
src="$out/src"
rm -rf "$src" && cp -r "$vendored" "$src" && chmod -R u+w "$src"
cp -rn "$donor/tools" "$donor/scripts" "$src/"
# Proof that the engine is untouched: every vendored file is identical in $src.
(cd "$vendored" && find . -type f -print0 | xargs -0 -I{} cmp -s {} "$src/{}" || { echo "vendored file changed" >&2; exit 1; })
echo "overlay: $(cd "$vendored" && find . -type f | wc -l) vendored files kept; donor files differing from vendored ones (ignored): $(cd "$vendored" && find . -type f -print0 | xargs -0 -I{} sh -c 'cmp -s "$1" "$2/$1" || echo x' _ {} "$donor" | wc -l)" >&2

# API drift between an older donor server and the vendored common/mtmd (no-ops for a matching donor).
grep -q 'mmproj_mem.empty()' "$src/tools/server/server-context.cpp" &&
  sed -i 's/mmproj_mem\.empty()/mmproj_mem.backend_mem_usage.empty()/; s/: mmproj_mem)/: mmproj_mem.backend_mem_usage)/' "$src/tools/server/server-context.cpp"
grep -q fs_open_ifstream "$src/common/common.h" ||
  sed -i 's/fs_open_ifstream(/std::ifstream(/' "$src/tools/server/server-mcp.cpp"

# Options of llama-cpp-sys-2's build script here (its CMakeCache): x86-64 baseline + AVX/AVX2/FMA/F16C/BMI2
# (ggml's defaults with GGML_NATIVE=OFF), CPU repack, no OpenMP, static, RelWithDebInfo (-O2 -g, as
# cargo's release profile gets). Build number/commit are pinned, else cmake reads this repo's git.
flags="-ffunction-sections -fdata-sections -fPIC -m64 -march=x86-64 -w"
cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_BMI2=ON -DGGML_CPU_REPACK=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=ON \
  -DLLAMA_BUILD_NUMBER=0 -DLLAMA_BUILD_COMMIT=llama-cpp-sys-2-0.1.161 \
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
nice -n 15 cmake --build "$out" --target llama-server -j "${JOBS:-2}" >&2
echo "$out/bin/llama-server"
