#!/usr/bin/env bash
# The ox86 test command: installs what the tests need, then runs every check.
#
#   scripts/test.sh           everything (CI runs this)
#   scripts/test.sh --quick   skip the cross-architecture part (aarch64 under
#                             qemu-aarch64), for local iteration
#
# Steps, each with a header line; a failing step does not stop the later ones:
#   1. scripts/deps.sh (apt packages, rustup target and components), then
#      scripts/fetch-linux.sh (the Debian i386 kernel + busybox initramfs the
#      Linux boot tests run; cached outside the tree), then
#      scripts/make-boot-disk.sh (a hard-disk image and an ISO of that guest,
#      for the SeaBIOS boot tests)
#   2. cargo fmt --all -- --check
#   3. cargo clippy --workspace --all-targets --release -- -D warnings
#   4. cargo test --workspace --release (unit tests, test ROMs, the Linux boot
#      and serial-shell tests, and the 286 SingleStepTests when the conformance
#      data is there)
#   5. test-roms/build.sh --check (committed images match their sources)
#   6. aarch64: cargo test --release -p ox86-core -p ox86-jit -p ox86-machine,
#      cross-built with aarch64-linux-gnu-gcc and run under qemu-aarch64: the JIT
#      differential fuzzer, every test ROM and the 286 SingleStepTests with the
#      AArch64 JIT translating every block, and the rest
#   7. aarch64: the Debian Linux guest boots to its power-off under the JIT on
#      both hosts, with the same serial output and instruction count
#   8. aarch64: a snapshot saved by the x86-64 build resumes under the aarch64
#      build (and the reverse) exactly as one uninterrupted run
#   9. aarch64: `ox86 sst` on the conformance data, natively and under
#      qemu-aarch64, interpreter and JIT; every run must report the same
#      "N passed, M failed"
# The last line printed is "N passed, M failed", counting steps (skipped steps
# are in neither count); the exit status is 0 only when no step failed.
#
# Environment:
#   OX86_SST_DIR   conformance data (default ../shared/conformance/sst-80286,
#                  relative to the project root); absent -> steps skipped
#   CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER / _RUNNER  override the
#                  cross linker / runner (defaults below)
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -euo pipefail

quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

# A relative OX86_SST_DIR means relative to where the caller stands; make it absolute
# before moving to the project root (cargo runs tests from each crate's directory).
if [ -n "${OX86_SST_DIR:-}" ]; then
    case "$OX86_SST_DIR" in
        /*) ;;
        *) OX86_SST_DIR="$PWD/$OX86_SST_DIR" ;;
    esac
    export OX86_SST_DIR
fi

cd "$(dirname "$0")/.."
SST_DIR=${OX86_SST_DIR:-../shared/conformance/sst-80286}

if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

export CARGO_TERM_COLOR=never
CROSS_TARGET=aarch64-unknown-linux-gnu
CROSS_SYSROOT=/usr/aarch64-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER:-qemu-aarch64 -L $CROSS_SYSROOT}
# For any build script that compiles C for the target (cc crate).
export CC_aarch64_unknown_linux_gnu=${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
skipped=0
failed_steps=()
skipped_steps=()

# step NAME COMMAND...: run one step in a subshell with errexit in force (a plain
# `if fn` would switch errexit off inside fn), and record the outcome.
step() {
    local name=$1 rc t0
    shift
    echo
    echo "==> step: $name"
    t0=$SECONDS
    set +e
    ( set -e; "$@" )
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "<== ok: $name ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        failed_steps+=("$name")
        echo "<== FAILED: $name (exit status $rc, $((SECONDS - t0)) s)"
    fi
}

# skip NAME REASON
skip() {
    echo
    echo "==> step: $1"
    echo "skipped: $2"
    skipped=$((skipped + 1))
    skipped_steps+=("$1")
}

sst_missing_reason() {
    echo "conformance data not found at $SST_DIR (set OX86_SST_DIR, or put the SingleStepTests/80286 v1_real_mode files there)"
}

# The cargo target directory (honours CARGO_TARGET_DIR and cargo config).
target_dir() {
    local dir
    dir=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [ -n "$dir" ] || { echo "test.sh: could not find cargo's target directory" >&2; return 1; }
    echo "$dir"
}

# Extra arguments of `ox86 sst` for run_sst.
sst_args=()

# run_sst LABEL COMMAND...: run `COMMAND sst SST_ARGS... SST_DIR`, show its output, and set
# sst_line to its closing "N passed, M failed" line. Exit status 0 (all pass) and
# 1 (some tests fail) are accepted when that line is there; anything else fails.
run_sst() {
    local label=$1 log="$tmp/sst-$1.log" rc=0 last
    shift
    echo "--- $label: $* sst ${sst_args[*]} $SST_DIR"
    "$@" sst "${sst_args[@]}" "$SST_DIR" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    last=$(tail -n 1 "$log")
    if [ "$rc" -gt 1 ]; then
        echo "test.sh: $label: ox86 sst exited with status $rc" >&2
        return 1
    fi
    if ! [[ "$last" =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
        echo "test.sh: $label: ox86 sst (exit status $rc) did not end with an 'N passed, M failed' line" >&2
        return 1
    fi
    sst_line=$last
}

step_deps() {
    scripts/deps.sh
    scripts/fetch-linux.sh
    scripts/make-boot-disk.sh
}

step_fmt() {
    cargo fmt --all -- --check --color never
}

step_clippy() {
    cargo clippy --workspace --all-targets --release -- -D warnings
}

step_test() {
    if [ ! -d "$SST_DIR" ]; then
        echo "note: $(sst_missing_reason); the SingleStepTests will report themselves skipped"
    fi
    cargo test --workspace --release --no-fail-fast
}

step_roms() {
    test-roms/build.sh --check
}

step_cross_test() {
    cargo test --release --no-fail-fast --target "$CROSS_TARGET" -p ox86-core -p ox86-jit -p ox86-machine
}

# linux_jit_run OX86 OUT: boot the Debian test guest under OX86's JIT until it powers
# off; serial output in OUT.serial, --stats in OUT.stats.
linux_jit_run() {
    local ox86=$1 out=$2 dir=${OX86_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ox86/linux}
    $ox86 run --kernel "$dir/vmlinuz" --initrd "$dir/initramfs-test.cpio.gz" \
        --append "console=ttyS0 panic=-1" -m 256M --no-reboot --rtc-base 2026-01-01T00:00:00 \
        --engine jit --serial "file:$out.serial" --stats >"$out.out" 2>"$out.stats"
}

# The same guest and input give the same run on both hosts: the JIT's code differs,
# the guest must not see it.
step_cross_linux() {
    local tdir d="$tmp/xlinux" h
    tdir=$(target_dir)
    cargo build --release -p ox86
    cargo build --release --target "$CROSS_TARGET" -p ox86
    mkdir -p "$d"
    linux_jit_run "$tdir/release/ox86" "$d/native"
    linux_jit_run "qemu-aarch64 -L $CROSS_SYSROOT $tdir/$CROSS_TARGET/release/ox86" "$d/aarch64"
    for h in native aarch64; do
        grep -q "OX86-MARKER: workload sum=9000450005000 md5=c1d4ba52c72ac7bcc71ff2d6c083e684" "$d/$h.serial" \
            || { echo "test.sh: $h: no correct workload line" >&2; tail -n 20 "$d/$h.serial" >&2; return 1; }
        grep -q "OX86-MARKER: poweroff" "$d/$h.serial" \
            || { echo "test.sh: $h: the guest did not power off" >&2; return 1; }
        grep -q "jit blocks translated: [1-9]" "$d/$h.stats" \
            || { echo "test.sh: $h: the JIT translated nothing" >&2; cat "$d/$h.stats" >&2; return 1; }
        echo "$h: $(grep 'instructions retired' "$d/$h.stats"), $(grep 'jit blocks translated' "$d/$h.stats")"
    done
    cmp "$d/native.serial" "$d/aarch64.serial"
    [ "$(grep 'instructions retired' "$d/native.stats")" = "$(grep 'instructions retired' "$d/aarch64.stats")" ] \
        || { echo "test.sh: the hosts retired different instruction counts" >&2; return 1; }
    echo "both hosts: the same serial output ($(wc -l <"$d/native.serial") lines) and instruction count"
}

step_cross_sst() {
    local tdir native cross cross_jit
    tdir=$(target_dir)
    cargo build --release -p ox86
    cargo build --release --target "$CROSS_TARGET" -p ox86
    run_sst native "$tdir/release/ox86"
    native=$sst_line
    run_sst aarch64 qemu-aarch64 -L "$CROSS_SYSROOT" "$tdir/$CROSS_TARGET/release/ox86"
    cross=$sst_line
    sst_args=(--engine jit)
    run_sst aarch64-jit qemu-aarch64 -L "$CROSS_SYSROOT" "$tdir/$CROSS_TARGET/release/ox86"
    cross_jit=$sst_line
    sst_args=()
    echo "native x86-64:                $native"
    echo "aarch64 (qemu-aarch64):       $cross"
    echo "aarch64 JIT (qemu-aarch64):   $cross_jit"
    if [ "$native" != "$cross" ] || [ "$native" != "$cross_jit" ]; then
        echo "test.sh: the hosts or engines disagree on the conformance results" >&2
        return 1
    fi
    echo "the hosts and engines agree"
}

# cross_snapshot SAVER RESTORER: a SeaBIOS machine run N instructions and saved by
# SAVER's ox86, restored and run M more by RESTORER's, must end exactly as one run of
# N + M by SAVER's: the same registers and the same serial and console output.
cross_snapshot() {
    local saver=$1 restorer=$2 d="$tmp/xsnap" n=1000000 m=3000000
    rm -rf "$d"
    mkdir -p "$d"
    $saver run -m 32M --bios /usr/share/seabios/bios.bin --max-insns $((n + m)) --serial "file:$d/one.serial" --dump-state \
        >"$d/one.out" 2>"$d/one.state"
    $saver run -m 32M --bios /usr/share/seabios/bios.bin --max-insns $n --serial "file:$d/a.serial" --save-on-exit "$d/vm" \
        >"$d/a.out" 2>/dev/null
    $restorer restore "$d/vm" --max-insns $m --serial "file:$d/b.serial" --dump-state \
        >"$d/b.out" 2>"$d/b.state"
    cat "$d/a.serial" "$d/b.serial" >"$d/two.serial"
    cat "$d/a.out" "$d/b.out" >"$d/two.out"
    # Everything --dump-state prints but ox86's own remarks.
    grep -v '^ox86:' "$d/one.state" >"$d/one.regs" || true
    grep -v '^ox86:' "$d/b.state" >"$d/two.regs" || true
    grep -q EIP= "$d/one.regs" || { echo "test.sh: no registers in --dump-state output" >&2; return 1; }
    [ -s "$d/one.serial" ] || { echo "test.sh: the guest wrote nothing to its serial port" >&2; return 1; }
    cmp "$d/one.regs" "$d/two.regs"
    cmp "$d/one.serial" "$d/two.serial"
    cmp "$d/one.out" "$d/two.out"
    echo "saved after $n, resumed for $m: same registers and output as one run of $((n + m))"
}

step_cross_snapshot() {
    local tdir native cross
    tdir=$(target_dir)
    cargo build --release -p ox86
    cargo build --release --target "$CROSS_TARGET" -p ox86
    native="$tdir/release/ox86"
    cross="qemu-aarch64 -L $CROSS_SYSROOT $tdir/$CROSS_TARGET/release/ox86"
    echo "--- saved on x86-64, restored on aarch64"
    cross_snapshot "$native" "$cross"
    echo "--- saved on aarch64, restored on x86-64"
    cross_snapshot "$cross" "$native"
}

step "deps (scripts/deps.sh, scripts/fetch-linux.sh, scripts/make-boot-disk.sh)" step_deps
step "cargo fmt --check" step_fmt
step "cargo clippy (release, -D warnings)" step_clippy
step "cargo test --workspace --release" step_test
step "test-roms/build.sh --check" step_roms

if [ "$quick" -eq 1 ]; then
    skip "aarch64: cargo test under qemu-aarch64" "--quick"
    skip "aarch64: Linux under the JIT, the same on both hosts" "--quick"
    skip "aarch64: snapshots move between x86-64 and aarch64" "--quick"
    skip "aarch64: ox86 sst agrees with native" "--quick"
else
    step "aarch64: cargo test under qemu-aarch64" step_cross_test
    step "aarch64: Linux under the JIT, the same on both hosts" step_cross_linux
    step "aarch64: snapshots move between x86-64 and aarch64" step_cross_snapshot
    if [ -d "$SST_DIR" ]; then
        step "aarch64: ox86 sst agrees with native" step_cross_sst
    else
        skip "aarch64: ox86 sst agrees with native" "$(sst_missing_reason)"
    fi
fi

echo
echo "==> summary"
for s in "${skipped_steps[@]+"${skipped_steps[@]}"}"; do
    echo "skipped: $s"
done
for s in "${failed_steps[@]+"${failed_steps[@]}"}"; do
    echo "FAILED:  $s"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
