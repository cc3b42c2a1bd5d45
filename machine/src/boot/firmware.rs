//! What firmware learns about the machine, laid out the way QEMU's `pc` board gives it to
//! SeaBIOS: fw_cfg items and files, and the CMOS bytes it reads (boot order, CPU count;
//! the memory sizes are the CMOS model's own).

use ox86_devices::fw_cfg;
use ox86_devices::ide::Kind;

use crate::board::Devices;

/// QEMU's -boot default: hard disk, then floppy, then CD-ROM.
pub const DEFAULT_BOOT_ORDER: &str = "cad";

/// COM1, where SeaBIOS mirrors its screen (`etc/sercon-port`).
pub const SERCON_PORT: u16 = 0x3f8;

/// CMOS boot-device codes (QEMU's `set_boot_dev`): 1 floppy, 2 hard disk, 3 CD-ROM,
/// 4 network; None for a letter that names no device.
pub fn boot_device_code(c: char) -> Option<u8> {
    match c {
        'a' | 'b' => Some(1),
        'c' => Some(2),
        'd' => Some(3),
        'n' => Some(4),
        _ => None,
    }
}

/// Is `order` a valid boot order (1 to 3 of a, b, c, d, n)?
pub fn valid_boot_order(order: &str) -> bool {
    (1..=3).contains(&order.len()) && order.chars().all(|c| boot_device_code(c).is_some())
}

/// The `bootorder` fw_cfg file for `order` over the attached IDE `drives` (channel,
/// unit, kind) and floppy drive A: (`floppy`): one OpenFirmware device path per line,
/// as QEMU writes for bootindex (`/pci@i0cf8/ide@1,1/drive@CHANNEL/disk@UNIT`,
/// `/pci@i0cf8/isa@1/fdc@03f0/floppy@0`), NUL-terminated; None when no letter names an
/// attached drive.
pub fn bootorder(order: &str, drives: &[(usize, usize, Kind)], floppy: bool) -> Option<Vec<u8>> {
    let mut s = String::new();
    for c in order.chars() {
        if c == 'a' && floppy {
            s += "/pci@i0cf8/isa@1/fdc@03f0/floppy@0\n";
            continue;
        }
        let want = match c {
            'c' => Kind::Disk,
            'd' => Kind::Cdrom,
            _ => continue,
        };
        // The first drive of that kind, in channel/unit order (hda before hdb).
        let mut of_kind: Vec<_> = drives.iter().filter(|d| d.2 == want).collect();
        of_kind.sort();
        if let Some(&&(ch, unit, _)) = of_kind.first() {
            s += &format!("/pci@i0cf8/ide@1,1/drive@{ch}/disk@{unit}\n");
        }
    }
    (!s.is_empty()).then(|| {
        let mut v = s.into_bytes();
        v.push(0);
        v
    })
}

/// Fill fw_cfg and the CMOS for a machine with `ram` bytes booting devices in `order`
/// (QEMU's -boot letters) among `drives`, with SeaBIOS's screen mirrored on `sercon` if
/// given.
pub fn configure(
    dev: &mut Devices,
    ram: u64,
    order: &str,
    drives: &[(usize, usize, Kind)],
    sercon: Option<u16>,
) {
    let f = &mut dev.fw_cfg;
    f.add_item(fw_cfg::UUID, vec![0; 16]);
    f.add_item(fw_cfg::RAM_SIZE, ram.to_le_bytes().to_vec());
    f.add_u16(fw_cfg::NOGRAPHIC, 0);
    f.add_u16(fw_cfg::NB_CPUS, 1);
    f.add_u16(fw_cfg::MAX_CPUS, 1);
    f.add_u16(fw_cfg::BOOT_MENU, 0);
    // etc/e820: {u64 address, u64 length, u32 type} little-endian; all RAM is below 4 GiB.
    let mut e820 = Vec::new();
    e820.extend_from_slice(&0u64.to_le_bytes());
    e820.extend_from_slice(&ram.to_le_bytes());
    e820.extend_from_slice(&1u32.to_le_bytes());
    f.add_file("etc/e820", e820);
    if let Some(port) = sercon {
        f.add_file("etc/sercon-port", port.to_le_bytes().to_vec());
    }
    let floppies = dev.fdc.drive_count();
    if let Some(b) = bootorder(order, drives, dev.fdc.cmos_types() & 0xf0 != 0) {
        f.add_file("bootorder", b);
    }
    // Boot order in CMOS 0x3D (first device low nibble, second high) and 0x38 (third in
    // the high nibble; bit 0 clear: check the floppy boot signature).
    let codes: Vec<u8> = order.chars().filter_map(boot_device_code).collect();
    let code = |i: usize| codes.get(i).copied().unwrap_or(0);
    dev.cmos.set(0x3d, code(0) | code(1) << 4);
    dev.cmos.set(0x38, code(2) << 4);
    dev.cmos.set(0x5f, 0); // CPUs - 1
                           // Equipment byte as QEMU sets it: FPU, PS/2 mouse port, and bit 0 with bits 6-7
                           // (count - 1) for floppy drives; register 0x10 has their types (A: high nibble).
    let fd_bits = match floppies {
        0 => 0,
        1 => 0x01,
        _ => 0x41,
    };
    dev.cmos.set(0x14, 0x06 | fd_bits);
    dev.cmos.set(0x10, dev.fdc.cmos_types());
    // Hard disk types (0x12): type 47 ("user defined", 0x19/0x1A) for each disk on the
    // primary channel, as QEMU does; SeaBIOS probes the drives itself.
    let hd = |unit| drives.contains(&(0, unit, Kind::Disk));
    let types = if hd(0) { 0xf0 } else { 0 } | if hd(1) { 0x0f } else { 0 };
    dev.cmos.set(0x12, types);
    dev.cmos.set(0x19, if hd(0) { 47 } else { 0 });
    dev.cmos.set(0x1a, if hd(1) { 47 } else { 0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_orders() {
        assert!(valid_boot_order("c") && valid_boot_order("dca"));
        assert!(!valid_boot_order("") && !valid_boot_order("x") && !valid_boot_order("cdan"));
        let mut d = Devices::new(64 << 20, 0);
        let drives = [(0, 1, Kind::Disk), (1, 0, Kind::Cdrom)];
        configure(&mut d, 64 << 20, "dc", &drives, Some(SERCON_PORT));
        assert_eq!(d.cmos.ram[0x3d], 0x23);
        assert_eq!(d.cmos.ram[0x38], 0x00);
        assert_eq!(
            (d.cmos.ram[0x12], d.cmos.ram[0x19], d.cmos.ram[0x1a]),
            (0x0f, 0, 47)
        );
        assert_eq!(d.fw_cfg.item(0x20).map(<[u8]>::len), Some(20));
        assert_eq!(
            d.fw_cfg.item(0x22),
            Some(&b"/pci@i0cf8/ide@1,1/drive@1/disk@0\n/pci@i0cf8/ide@1,1/drive@0/disk@1\n\0"[..])
        );
        assert_eq!(bootorder("a", &drives, false), None);
        assert_eq!(
            bootorder("ac", &drives, true).as_deref(),
            Some(&b"/pci@i0cf8/isa@1/fdc@03f0/floppy@0\n/pci@i0cf8/ide@1,1/drive@0/disk@1\n\0"[..])
        );
        assert_eq!((d.cmos.ram[0x10], d.cmos.ram[0x14]), (0, 0x06));
    }
}
