#!/usr/bin/env bash
# Fetch a real Linux guest for ox86 from Debian's archive, with no hand steps:
# the Debian 12 i386 "686" kernel and two initramfs images built from
# busybox-static.
#
#   scripts/fetch-linux.sh
#
# Output, in a cache directory outside the repository (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/ox86/linux, or $OX86_GUEST_DIR):
#   vmlinuz                  the bzImage (linux-image-6.1.0-N-686-unsigned)
#   initramfs-test.cpio.gz   prints "OX86-MARKER: init started", runs uname -a,
#                            a CPU workload (busybox awk, x87: the sum of i*i
#                            for i = 1..30000; md5sum of `seq 1 50000`) whose
#                            line must read exactly
#                            "OX86-MARKER: workload sum=9000450005000 md5=c1d4ba52c72ac7bcc71ff2d6c083e684",
#                            cat /proc/interrupts, "OX86-MARKER: poweroff",
#                            then poweroff -f (needs ACPI S5 in the machine;
#                            without it the kernel prints "reboot: System
#                            halted" and halts)
#   initramfs-shell.cpio.gz  prints "OX86-MARKER: shell ready" once an
#                            interactive sh owns the serial console: type
#                            'echo $((6*7))' and get 42; poweroff -f when the
#                            shell exits. Send input only after the marker:
#                            bytes that arrive earlier are lost (opening the
#                            serial port clears the UART FIFO)
#   config                   the kernel's .config
#   kernel-version           "PACKAGE VERSION" of the kernel
# Kernel command line used with them: "console=ttyS0 panic=-1".
#
# Idempotent: when the files are there (and the initramfs contents are the
# ones this script makes) nothing is downloaded; the last line printed (on
# stdout) names the files either way. The kernel is downloaded once and kept;
# delete the directory to get a newer one. Works as root or as any user (dpkg's
# architectures and the system's apt state are left alone: apt-get runs on
# lists and a cache of its own in the output directory).
#
# Environment:
#   OX86_GUEST_DIR   output directory (see above)
#   OX86_KERNEL_PKG  kernel package to use instead of the newest
#                    linux-image-6.1.0-*-686-unsigned
#
# Needs: apt-get, dpkg-deb, gzip, cpio (scripts/deps.sh installs it; without
# it busybox's own cpio is used, which needs a host that runs i386 binaries).
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -Eeuo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    "") ;;
    *) echo "fetch-linux.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

# In a subshell (a command substitution), die exits with REPORTED, so that the
# shell around it exits without a second message.
REPORTED=213
die() {
    echo "fetch-linux.sh: ERROR: $*" >&2
    [ "$BASHPID" != $$ ] || exit 1
    exit $REPORTED
}
say() {
    echo "fetch-linux.sh: $*" >&2
}
on_err() {
    local rc=$1 line=$2 cmd=$3
    if [ "$rc" = $REPORTED ]; then
        [ "$BASHPID" != $$ ] || exit 1
        exit $REPORTED
    fi
    die "command failed (line $line, exit $rc): $cmd"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

[ -n "${OX86_GUEST_DIR:-}" ] || [ -n "${XDG_CACHE_HOME:-}" ] || [ -n "${HOME:-}" ] \
    || die "set OX86_GUEST_DIR (HOME and XDG_CACHE_HOME are both unset)"
DIR=${OX86_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ox86/linux}

# --- what goes in the initramfs images -----------------------------------------
# Editing anything here changes STAMP, and the next run rebuilds both images
# (the cached kernel is kept).

# shellcheck disable=SC2016  # $... in these are for the guest's shell
# Shared start of both /init scripts: busybox applets, /proc, /sys, /dev.
INIT_COMMON='#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root TERM=vt100
mount -t proc proc /proc
mount -t sysfs sysfs /sys
if ! mount -t devtmpfs devtmpfs /dev 2>/dev/null; then
    echo "OX86-MARKER: no devtmpfs, making /dev nodes"
    [ -e /dev/console ] || mknod /dev/console c 5 1
    [ -e /dev/null ] || mknod /dev/null c 1 3
    [ -e /dev/tty ] || mknod /dev/tty c 5 0
    [ -e /dev/ttyS0 ] || mknod /dev/ttyS0 c 4 64
fi
'

# Ends with a poweroff; if the poweroff system call itself fails, init exits,
# the kernel panics ("Attempted to kill init") and panic=-1 reboots it, which
# ends QEMU (-no-reboot) and ox86 (--no-reboot) after a visible failure line.
# (A kernel without any power-off method halts instead: "reboot: System halted".)
INIT_TEST="$INIT_COMMON"'echo "OX86-MARKER: init started"
uname -a
sum=$(awk "BEGIN { s = 0; for (i = 1; i <= 30000; i++) s += i * i; print s }")
md5=$(seq 1 50000 | md5sum)
echo "OX86-MARKER: workload sum=$sum md5=${md5%% *}"
cat /proc/interrupts
echo "OX86-MARKER: poweroff"
poweroff -f
echo "OX86-MARKER: poweroff failed"
exit 1
'

# cttyhack opens the console device (ttyS0) as a controlling terminal; the
# marker is printed from inside it, so input typed after it is not lost when the
# serial port is opened (opening it clears the UART FIFO).
INIT_SHELL="$INIT_COMMON"'cd /root
setsid cttyhack sh -c "echo \"OX86-MARKER: shell ready\"; exec sh -i"
echo "OX86-MARKER: poweroff"
poweroff -f
echo "OX86-MARKER: poweroff failed"
exit 1
'

STAMP=$(printf 'ox86-initramfs-v1\n%s\n%s\n' "$INIT_TEST" "$INIT_SHELL" | sha256sum | cut -d' ' -f1)

# --- done already? ---------------------------------------------------------------

report() {
    echo "linux guest ($(cat "$DIR/kernel-version")): $DIR/vmlinuz $DIR/initramfs-test.cpio.gz $DIR/initramfs-shell.cpio.gz"
}

complete() {
    [ -s "$DIR/vmlinuz" ] && [ -s "$DIR/kernel-version" ] \
        && [ -s "$DIR/initramfs-test.cpio.gz" ] && [ -s "$DIR/initramfs-shell.cpio.gz" ] \
        && [ "$(cat "$DIR/initramfs.stamp" 2>/dev/null)" = "$STAMP" ]
}

if complete; then
    report
    exit 0
fi

mkdir -p "$DIR" || die "cannot create $DIR"
[ -w "$DIR" ] || die "$DIR is not writable"
# One run at a time per directory; a second one waits, then finds the work done.
exec 9>"$DIR/.lock"
flock 9 || die "cannot lock $DIR/.lock"
if complete; then
    report
    exit 0
fi

for cmd in apt-get apt-cache dpkg-deb gzip sha256sum; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found: this script expects Debian 12 (or a derivative)"
done

STAGE=$(mktemp -d "$DIR/.stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# --- apt on private state: i386 package lists, no dpkg status --------------------

APT_DIR=$DIR/apt
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
# Read after the system's configuration (whose sources, proxies and transports
# we want): no hooks that act on the system's apt state (they would run as
# this user, on /var/cache/apt, and refresh appstream), no AppStream metadata.
cat >"$APT_DIR/apt.conf" <<'EOF'
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear Acquire::IndexTargets::deb::DEP-11;
#clear Acquire::IndexTargets::deb::DEP-11-icons-small;
#clear Acquire::IndexTargets::deb::DEP-11-icons;
#clear Acquire::IndexTargets::deb::DEP-11-icons-hidpi;
EOF
O=(-q -c "$APT_DIR/apt.conf" "-oAPT::Architecture=i386" "-oAPT::Architectures=i386"
   "-oDir::State::Lists=$APT_DIR/lists" "-oDir::Cache=$APT_DIR/cache"
   "-oDir::State::Status=/dev/null")
# As root apt downloads as user _apt, who cannot write into a directory under
# /root; downloading as root is what it falls back to anyway (with a warning).
[ "$(id -u)" -ne 0 ] || O+=("-oAPT::Sandbox::User=root")

LISTS_UPDATED=0
update_lists() {
    [ $LISTS_UPDATED = 0 ] || return 0
    LISTS_UPDATED=1
    say "updating i386 package lists in $APT_DIR"
    if ! apt-get "${O[@]}" update >"$STAGE/update.log" 2>&1; then
        grep -E '^(E|W):' "$STAGE/update.log" >&2 || cat "$STAGE/update.log" >&2
        say "WARNING: apt-get update reported errors (above); going on with the lists it did get"
    fi
}

# apt-get download writes into the current directory; a .deb kept from an
# earlier run of the same version is not downloaded again. Call update_lists
# first (download runs in a subshell, where it would not be remembered).
download() {
    local pkg=$1 ver file
    ver=$(apt-cache "${O[@]}" show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1) || true
    [ -n "$ver" ] || die "package $pkg not found in the i386 lists"
    file=$(ls "$APT_DIR/debs/${pkg}_"*"${ver#*:}_i386.deb" 2>/dev/null | head -n1 || true)
    if [ -z "$file" ]; then
        say "downloading $pkg $ver"
        rm -f "$APT_DIR/debs/${pkg}_"*.deb
        (cd "$APT_DIR/debs" && apt-get "${O[@]}" download "$pkg=$ver" >"$STAGE/download.log" 2>&1) \
            || { cat "$STAGE/download.log" >&2; die "apt-get download $pkg=$ver failed"; }
        file=$(ls "$APT_DIR/debs/${pkg}_"*"_i386.deb" 2>/dev/null | head -n1 || true)
        [ -n "$file" ] || die "apt-get download $pkg reported success but left no .deb in $APT_DIR/debs"
    fi
    echo "$file"
}

# --- the kernel ----------------------------------------------------------------

if [ -s "$DIR/vmlinuz" ] && [ -s "$DIR/kernel-version" ]; then
    say "keeping the kernel already there: $(cat "$DIR/kernel-version")"
else
    update_lists
    KPKG=${OX86_KERNEL_PKG:-}
    if [ -z "$KPKG" ]; then
        KPKG=$(apt-cache "${O[@]}" pkgnames linux-image-6.1.0- \
            | grep -E '^linux-image-6\.1\.0-[0-9]+-686-unsigned$' | sort -V | tail -n1) || true
        [ -n "$KPKG" ] || die "no linux-image-6.1.0-*-686-unsigned package in the i386 lists (apt sources: /etc/apt/sources.list{,.d}; bookworm main must be there)"
    fi
    kdeb=$(download "$KPKG")
    kver=$(dpkg-deb -f "$kdeb" Version)
    mkdir "$STAGE/k"
    dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$STAGE/k" --wildcards './boot/vmlinuz-*' './boot/config-*' \
        || die "could not extract /boot/vmlinuz-* from $kdeb"
    set -- "$STAGE"/k/boot/vmlinuz-*
    [ $# -eq 1 ] && [ -s "$1" ] || die "expected one /boot/vmlinuz-* in $kdeb, found: $*"
    # A bzImage has "HdrS" at offset 0x202 (the real-mode setup header).
    [ "$(dd if="$1" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || die "$1 (from $kdeb) is not a bzImage"
    mv -f "$STAGE"/k/boot/config-* "$DIR/config"
    mv -f "$1" "$DIR/vmlinuz"
    echo "$KPKG $kver" >"$DIR/kernel-version"
    rm -f "$kdeb"   # 50 MB, almost all modules; vmlinuz is what we keep
    say "kernel: $KPKG $kver"
fi

# --- the initramfs images ---------------------------------------------------------

# A busybox-static .deb from an earlier run is used as it is (no network needed
# to rebuild the images); delete $APT_DIR/debs to get a newer one.
bbdeb=$(ls "$APT_DIR"/debs/busybox-static_*_i386.deb 2>/dev/null | head -n1 || true)
if [ -z "$bbdeb" ]; then
    update_lists
    bbdeb=$(download busybox-static)
fi
dpkg-deb -x "$bbdeb" "$STAGE/bb" || die "could not extract $bbdeb"
BB=$STAGE/bb/bin/busybox
[ -s "$BB" ] || die "$bbdeb has no /bin/busybox"
[ "$(od -An -tx1 -N5 "$BB" | tr -d ' \n')" = 7f454c4601 ] || die "$BB is not a 32-bit ELF binary"

if command -v cpio >/dev/null; then
    CPIO=(cpio --quiet -o -H newc -R 0:0 --reproducible)
elif "$BB" true 2>/dev/null; then
    say "no cpio on this host (scripts/deps.sh installs it): using busybox's"
    CPIO=("$BB" cpio -o -H newc -R 0:0)
else
    die "cpio is not installed (apt-get install cpio, or run scripts/deps.sh)"
fi

# mkimage NAME INIT-SCRIPT
mkimage() {
    local root=$STAGE/root-$1 d
    mkdir -p "$root"
    for d in bin sbin usr/bin usr/sbin dev proc sys tmp root etc; do
        mkdir -p "$root/$d"
    done
    chmod 1777 "$root/tmp"
    chmod 700 "$root/root"
    install -m 755 "$BB" "$root/bin/busybox"
    printf '%s' "$2" >"$root/init"
    chmod 755 "$root/init"
    find "$root" -exec touch -h -d @0 {} +
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "${CPIO[@]}") >"$STAGE/$1.cpio" \
        || die "cpio failed building the $1 image"
    gzip -9n <"$STAGE/$1.cpio" >"$STAGE/initramfs-$1.cpio.gz"
}
mkimage test "$INIT_TEST"
mkimage shell "$INIT_SHELL"

mv -f "$STAGE/initramfs-test.cpio.gz" "$STAGE/initramfs-shell.cpio.gz" "$DIR/"
echo "$STAMP" >"$DIR/initramfs.stamp"
complete || die "internal error: files missing in $DIR after building them"
report
