#!/usr/bin/env bash
# Run a test ROM on QEMU, the reference machine for ox86's expected outputs.
#
#   ./run-qemu.sh NAME            boot bin/NAME.bin, copy its debug console
#                                 (port 0xE9) output to stdout and exit with
#                                 the value the guest wrote to port 0x501
#   ./run-qemu.sh --update NAME.. regenerate expected/NAME.txt and .exit
#                                 (each ROM is run twice; differing output
#                                 is an error, the ROMs must be deterministic)
#   ./run-qemu.sh --verify NAME.. compare QEMU against expected/ files
#   NAME may be --all (every bin/*.bin and bin/*.kernel).
#
# A bin/NAME.kernel (a Multiboot test kernel) is booted with -kernel from
# this directory, with -m 128M, the command line $KERNEL_APPEND and the
# modules $KERNEL_MODULES (machine/tests/multiboot.rs passes ox86 the same).
#
# QEMU's isa-debug-exit makes QEMU exit with (value << 1) | 1; this script
# undoes that.  Other outcomes map to these exit statuses (and this word in
# expected/NAME.exit):
#   QEMU exit status 0 -> 126  "triple-fault": with -no-reboot a triple fault
#                              (shutdown) makes QEMU quit with status 0
#   timeout (20 s)     -> 124  "timeout": a hung ROM is a broken ROM
#   anything else      -> 125  "qemu-error"
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
QEMU=${QEMU:-qemu-system-i386}
TIMEOUT=${TIMEOUT:-20}
KERNEL_APPEND="answer=42 text=hello"
KERNEL_MODULES="kernels/module0.txt first module,kernels/module1.txt"

# run_rom NAME OUTFILE -> sets $outcome (number or word) and $status
run_rom() {
    local out=$2 st boot
    if [ -f "$here/bin/$1.bin" ]; then
        boot=(-bios "$here/bin/$1.bin")
    elif [ -f "$here/bin/$1.kernel" ]; then
        # Relative names: the kernel sees them in its command lines.
        boot=(-m 128M -kernel "bin/$1.kernel" -append "$KERNEL_APPEND" -initrd "$KERNEL_MODULES")
    else
        echo "run-qemu.sh: no such image bin/$1.bin or bin/$1.kernel (run ./build.sh)" >&2
        exit 2
    fi
    : >"$out"
    (cd "$here" && timeout "$TIMEOUT" "$QEMU" -display none -no-reboot -serial none -monitor none \
        "${boot[@]}" -debugcon "file:$out" \
        -device isa-debug-exit,iobase=0x501,iosize=2)
    st=$?
    if [ "$st" -eq 124 ]; then
        outcome=timeout; status=124
    elif [ "$st" -eq 0 ]; then
        outcome=triple-fault; status=126
    elif [ $((st & 1)) -eq 1 ] && [ "$st" -lt 256 ]; then
        outcome=$((st >> 1)); status=$outcome
    else
        outcome=qemu-error; status=125
    fi
}

names() {
    local n
    for n in "$@"; do
        if [ "$n" = --all ]; then
            for b in "$here"/bin/*.bin "$here"/bin/*.kernel; do basename "${b%.*}"; done
        else
            echo "$n"
        fi
    done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case "${1:-}" in
    ""|-h|--help)
        sed -n '2,27p' "$0"; exit 0 ;;
    --update)
        shift
        rc=0
        for n in $(names "$@"); do
            run_rom "$n" "$tmp/a"; o1=$outcome
            run_rom "$n" "$tmp/b"; o2=$outcome
            if ! cmp -s "$tmp/a" "$tmp/b" || [ "$o1" != "$o2" ]; then
                echo "run-qemu.sh: $n is NOT deterministic (two runs differ); expected/ not updated" >&2
                rc=1; continue
            fi
            mkdir -p "$here/expected"
            cp "$tmp/a" "$here/expected/$n.txt"
            echo "$o1" >"$here/expected/$n.exit"
            echo "updated expected/$n.txt ($(wc -l <"$tmp/a") lines), expected/$n.exit = $o1"
        done
        exit $rc ;;
    --verify)
        shift
        rc=0
        for n in $(names "$@"); do
            run_rom "$n" "$tmp/a"
            if ! cmp -s "$tmp/a" "$here/expected/$n.txt"; then
                echo "FAIL $n: output differs from expected/$n.txt" >&2
                diff "$here/expected/$n.txt" "$tmp/a" | head -20 >&2
                rc=1
            elif [ "$outcome" != "$(cat "$here/expected/$n.exit")" ]; then
                echo "FAIL $n: exit $outcome, expected $(cat "$here/expected/$n.exit")" >&2
                rc=1
            else
                echo "ok   $n (exit $outcome)"
            fi
        done
        exit $rc ;;
    -*)
        echo "run-qemu.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    *)
        [ $# -eq 1 ] || { echo "run-qemu.sh: give exactly one NAME" >&2; exit 2; }
        run_rom "$1" "$tmp/a"
        cat "$tmp/a"
        [ "$status" -ge 124 ] && echo "run-qemu.sh: $1: $outcome" >&2
        exit "$status" ;;
esac
