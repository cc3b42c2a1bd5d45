#!/usr/bin/env bash
# Build bootable images of the Linux test guest for ox86's firmware (SeaBIOS)
# tests, from the files scripts/fetch-linux.sh puts in its cache directory:
#
#   scripts/make-boot-disk.sh
#
# Output, next to the kernel (default ${XDG_CACHE_HOME:-$HOME/.cache}/ox86/linux,
# or $OX86_GUEST_DIR):
#   disk.img   a 32 MiB raw hard-disk image: an MBR (syslinux's mbr.bin) with one
#              active FAT16 partition from sector 2048, which holds syslinux
#              (ldlinux.sys, ldlinux.c32), syslinux.cfg, vmlinuz and initrd.gz
#   boot.iso   an El Torito CD-ROM image (no-emulation isolinux), with the same
#              kernel, initramfs and configuration under /isolinux
# Both boot, with no prompt, the Debian kernel with initramfs-test.cpio.gz and
# the command line "console=ttyS0 panic=-1"; the guest prints
# "OX86-MARKER: init started" on COM1 and powers off (ACPI S5).
#
# Runs fetch-linux.sh first when its files are not there. No root, no loop
# devices, no mounts: the partition table is written with printf, the file
# system with mkfs.fat --offset and mtools, the boot loader with
# "syslinux --offset" (the mtools installer), the ISO with xorriso.
# Idempotent: when the images exist and were made from the same kernel,
# initramfs and configuration (disk.stamp), nothing is done; the last line
# printed names the images either way.
#
# Needs (scripts/deps.sh installs them): syslinux, syslinux-common, isolinux,
# mtools, dosfstools, xorriso.
#
# SPDX-License-Identifier: MIT OR Apache-2.0
set -Eeuo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    "") ;;
    *) echo "make-boot-disk.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

die() {
    echo "make-boot-disk.sh: ERROR: $*" >&2
    exit 1
}
say() {
    echo "make-boot-disk.sh: $*" >&2
}
trap 'die "command failed (line $LINENO, exit $?): $BASH_COMMAND"' ERR

HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "${OX86_GUEST_DIR:-}" ] || [ -n "${XDG_CACHE_HOME:-}" ] || [ -n "${HOME:-}" ] \
    || die "set OX86_GUEST_DIR (HOME and XDG_CACHE_HOME are both unset)"
DIR=${OX86_GUEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ox86/linux}

KERNEL=$DIR/vmlinuz
INITRD=$DIR/initramfs-test.cpio.gz
if ! [ -s "$KERNEL" ] || ! [ -s "$INITRD" ]; then
    say "no kernel/initramfs in $DIR yet: running scripts/fetch-linux.sh"
    "$HERE/fetch-linux.sh" >&2 || die "scripts/fetch-linux.sh failed"
fi
if ! [ -s "$KERNEL" ] || ! [ -s "$INITRD" ]; then
    die "$KERNEL or $INITRD missing after fetch-linux.sh"
fi

# --- what goes in the images ------------------------------------------------------

APPEND="console=ttyS0 panic=-1"
# No SERIAL line: SeaBIOS already mirrors the screen (INT 10h) to COM1.
CFG="DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  APPEND initrd=initrd.gz $APPEND
"
DISK_MB=32
PART_START=2048   # sectors

# Files of the boot loader packages.
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin

STAMP=$( {
    printf 'ox86-boot-disk-v1\n%s\n%s %s\n' "$CFG" "$DISK_MB" "$PART_START"
    sha256sum <"$KERNEL"
    sha256sum <"$INITRD"
} | sha256sum | cut -d' ' -f1)

report() {
    echo "boot images: $DIR/disk.img $DIR/boot.iso"
}
complete() {
    [ -s "$DIR/disk.img" ] && [ -s "$DIR/boot.iso" ] \
        && [ "$(cat "$DIR/disk.stamp" 2>/dev/null)" = "$STAMP" ]
}

if complete; then
    report
    exit 0
fi

# --- tools ---------------------------------------------------------------------------

need() {   # need COMMAND PACKAGE
    command -v "$1" >/dev/null || die "'$1' not found: install package $2 (scripts/deps.sh does)"
}
need syslinux syslinux
need mformat mtools
need mcopy mtools
need mkfs.fat dosfstools
need xorriso xorriso
for f in "$MBR_BIN:syslinux-common" "$LDLINUX_C32:syslinux-common" "$ISOLINUX_BIN:isolinux"; do
    [ -s "${f%%:*}" ] || die "${f%%:*} not found: install package ${f##*:} (scripts/deps.sh does)"
done

mkdir -p "$DIR" || die "cannot create $DIR"
[ -w "$DIR" ] || die "$DIR is not writable"
exec 9>"$DIR/.disk.lock"
flock 9 || die "cannot lock $DIR/.disk.lock"
if complete; then
    report
    exit 0
fi

STAGE=$(mktemp -d "$DIR/.disk-stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0

# --- hard disk: MBR + one FAT16 partition ------------------------------------------------

IMG=$STAGE/disk.img
SECTORS=$((DISK_MB * 2048))
PART_SECTORS=$((SECTORS - PART_START))
truncate -s $((SECTORS * 512)) "$IMG"

# le32 VALUE: four little-endian bytes as printf escapes
le32() {
    printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
        $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}
# chs LBA: the three CHS bytes of a partition entry, for 16 heads x 63 sectors
chs() {
    local c=$(($1 / (16 * 63))) h=$((($1 / 63) % 16)) s=$(($1 % 63 + 1))
    [ $c -le 1023 ] || { c=1023; h=15; s=63; }
    printf '\\x%02x\\x%02x\\x%02x' $h $(((s & 63) | ((c >> 2) & 0xc0))) $((c & 255))
}
# The boot code (440 bytes), a disk signature, one partition entry, 0x55AA.
dd if="$MBR_BIN" of="$IMG" bs=440 count=1 conv=notrunc status=none
# shellcheck disable=SC2059  # the format strings are the escapes built above
{
    printf '\x0d\xb8\x6f\x0d\x00\x00'                           # signature, reserved
    printf "\\x80$(chs $PART_START)\\x0e$(chs $((SECTORS - 1)))" # active, FAT16 LBA
    printf "$(le32 $PART_START)$(le32 $PART_SECTORS)"
    head -c 48 /dev/zero                                         # entries 2-4
    printf '\x55\xaa'
} | dd of="$IMG" bs=1 seek=440 conv=notrunc status=none

mkfs.fat -F 16 -n OX86BOOT -i 0x0d0b8600 -h $PART_START --offset $PART_START "$IMG" $((PART_SECTORS / 2)) \
    >"$STAGE/mkfs.log" 2>&1 || { cat "$STAGE/mkfs.log" >&2; die "mkfs.fat failed"; }
PART="$IMG@@$((PART_START * 512))"
printf '%s' "$CFG" >"$STAGE/syslinux.cfg"
mcopy -i "$PART" "$KERNEL" ::vmlinuz
mcopy -i "$PART" "$INITRD" ::initrd.gz
mcopy -i "$PART" "$STAGE/syslinux.cfg" ::syslinux.cfg
mcopy -i "$PART" "$LDLINUX_C32" ::ldlinux.c32
syslinux --offset $((PART_START * 512)) --install "$IMG" >"$STAGE/syslinux.log" 2>&1 \
    || { cat "$STAGE/syslinux.log" >&2; die "syslinux --install failed"; }
mdir -a -i "$PART" ::ldlinux.sys >/dev/null 2>&1 || die "syslinux left no ldlinux.sys in the partition"

# --- CD-ROM: El Torito, isolinux ---------------------------------------------------------

ISOROOT=$STAGE/iso
mkdir -p "$ISOROOT/isolinux"
cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$ISOROOT/isolinux/"
cp "$KERNEL" "$ISOROOT/isolinux/vmlinuz"
cp "$INITRD" "$ISOROOT/isolinux/initrd.gz"
printf '%s' "$CFG" >"$ISOROOT/isolinux/isolinux.cfg"
find "$ISOROOT" -exec touch -h -d @0 {} +
xorriso -as mkisofs -quiet -R -J -V OX86BOOT \
    -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table \
    -o "$STAGE/boot.iso" "$ISOROOT" >"$STAGE/xorriso.log" 2>&1 \
    || { cat "$STAGE/xorriso.log" >&2; die "xorriso failed"; }

mv -f "$IMG" "$STAGE/boot.iso" "$DIR/"
echo "$STAMP" >"$DIR/disk.stamp"
complete || die "internal error: images missing in $DIR after building them"
report
