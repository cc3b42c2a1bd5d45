#!/usr/bin/env bash
# Build the ox86 test ROMs: every src/<name>.asm becomes bin/<name>.bin, a
# flat 64 KiB image.  The build stops on the first assembler error, warning
# or image that is not exactly 65536 bytes.  Every kernels/<name>.asm (a
# Multiboot test kernel, booted with -kernel) becomes bin/<name>.kernel, a
# file of any size laid out by its source (NASM's flat output, so an ELF
# image is built by hand, without a linker).
#
#   ./build.sh           build into bin/
#   ./build.sh --check   build into a temporary directory and compare with
#                        the committed bin/ files byte for byte; exits
#                        non-zero naming every file that differs or is
#                        missing (bin/ is left untouched)
#
# NASM's flat binary output contains no timestamps or paths, so the same
# sources and NASM version always give the same bytes.
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROM_SIZE=65536
NASM=${NASM:-nasm}

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

command -v "$NASM" >/dev/null || { echo "build.sh: $NASM not found (apt-get install nasm)" >&2; exit 2; }

if [ "$mode" = check ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
else
    out="$here/bin"
    mkdir -p "$out"
fi

shopt -s nullglob
srcs=("$here"/src/*.asm)
[ ${#srcs[@]} -gt 0 ] || { echo "build.sh: no sources in $here/src" >&2; exit 1; }
kernels=("$here"/kernels/*.asm)

for src in "${srcs[@]}"; do
    name=$(basename "$src" .asm)
    # -I: sources include "lib/xxx.inc"; -Werror: a warning (e.g. a value
    # truncated to fit a field) would be a bug in a test ROM.
    if ! "$NASM" -f bin -Werror -I "$here/src/" -o "$out/$name.bin" "$src"; then
        echo "build.sh: FAILED to assemble $src" >&2
        exit 1
    fi
    size=$(stat -c %s "$out/$name.bin")
    if [ "$size" -ne "$ROM_SIZE" ]; then
        echo "build.sh: FAILED: $name.bin is $size bytes, must be exactly $ROM_SIZE" >&2
        exit 1
    fi
    [ "$mode" = build ] && echo "built bin/$name.bin"
done

for src in "${kernels[@]}"; do
    name=$(basename "$src" .asm)
    if ! "$NASM" -f bin -Werror -I "$here/src/" -I "$here/kernels/" -o "$out/$name.kernel" "$src"; then
        echo "build.sh: FAILED to assemble $src" >&2
        exit 1
    fi
    [ "$mode" = build ] && echo "built bin/$name.kernel"
done

if [ "$mode" = check ]; then
    bad=0
    for src in "${srcs[@]}"; do
        name=$(basename "$src" .asm)
        if [ ! -f "$here/bin/$name.bin" ]; then
            echo "build.sh --check: MISSING bin/$name.bin (run ./build.sh)" >&2
            bad=1
        elif ! cmp -s "$out/$name.bin" "$here/bin/$name.bin"; then
            echo "build.sh --check: MISMATCH bin/$name.bin differs from a fresh build of src/$name.asm" >&2
            bad=1
        fi
    done
    for bin in "$here"/bin/*.bin; do
        name=$(basename "$bin" .bin)
        if [ ! -f "$here/src/$name.asm" ]; then
            echo "build.sh --check: STALE bin/$name.bin has no src/$name.asm" >&2
            bad=1
        fi
    done
    for src in "${kernels[@]}"; do
        name=$(basename "$src" .asm)
        if [ ! -f "$here/bin/$name.kernel" ]; then
            echo "build.sh --check: MISSING bin/$name.kernel (run ./build.sh)" >&2
            bad=1
        elif ! cmp -s "$out/$name.kernel" "$here/bin/$name.kernel"; then
            echo "build.sh --check: MISMATCH bin/$name.kernel differs from a fresh build of kernels/$name.asm" >&2
            bad=1
        fi
    done
    for bin in "$here"/bin/*.kernel; do
        name=$(basename "$bin" .kernel)
        if [ ! -f "$here/kernels/$name.asm" ]; then
            echo "build.sh --check: STALE bin/$name.kernel has no kernels/$name.asm" >&2
            bad=1
        fi
    done
    if [ "$bad" -ne 0 ]; then
        exit 1
    fi
    echo "build.sh --check: all $(( ${#srcs[@]} + ${#kernels[@]} )) images match"
fi
