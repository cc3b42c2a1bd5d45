#!/usr/bin/env bash
# Install everything the ox86 tests need, on Debian 12 with Rust installed through
# rustup. Idempotent: only what is missing is installed, one line is printed per
# thing installed, and a machine that already has everything is left untouched.
#
#   apt:    nasm qemu-system-x86 qemu-user gcc-aarch64-linux-gnu
#           libc6-dev-arm64-cross gdb acpica-tools (iasl/acpiexec check ox86's
#           ACPI tables) seabios (the firmware that boots disk images)
#           syslinux syslinux-common isolinux mtools dosfstools xorriso
#           (scripts/make-boot-disk.sh: bootable disk and ISO images)
#           xvfb x11-apps xdotool (frontend-cli/tests/window.rs: a virtual X
#           server for --display window, xwd to read the window back, xdotool
#           to type into it)
#   rustup: target aarch64-unknown-linux-gnu, components clippy and rustfmt
#
# Run as root, or as a user who may use sudo. Exits non-zero with a message
# saying what could not be installed.
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -euo pipefail

cd "$(dirname "$0")/.."   # so rustup sees the project's toolchain, if it names one

APT_PACKAGES=(nasm qemu-system-x86 qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross gdb acpica-tools cpio seabios
              syslinux syslinux-common isolinux mtools dosfstools xorriso xvfb x11-apps xdotool)
RUST_TARGET=aarch64-unknown-linux-gnu
RUST_COMPONENTS=(clippy rustfmt)

die() {
    echo "deps.sh: ERROR: $*" >&2
    exit 1
}

# --- apt packages -----------------------------------------------------------

installed() {
    local out
    out=$(dpkg -s "$1" 2>/dev/null) || return 1
    grep -qx 'Status: install ok installed' <<<"$out"
}

command -v dpkg >/dev/null || die "dpkg not found: this script expects Debian 12 (or a derivative)"

missing=()
for p in "${APT_PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null; then
        as_root=(sudo)
    else
        die "missing packages (${missing[*]}) and not root, and sudo is not available: run as root: apt-get install ${missing[*]}"
    fi
    for p in "${missing[@]}"; do
        echo "deps.sh: installing $p (apt)"
    done
    apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
    "${apt[@]}" update || die "apt-get update failed (network? sources.list?); needed to install: ${missing[*]}"
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]}"
    for p in "${missing[@]}"; do
        installed "$p" || die "package $p is still not installed after apt-get install"
    done
fi

# --- Rust: rustup target and components ---------------------------------------

if ! command -v rustup >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
command -v rustup >/dev/null \
    || die "rustup not found (not on PATH, no ~/.cargo/env): install Rust with rustup first, see https://rustup.rs"

targets=$(rustup target list --installed) || die "'rustup target list --installed' failed"
if ! grep -qx "$RUST_TARGET" <<<"$targets"; then
    echo "deps.sh: installing Rust target $RUST_TARGET (rustup)"
    rustup target add "$RUST_TARGET" || die "rustup target add $RUST_TARGET failed"
fi

components=$(rustup component list --installed) || die "'rustup component list --installed' failed"
for c in "${RUST_COMPONENTS[@]}"; do
    # Installed components are listed as NAME-HOST_TRIPLE (or NAME for some).
    if ! grep -Eq "^$c(-|$)" <<<"$components"; then
        echo "deps.sh: installing Rust component $c (rustup)"
        rustup component add "$c" || die "rustup component add $c failed"
    fi
done

# --- the commands the tests run must now exist -----------------------------------

for cmd in nasm qemu-system-i386 qemu-aarch64 aarch64-linux-gnu-gcc gdb iasl acpiexec cargo \
    syslinux mcopy mkfs.fat xorriso; do
    command -v "$cmd" >/dev/null || die "'$cmd' is not on PATH although its package is installed"
done
cargo clippy --version >/dev/null 2>&1 || die "'cargo clippy' does not run"
cargo fmt --version >/dev/null 2>&1 || die "'cargo fmt' does not run"
[ -d /usr/aarch64-linux-gnu/lib ] || die "/usr/aarch64-linux-gnu/lib is missing (libc6-dev-arm64-cross / libc6-arm64-cross)"
echo "deps.sh: all test dependencies are present"
