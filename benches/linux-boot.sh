#!/usr/bin/env bash
# Linux boot benchmark: boots the Debian i386 kernel with the test initramfs
# (scripts/fetch-linux.sh) under ox86 and under QEMU (TCG) in the same run, and
# prints the wall time from start to "OX86-MARKER: init started" and to the
# emulator's exit for each, with the ox86/QEMU ratio.
#
#   benches/linux-boot.sh [OX86-BINARY]
#
# OX86-BINARY defaults to target/release/ox86, built first with
# `cargo build --release --bin ox86`. A run passes when the emulator exits 0
# after the guest printed the init, workload (with the expected result) and
# poweroff markers. Exits 1 (after the table) when the ox86 or the QEMU run
# failed, printing why and the end of that run's serial log.
#
# Environment:
#   OX86_GUEST_DIR      where the guest is (see scripts/fetch-linux.sh)
#   OX86_LINUX_APPEND   kernel command line (default "console=ttyS0 panic=-1")
#   OX86_BENCH_TIMEOUT  seconds allowed per run (default 1800)
#   OX86_BENCH_LOGS     directory for the serial logs (default: a new temporary one)
#   OX86_ARGS           extra arguments for `ox86 run` (it runs its default engine, the
#                       JIT on x86-64 and AArch64 hosts; "--engine interp" for the other)
#   QEMU                QEMU binary (default qemu-system-i386)
#
# SPDX-License-Identifier: MIT OR Apache-2.0
# shellcheck disable=SC2154  # qemu_* and ox86_* are set by run_guest through printf -v
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
esac
[ $# -le 1 ] || { echo "linux-boot.sh: at most one argument, the ox86 binary (try --help)" >&2; exit 2; }

die() {
    echo "linux-boot.sh: ERROR: $*" >&2
    exit 1
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
APPEND=${OX86_LINUX_APPEND:-console=ttyS0 panic=-1}
TIMEOUT=${OX86_BENCH_TIMEOUT:-1800}
QEMU=${QEMU:-qemu-system-i386}
MEM=256M
# The line the test image's workload prints (scripts/fetch-linux.sh).
WORKLOAD_LINE="OX86-MARKER: workload sum=9000450005000 md5=c1d4ba52c72ac7bcc71ff2d6c083e684"

[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 or newer (for \$EPOCHREALTIME)"
command -v timeout >/dev/null || die "'timeout' (coreutils) not found"
command -v "$QEMU" >/dev/null || die "$QEMU not found (scripts/deps.sh installs qemu-system-x86)"

# --- the guest and the ox86 binary -----------------------------------------------------

"$ROOT/scripts/fetch-linux.sh" >/dev/null || die "scripts/fetch-linux.sh failed (see above)"
GUEST=${OX86_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ox86/linux}
KERNEL=$GUEST/vmlinuz
INITRD=$GUEST/initramfs-test.cpio.gz
[ -s "$KERNEL" ] && [ -s "$INITRD" ] || die "no guest in $GUEST after scripts/fetch-linux.sh"

if [ $# -eq 1 ]; then
    OX86=$1
else
    OX86=$ROOT/target/release/ox86
    echo "linux-boot.sh: building ox86 (cargo build --release --bin ox86)" >&2
    (cd "$ROOT" && cargo build --release --bin ox86) || die "cargo build --release --bin ox86 failed"
fi
[ -x "$OX86" ] || die "$OX86 is not an executable file"

LOGS=${OX86_BENCH_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/ox86-linux-boot.XXXXXX")}
mkdir -p "$LOGS"

# --- timing -------------------------------------------------------------------------

# Microseconds since the epoch from $EPOCHREALTIME, without a fork (so timing
# each serial line costs nothing that could delay the reading).
usec() {  # usec VAR: VAR = microseconds since the epoch
    local t=${EPOCHREALTIME/[.,]/}
    printf -v "$1" '%d' $((10#$t))
}

# run_guest NAME CMD...: runs CMD with the serial console on stdout, logs it to
# $LOGS/NAME.log, and sets NAME_init / NAME_exit (seconds, "-" if never reached),
# NAME_rc and NAME_err (why the run failed; empty when it passed).
run_guest() {
    local name=$1 t0 t now line rc=- t_init=- t_exit=- workload=0 poweroff=0 log err=""
    shift
    log=$LOGS/$name.log
    : >"$log"
    echo "linux-boot.sh: $name: $*" >&2
    usec t0
    while IFS= read -r line; do
        usec now
        line=${line%$'\r'}
        case $line in
            *__OX86_BENCH_EXIT=*)
                rc=${line##*__OX86_BENCH_EXIT=}
                t_exit=$((now - t0))
                continue ;;
        esac
        printf '%s\n' "$line" >>"$log"
        case $line in
            *"OX86-MARKER: init started"*) [ "$t_init" != - ] || t_init=$((now - t0)) ;;
            *"$WORKLOAD_LINE"*) workload=1 ;;
            *"OX86-MARKER: poweroff failed"*) ;;
            *"OX86-MARKER: poweroff"*) poweroff=1 ;;
        esac
    done < <(set +e; timeout "$TIMEOUT" "$@" </dev/null 2>&1; printf '\n__OX86_BENCH_EXIT=%d\n' $?)

    if [ "$rc" = - ]; then
        err="its output ended without an exit status (was the benchmark interrupted?)"
    elif [ "$rc" = 124 ]; then
        err="timed out after ${TIMEOUT}s (OX86_BENCH_TIMEOUT)"
    elif [ "$rc" != 0 ]; then
        err="exited with status $rc"
    elif [ "$t_init" = - ]; then
        err="exited without printing 'OX86-MARKER: init started'"
    elif [ $workload = 0 ]; then
        err="the guest did not print '$WORKLOAD_LINE' (wrong result, or it never got there)"
    elif [ $poweroff = 0 ]; then
        err="exited without printing 'OX86-MARKER: poweroff'"
    fi
    if [ -n "$err" ]; then
        {
            echo "linux-boot.sh: $name FAILED: $err; last lines of $log:"
            tail -n 25 "$log" | sed 's/^/    /'
        } >&2
    fi
    printf -v "${name}_init" '%s' "$(fmt_s "$t_init")"
    printf -v "${name}_exit" '%s' "$(fmt_s "$t_exit")"
    printf -v "${name}_rc" '%s' "$rc"
    printf -v "${name}_err" '%s' "$err"
}

# fmt_s MICROSECONDS -> seconds with 2 decimals ("-" stays "-")
fmt_s() {
    [ "$1" != - ] || { echo -; return; }
    local cs=$((($1 + 5000) / 10000))
    printf '%d.%02d s' $((cs / 100)) $((cs % 100))
}

# ratio A B (seconds as printed by fmt_s) -> "A/B" rounded to 2 decimals, or "-"
ratio() {
    case "$1$2" in *-*) echo -; return ;; esac
    local a=${1% s} b=${2% s}
    a=${a/./} b=${b/./}
    a=$((10#$a)); b=$((10#$b))
    [ "$b" -gt 0 ] || { echo -; return; }
    local r=$(((a * 100 + b / 2) / b))   # ratio * 100
    printf '%d.%02dx' $((r / 100)) $((r % 100))
}

# --- the runs -------------------------------------------------------------------------

run_guest qemu "$QEMU" -accel tcg -m "$MEM" -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND"

# shellcheck disable=SC2086  # OX86_ARGS is a list of words
run_guest ox86 "$OX86" run --kernel "$KERNEL" --initrd "$INITRD" --append "$APPEND" \
    -m "$MEM" --serial stdio --no-reboot ${OX86_ARGS:-}

# --- the table --------------------------------------------------------------------------

echo
echo "Linux boot: $(cat "$GUEST/kernel-version"), test initramfs, -m $MEM, append \"$APPEND\""
printf '%-14s %18s %12s   %s\n' "" "to init started" "to exit" "status"
st() { if [ -z "$1" ]; then echo ok; else echo FAILED; fi; }
printf '%-14s %18s %12s   %s\n' "qemu (tcg)" "$qemu_init" "$qemu_exit" "$(st "$qemu_err")"
printf '%-14s %18s %12s   %s\n' "ox86" "$ox86_init" "$ox86_exit" "$(st "$ox86_err")"
if [ -z "$qemu_err$ox86_err" ]; then
    printf '%-14s %18s %12s\n' "ox86 / qemu" "$(ratio "$ox86_init" "$qemu_init")" "$(ratio "$ox86_exit" "$qemu_exit")"
fi
echo "serial logs: $LOGS/qemu.log $LOGS/ox86.log"

status=0
if [ -n "$qemu_err" ]; then
    echo "linux-boot.sh: the QEMU run failed: $qemu_err" >&2
    status=1
fi
if [ -n "$ox86_err" ]; then
    echo "linux-boot.sh: the ox86 run failed: $ox86_err" >&2
    status=1
fi
exit $status
