//! Snapshots: the whole machine saved to a directory and resumed from it, exactly.
//!
//! A snapshot directory holds:
//!
//! - `manifest.json`: the format name and version, the machine's configuration (RAM size,
//!   CPU model, boot kind, exit and POST ports, reboot policy), the instruction count and
//!   virtual clock at the save, the guest's disks (image path, size and SHA-256 of the
//!   image, overlay file) and the size and SHA-256 of every file below. Restoring reads
//!   the configuration from here; only host-side settings (console, serial, input,
//!   engine, real time) come from the caller.
//! - `state.bin`: the CPU (x87 included), every device's state struct, the board (clock
//!   position, pending interrupt and timer edges, requests), shadow RAM and PAM modes,
//!   the read-only page map, A20, the firmware image, a directly booted kernel (loaded
//!   again on a guest reset), and serial and key input not yet delivered. Encoded with
//!   bincode 1 (fixed-width little-endian integers, lengths as u64: nothing depends on
//!   the host's pointer width or byte order), then deflated.
//! - `ram.bin`: guest RAM, a header (`OX86RAM1`, RAM size) and a deflated stream of a
//!   bitmap of the non-zero 4 KiB pages followed by those pages.
//! - `hda.overlay` and so on: the blocks written to a disk since its image was frozen
//!   (bincode, deflated).
//!
//! Decoded blocks, translated code and the soft TLB are not saved; a restored machine
//! builds them again. Disks are never copied: a snapshot names each image and records its
//! size and SHA-256, and restoring refuses an image that differs. Saving switches a
//! writable disk to an in-memory overlay (`Disk::freeze`) so the image stays as the
//! snapshot recorded it; a restored machine's disks always write to an overlay, which
//! the next snapshot saves.
//!
//! Time is virtual, so a machine run N instructions, saved, restored and run M more ends
//! in the same state as one run of N + M, under either engine.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bincode::Options;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use ox86_core::cpu::{CpuCheckpoint, CpuModel};
use ox86_core::mem::PAGE_SIZE;
use ox86_core::{Cpu, PhysMemory};
use ox86_devices::disk::{Disk, SECTOR};
use ox86_devices::ide::{Kind, ATAPI_BLOCK};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::board::{Board, BoardState};
use crate::boot::bzimage::BootImage;
use crate::boot::multiboot::MultibootImage;
use crate::machine::{new_interp, Engine, HostInput, Machine, MachineError};

/// The manifest's `format` value.
pub const FORMAT: &str = "ox86-snapshot";
/// The snapshot format this build writes and reads.
pub const VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
const STATE: &str = "state.bin";
const RAM: &str = "ram.bin";
const RAM_MAGIC: &[u8; 8] = b"OX86RAM1";
/// Largest decoded state accepted (the firmware, a kernel with its initrd, video memory).
const MAX_STATE: u64 = 6 << 30;

/// Why a snapshot could not be saved or restored. Each message is one line naming the
/// file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no snapshot in {dir}: cannot read {MANIFEST}: {err}")]
    NoManifest { dir: PathBuf, err: io::Error },
    #[error("snapshot manifest {path} is not valid: {reason}")]
    BadManifest { path: PathBuf, reason: String },
    #[error("snapshot {dir} has format version {found}; this ox86 reads version {VERSION}")]
    Version { dir: PathBuf, found: u64 },
    #[error("snapshot file {path} cannot be read: {err}")]
    Read { path: PathBuf, err: io::Error },
    #[error(
        "snapshot file {path} is {found} bytes, the manifest says {expected}: truncated or damaged"
    )]
    Size {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("snapshot file {path} is damaged: its SHA-256 is not the one in the manifest")]
    Checksum { path: PathBuf },
    #[error("snapshot file {path} cannot be decoded: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("cannot write snapshot file {path}: {err}")]
    Write { path: PathBuf, err: io::Error },
    #[error("disk image {path} ({slot}): {reason}")]
    Disk {
        slot: String,
        path: PathBuf,
        reason: String,
    },
    #[error("snapshot {dir} does not fit together: {reason}")]
    Inconsistent { dir: PathBuf, reason: String },
    #[error(transparent)]
    Machine(#[from] MachineError),
}

/// The manifest (`manifest.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `ox86-snapshot`.
    pub format: String,
    /// The format version (`VERSION`).
    pub version: u32,
    /// The ox86 version that wrote it.
    pub writer: String,
    pub machine: MachineInfo,
    /// The guest's disks.
    pub disks: Vec<DiskEntry>,
    /// Every file of the snapshot besides the manifest.
    pub files: Vec<FileEntry>,
}

/// The machine's configuration, as a restore rebuilds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MachineInfo {
    pub ram_size: u64,
    pub cpu_model: CpuModel,
    /// `firmware`, `linux` or `multiboot`.
    pub boot: String,
    pub exit_port: Option<u16>,
    pub post_ports: Vec<u16>,
    pub debug_ports: Vec<u16>,
    /// Reset on a guest reboot or triple fault (false: stop, as `-no-reboot`).
    pub reboot: bool,
    /// Instructions retired and the virtual clock (ns) at the save.
    pub instructions: u64,
    pub clock_ns: u64,
    /// The engine the machine ran under (informational: a restore picks its own).
    pub engine: String,
    /// Front-end settings (`Machine::labels`).
    pub labels: BTreeMap<String, String>,
}

/// A disk image the snapshot refers to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DiskEntry {
    /// `hda`, `hdb`, `hdc`, `hdd` (IDE channel and unit) or `fda`, `fdb`.
    pub slot: String,
    /// `disk`, `cdrom` or `floppy`.
    pub kind: String,
    /// The image file (absolute when the save could resolve it).
    pub path: PathBuf,
    pub size: u64,
    /// SHA-256 of the image file (without the overlay), lower-case hex.
    pub sha256: String,
    /// The file holding the blocks written since the image was frozen, if any.
    pub overlay: Option<String>,
}

/// A file of the snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// What a save wrote.
#[derive(Clone, Debug)]
pub struct SaveReport {
    /// Bytes written, all files together.
    pub bytes: u64,
    pub elapsed: Duration,
    /// Disks that wrote to their image until now and from now on keep writes in memory
    /// (so the image stays as the snapshot recorded it).
    pub frozen: Vec<PathBuf>,
}

/// Host-side settings of a restored machine: where its output goes, its input, how it
/// runs. Everything about the machine itself comes from the snapshot.
pub struct HostOptions {
    /// Where 0xE9 debug-console output goes.
    pub console: Box<dyn Write + Send>,
    /// Where COM1 output goes.
    pub serial: Box<dyn Write + Send>,
    /// Host input (serial bytes, keys, quit), if anyone sends any.
    pub input: Option<crossbeam_channel::Receiver<HostInput>>,
    /// Pace idle time by the host clock (see `MachineConfig::realtime`).
    pub realtime: bool,
    pub engine: Engine,
    /// Interpreted runs of a block before the JIT translates it.
    pub jit_threshold: u32,
    /// Count the JIT's chained transitions (see `MachineConfig::jit_chain_count`).
    pub jit_chain_count: bool,
}

impl Default for HostOptions {
    /// Output discarded, no input, deterministic time, the interpreter.
    fn default() -> Self {
        HostOptions {
            console: Box::new(io::sink()),
            serial: Box::new(io::sink()),
            input: None,
            realtime: false,
            engine: Engine::Interp,
            jit_threshold: 50,
            jit_chain_count: false,
        }
    }
}

/// `state.bin` as saved (borrowing the big parts); the same encoding as `State`.
#[derive(Serialize)]
struct StateOut<'a> {
    cpu: CpuCheckpoint,
    board: BoardState,
    rom: &'a [u8],
    readonly: &'a [bool],
    a20: bool,
    pending_input: Vec<u8>,
    pending_keys: Vec<u8>,
    linux: Option<&'a BootImage>,
    multiboot: Option<&'a MultibootImage>,
}

/// `state.bin`, decoded.
#[derive(Deserialize)]
struct State {
    cpu: CpuCheckpoint,
    board: BoardState,
    rom: Vec<u8>,
    readonly: Vec<bool>,
    a20: bool,
    pending_input: Vec<u8>,
    pending_keys: Vec<u8>,
    linux: Option<BootImage>,
    multiboot: Option<MultibootImage>,
}

/// A disk overlay file, decoded.
#[derive(Serialize, Deserialize)]
struct Overlay {
    block: u32,
    blocks: Vec<(u64, Vec<u8>)>,
}

/// bincode 1 with fixed-width little-endian integers: the same bytes on every host.
fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that counts and hashes what goes through it.
struct Hashing<W: Write> {
    w: W,
    sha: Sha256,
    n: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.w.write(buf)?;
        self.sha.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Write `dir/name` through `fill` (first under a temporary name, renamed when complete);
/// its manifest entry.
fn write_file(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<FileEntry, SnapshotError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let err = |err| SnapshotError::Write {
        path: path.clone(),
        err,
    };
    let f = File::create(&tmp).map_err(err)?;
    let mut h = Hashing {
        w: io::BufWriter::with_capacity(1 << 20, f),
        sha: Sha256::new(),
        n: 0,
    };
    fill(&mut h).map_err(err)?;
    h.flush().map_err(err)?;
    let Hashing { w, sha, n } = h;
    let f = w.into_inner().map_err(|e| err(e.into_error()))?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(FileEntry {
        name: name.to_string(),
        size: n,
        sha256: hex(&sha.finalize()),
    })
}

/// Deflate `bytes` into `w`.
fn deflate(w: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    let mut e = DeflateEncoder::new(w, Compression::fast());
    e.write_all(bytes)?;
    e.finish()?;
    Ok(())
}

/// Inflate `bytes`, at most `max` of output.
fn inflate(bytes: &[u8], max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    DeflateDecoder::new(bytes)
        .take(max + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::other(
            "decoded data is larger than any snapshot's",
        ));
    }
    Ok(out)
}

/// The slot name of an IDE drive or a floppy drive.
fn ide_slot(channel: usize, unit: usize) -> String {
    format!("hd{}", (b'a' + (2 * channel + unit) as u8) as char)
}

fn fd_slot(unit: usize) -> String {
    format!("fd{}", (b'a' + unit as u8) as char)
}

/// SHA-256 of a disk's image file.
fn image_sha256(d: &Disk) -> io::Result<String> {
    let mut sha = Sha256::new();
    d.read_base(|b| sha.update(b))?;
    Ok(hex(&sha.finalize()))
}

impl Machine {
    /// Save the whole machine to `dir` (created if needed; files of an earlier snapshot
    /// there are replaced, the manifest last). The machine can go on running afterwards:
    /// a disk that wrote to its image keeps its writes in memory from now on (see
    /// `SaveReport::frozen`), so that the image stays as this snapshot recorded it.
    pub fn save_snapshot(&self, dir: &Path) -> Result<SaveReport, SnapshotError> {
        let t0 = Instant::now();
        std::fs::create_dir_all(dir).map_err(|err| SnapshotError::Write {
            path: dir.to_path_buf(),
            err,
        })?;
        let mut files = Vec::new();
        let mut disks = Vec::new();
        let mut frozen = Vec::new();
        let mut all: Vec<(String, &'static str, Arc<Disk>)> = Vec::new();
        for (ch, unit, kind, d) in self.board.dev.ide.disks() {
            let kind = match kind {
                Kind::Disk => "disk",
                Kind::Cdrom => "cdrom",
            };
            all.push((ide_slot(ch, unit), kind, d));
        }
        for (unit, d) in self.board.dev.fdc.disks() {
            all.push((fd_slot(unit), "floppy", d));
        }
        for (slot, kind, d) in all {
            let derr = |reason: String| SnapshotError::Disk {
                slot: slot.clone(),
                path: d.path().to_path_buf(),
                reason,
            };
            if !d.has_overlay() && !d.read_only() {
                d.freeze().map_err(|e| derr(format!("cannot flush: {e}")))?;
                frozen.push(d.path().to_path_buf());
            }
            let sha256 = image_sha256(&d).map_err(|e| derr(format!("cannot read: {e}")))?;
            let blocks = d
                .overlay_blocks()
                .map_err(|e| derr(format!("overlay: {e}")))?;
            let overlay = if blocks.is_empty() {
                None
            } else {
                let name = format!("{slot}.overlay");
                let o = Overlay {
                    block: d.block_size() as u32,
                    blocks,
                };
                let bytes = codec()
                    .serialize(&o)
                    .map_err(|e| derr(format!("overlay: {e}")))?;
                files.push(write_file(dir, &name, |w| deflate(w, &bytes))?);
                Some(name)
            };
            let path = std::fs::canonicalize(d.path()).unwrap_or_else(|_| d.path().to_path_buf());
            disks.push(DiskEntry {
                slot,
                kind: kind.to_string(),
                path,
                size: d.size(),
                sha256,
                overlay,
            });
        }

        let mem = &self.board.mem;
        let state = StateOut {
            cpu: self.cpu.checkpoint(),
            board: self.board.save_state(),
            rom: self.board.rom(),
            readonly: mem.readonly_pages(),
            a20: mem.a20_mask() == !0,
            pending_input: self.pending_input.iter().copied().collect(),
            pending_keys: self.pending_keys.iter().copied().collect(),
            linux: self.linux.as_ref(),
            multiboot: self.multiboot.as_ref(),
        };
        let bytes = codec()
            .serialize(&state)
            .map_err(|e| SnapshotError::Write {
                path: dir.join(STATE),
                err: io::Error::other(e),
            })?;
        files.push(write_file(dir, STATE, |w| deflate(w, &bytes))?);
        drop(bytes);
        files.push(write_file(dir, RAM, |w| write_ram(w, mem.ram()))?);

        let boot = if self.linux.is_some() {
            "linux"
        } else if self.multiboot.is_some() {
            "multiboot"
        } else {
            "firmware"
        };
        let manifest = Manifest {
            format: FORMAT.to_string(),
            version: VERSION,
            writer: format!("ox86 {}", env!("CARGO_PKG_VERSION")),
            machine: MachineInfo {
                ram_size: mem.size(),
                cpu_model: self.cpu.model,
                boot: boot.to_string(),
                exit_port: self.board.exit_port(),
                post_ports: self.board.post_ports().to_vec(),
                debug_ports: self.board.debug_ports.clone(),
                reboot: self.reboot,
                instructions: self.cpu.stats.instructions,
                clock_ns: self.cpu.clock(),
                engine: if self.interp.accel.is_some() {
                    "jit"
                } else {
                    "interp"
                }
                .to_string(),
                labels: self.labels.clone(),
            },
            disks,
            files,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| SnapshotError::Write {
            path: dir.join(MANIFEST),
            err: io::Error::other(e),
        })?;
        let m = write_file(dir, MANIFEST, |w| w.write_all(&json))?;
        let bytes = m.size + manifest.files.iter().map(|f| f.size).sum::<u64>();
        Ok(SaveReport {
            bytes,
            elapsed: t0.elapsed(),
            frozen,
        })
    }

    /// Build the machine saved in `dir`, with the host-side settings `host`. Every file
    /// is checked (sizes and SHA-256 against the manifest, each disk image against its
    /// recorded size and SHA-256) before anything is built; on an error nothing is
    /// returned and the snapshot's files are left as they are (they are only read).
    /// The restored machine's disks keep their writes in an overlay: the images are
    /// never written.
    pub fn restore(dir: &Path, host: HostOptions) -> Result<Machine, SnapshotError> {
        let manifest = read_manifest(dir)?;
        let info = &manifest.machine;
        let inconsistent = |reason: String| SnapshotError::Inconsistent {
            dir: dir.to_path_buf(),
            reason,
        };

        // Every file, checked against the manifest before it is decoded.
        let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        for f in &manifest.files {
            if f.name.contains(['/', '\\']) || f.name == ".." {
                return Err(inconsistent(format!("file name `{}` is not plain", f.name)));
            }
            contents.insert(&f.name, read_checked(dir, f)?);
        }
        let file = |name: &str| -> Result<&Vec<u8>, SnapshotError> {
            contents
                .get(name)
                .ok_or_else(|| inconsistent(format!("the manifest lists no file {name}")))
        };
        let decode_err = |name: &str, reason: String| SnapshotError::Decode {
            path: dir.join(name),
            reason,
        };

        let raw = inflate(file(STATE)?, MAX_STATE).map_err(|e| decode_err(STATE, e.to_string()))?;
        let mut state: State = codec()
            .with_limit(MAX_STATE)
            .deserialize(&raw)
            .map_err(|e| decode_err(STATE, e.to_string()))?;
        drop(raw);

        let pages = (info.ram_size / PAGE_SIZE as u64) as usize;
        if state.readonly.len() != pages {
            return Err(inconsistent(format!(
                "the state has {} pages of RAM, the manifest {} bytes",
                state.readonly.len(),
                info.ram_size
            )));
        }
        if !state.rom.is_empty() {
            crate::machine::check_rom(&state.rom)?;
        }
        let mut mem = PhysMemory::new(info.ram_size).map_err(MachineError::from)?;
        read_ram(file(RAM)?, mem.ram_mut()).map_err(|reason| decode_err(RAM, reason))?;

        // The disks: the same images, then the overlays.
        let dev = &mut state.board.dev;
        let mut want: Vec<String> = dev
            .ide
            .channels
            .iter()
            .enumerate()
            .flat_map(|(ch, c)| {
                c.drives
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.kind.is_some())
                    .map(move |(u, _)| ide_slot(ch, u))
            })
            .chain((0..2).filter(|&u| dev.fdc.has_media(u)).map(fd_slot))
            .collect();
        for e in &manifest.disks {
            let Some(i) = want.iter().position(|s| *s == e.slot) else {
                return Err(inconsistent(format!(
                    "the manifest names disk {} but the machine has no such drive",
                    e.slot
                )));
            };
            want.remove(i);
            let disk = open_disk(e)?;
            if let Some(name) = &e.overlay {
                let raw =
                    inflate(file(name)?, MAX_STATE).map_err(|x| decode_err(name, x.to_string()))?;
                let o: Overlay = codec()
                    .with_limit(MAX_STATE)
                    .deserialize(&raw)
                    .map_err(|x| decode_err(name, x.to_string()))?;
                if o.block as usize != disk.block_size() {
                    return Err(decode_err(name, "the block size is not the disk's".into()));
                }
                disk.load_overlay(o.blocks)
                    .map_err(|x| decode_err(name, x.to_string()))?;
            }
            let disk = Arc::new(disk);
            if let Some(unit) = e.slot.strip_prefix("fd") {
                dev.fdc.set_disk(slot_index(unit), disk);
            } else {
                let i = slot_index(e.slot.trim_start_matches("hd"));
                dev.ide.set_disk(i / 2, i % 2, disk);
            }
        }
        if let Some(s) = want.first() {
            return Err(inconsistent(format!(
                "the machine has drive {s} but the manifest names no image for it"
            )));
        }

        // Everything checked: build the machine. The board's power-on shadowing of the
        // firmware changes the BIOS area; the saved bytes go back there.
        let bios_area = crate::shadow::BASE as usize..0x10_0000;
        let saved_bios_area = mem.ram()[bios_area.clone()].to_vec();
        let mut board = Board::new(
            mem,
            state.rom,
            crate::board::Devices::new(info.ram_size, 0),
            host.console,
            host.serial,
            info.exit_port,
            info.post_ports.clone(),
        );
        board.debug_ports.clone_from(&info.debug_ports);
        board.restore_state(&state.board);
        board.mem.ram_mut()[bios_area].copy_from_slice(&saved_bios_area);
        board.mem.set_readonly_pages(&state.readonly);
        board.mem.set_a20(state.a20);
        board.mem.reset_code_tracking();
        if board.exit_value.is_some() {
            // The guest had written the exit port, which ended that run: so does this one.
            board.request_attention();
        }
        let mut interp = new_interp(host.engine, host.jit_threshold, host.jit_chain_count)?;
        let mut cpu = Cpu::new(info.cpu_model);
        cpu.restore(&state.cpu);
        interp.flush(&mut board);
        Ok(Machine {
            cpu,
            board,
            interp,
            reboot: info.reboot,
            realtime: host.realtime,
            input: host.input,
            pending_input: state.pending_input.into(),
            pending_keys: state.pending_keys.into(),
            display: None,
            linux: state.linux,
            multiboot: state.multiboot,
            labels: info.labels.clone(),
            debug: None,
            trace: None,
        })
    }
}

/// `a`/`b`... to 0/1...
fn slot_index(s: &str) -> usize {
    s.bytes()
        .next()
        .map_or(0, |c| c.wrapping_sub(b'a') as usize)
}

/// Read and check `dir/manifest.json`: format and version first.
pub fn read_manifest(dir: &Path) -> Result<Manifest, SnapshotError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|err| SnapshotError::NoManifest {
        dir: dir.to_path_buf(),
        err,
    })?;
    let bad = |reason: String| SnapshotError::BadManifest {
        path: path.clone(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad(format!("it is not an {FORMAT} manifest")));
    }
    match v.get("version").and_then(|x| x.as_u64()) {
        Some(n) if n == VERSION as u64 => {}
        Some(n) => {
            return Err(SnapshotError::Version {
                dir: dir.to_path_buf(),
                found: n,
            })
        }
        None => return Err(bad("it has no format version".into())),
    }
    let m: Manifest = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    let slots_ok = m.disks.iter().all(|d| {
        matches!(
            (d.slot.as_str(), d.kind.as_str()),
            ("hda" | "hdb" | "hdc" | "hdd", "disk" | "cdrom") | ("fda" | "fdb", "floppy")
        )
    });
    if !slots_ok {
        return Err(bad("a disk has an unknown slot or kind".into()));
    }
    Ok(m)
}

/// Read `dir/f.name` and check its size and SHA-256.
fn read_checked(dir: &Path, f: &FileEntry) -> Result<Vec<u8>, SnapshotError> {
    let path = dir.join(&f.name);
    let read_err = |err| SnapshotError::Read {
        path: path.clone(),
        err,
    };
    let len = std::fs::metadata(&path).map_err(read_err)?.len();
    if len != f.size {
        return Err(SnapshotError::Size {
            path,
            found: len,
            expected: f.size,
        });
    }
    let bytes = std::fs::read(&path).map_err(read_err)?;
    if hex(&Sha256::digest(&bytes)) != f.sha256 {
        return Err(SnapshotError::Checksum { path });
    }
    Ok(bytes)
}

/// Open a snapshot's disk image (writes go to an overlay) and check it is the one saved.
fn open_disk(e: &DiskEntry) -> Result<Disk, SnapshotError> {
    let err = |reason: String| SnapshotError::Disk {
        slot: e.slot.clone(),
        path: e.path.clone(),
        reason,
    };
    let cd = e.kind == "cdrom";
    let block = if cd { ATAPI_BLOCK } else { SECTOR };
    let d = Disk::open(&e.path, block, cd, true).map_err(err)?;
    if d.size() != e.size {
        return Err(err(format!(
            "is {} bytes, the snapshot was taken with {} bytes: not the same image",
            d.size(),
            e.size
        )));
    }
    let sha = image_sha256(&d).map_err(|x| err(format!("cannot read: {x}")))?;
    if sha != e.sha256 {
        return Err(err(
            "has changed since the snapshot was taken (its SHA-256 differs)".into(),
        ));
    }
    Ok(d)
}

/// `ram.bin`: the magic, the RAM size, then deflated: the bitmap of non-zero pages and
/// those pages.
fn write_ram(w: &mut dyn Write, ram: &[u8]) -> io::Result<()> {
    w.write_all(RAM_MAGIC)?;
    w.write_all(&(ram.len() as u64).to_le_bytes())?;
    let pages = ram.len() / PAGE_SIZE;
    let mut bitmap = vec![0u8; pages.div_ceil(8)];
    for (i, p) in ram.chunks(PAGE_SIZE).enumerate() {
        if p.iter().any(|&b| b != 0) {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    let mut e = DeflateEncoder::new(w, Compression::fast());
    e.write_all(&bitmap)?;
    for (i, p) in ram.chunks(PAGE_SIZE).enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            e.write_all(p)?;
        }
    }
    e.finish()?;
    Ok(())
}

/// Decode `ram.bin` into `ram` (which is all zero), checking that it is exactly that.
fn read_ram(bytes: &[u8], ram: &mut [u8]) -> Result<(), String> {
    let Some((head, body)) = bytes.split_at_checked(16) else {
        return Err("too short for its header".into());
    };
    if &head[..8] != RAM_MAGIC {
        return Err("not an ox86 RAM image".into());
    }
    let size = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    if size != ram.len() as u64 {
        return Err(format!(
            "{size} bytes of RAM, the manifest says {}",
            ram.len()
        ));
    }
    let pages = ram.len() / PAGE_SIZE;
    let mut d = DeflateDecoder::new(body);
    let mut bitmap = vec![0u8; pages.div_ceil(8)];
    let short = |e: io::Error| format!("the page data ends early ({e})");
    d.read_exact(&mut bitmap).map_err(short)?;
    for (i, p) in ram.chunks_mut(PAGE_SIZE).enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            d.read_exact(p).map_err(short)?;
        }
    }
    let mut extra = [0u8; 1];
    match d.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => Err("data after the last page".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A duration as the CLI reports it.
pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
