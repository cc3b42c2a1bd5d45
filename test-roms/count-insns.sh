#!/usr/bin/env bash
# Count the guest instructions a ROM executes, from the reset vector up to
# and including the instruction that ends the run, using QEMU with one
# instruction per translation block and no block chaining: every executed
# instruction then logs exactly one "Trace" line.
#
#   ./count-insns.sh src/NAME.asm [nasm options, e.g. -DITERATIONS=2]
#
# The log grows by ~60 bytes per instruction, so only use it on short runs
# (intloop: pass a small -DITERATIONS, the count is linear in it).
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
src=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nasm -f bin -Werror -I "$here/src/" "$@" -o "$tmp/rom.bin" "$src"
set +e
timeout 120 qemu-system-i386 -display none -no-reboot -serial none -monitor none \
    -bios "$tmp/rom.bin" -debugcon "file:$tmp/out" \
    -device isa-debug-exit,iobase=0x501,iosize=2 \
    -singlestep -d exec,nochain -D "$tmp/log"
st=$?
set -e
[ "$st" -ne 124 ] || { echo "count-insns.sh: timed out" >&2; exit 1; }
echo "$(grep -c '^Trace' "$tmp/log") instructions (QEMU exit status $st)"
