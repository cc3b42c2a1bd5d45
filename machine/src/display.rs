//! The VGA adapter on the board: its memory windows (the legacy 0xA0000-0xBFFFF window
//! and the linear framebuffer behind its PCI BAR0), the VGA BIOS image at 0xC0000, and
//! screenshots of what it shows.

use std::path::Path;
use std::time::{Duration, Instant};

use ox86_devices::vga::{self, text::TextView, Screen, Vga};

use crate::board::Board;
use crate::Machine;

/// The most a VGA BIOS image may take: 0xC0000-0xDFFFF.
pub const MAX_VGA_BIOS: usize = 128 << 10;

#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    #[error("VGA BIOS image is empty")]
    EmptyBios,
    #[error("VGA BIOS image is {0} bytes: at most 128 KiB fit at 0xC0000")]
    BiosTooBig(usize),
    #[error(transparent)]
    Png(#[from] vga::png::PngError),
    #[error("cannot write the screenshot {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Board {
    /// The VGA's answer to a physical read outside RAM, if the address is its.
    pub(crate) fn vga_mmio_read(&mut self, pa: u64, size: u8) -> Option<u32> {
        if (vga::LEGACY_BASE..vga::LEGACY_BASE + vga::LEGACY_SIZE).contains(&pa) {
            return Some(
                self.dev
                    .vga
                    .legacy_read((pa - vga::LEGACY_BASE) as u32, size),
            );
        }
        let off = self.lfb_offset(pa)?;
        Some(self.dev.vga.lfb_read(off, size))
    }

    /// A physical write outside RAM to the VGA; false when the address is not its.
    pub(crate) fn vga_mmio_write(&mut self, pa: u64, size: u8, value: u32) -> bool {
        if (vga::LEGACY_BASE..vga::LEGACY_BASE + vga::LEGACY_SIZE).contains(&pa) {
            let off = (pa - vga::LEGACY_BASE) as u32;
            self.dev.vga.legacy_write(off, size, value);
            return true;
        }
        match self.lfb_offset(pa) {
            Some(off) => {
                self.dev.vga.lfb_write(off, size, value);
                true
            }
            None => false,
        }
    }

    /// The offset into the linear framebuffer, where BAR0 maps it.
    fn lfb_offset(&self, pa: u64) -> Option<u64> {
        let f = self
            .dev
            .pci
            .functions
            .iter()
            .find(|f| f.devfn == vga::PCI_DEVFN)?;
        let base = vga::lfb_base(f)?;
        let off = pa.checked_sub(base)?;
        (off < vga::VRAM_SIZE as u64).then_some(off)
    }

    /// Put a VGA BIOS image (an option ROM: 0x55 0xAA, length in 512-byte units, entry
    /// at offset 3) at 0xC0000, where a system BIOS looks for it and calls its entry.
    /// The copy is shadow RAM, writable: SeaVGABIOS keeps its variables in its own
    /// segment while it initialises (a system BIOS write-protects the shadow through the
    /// PAM registers afterwards, which ox86 keeps as storage only).
    pub fn map_vga_bios(&mut self, image: &[u8]) -> Result<(), DisplayError> {
        if image.is_empty() {
            return Err(DisplayError::EmptyBios);
        }
        if image.len() > MAX_VGA_BIOS {
            return Err(DisplayError::BiosTooBig(image.len()));
        }
        let len = image.len().next_multiple_of(ox86_core::mem::PAGE_SIZE) as u64;
        let mut padded = image.to_vec();
        padded.resize(len as usize, 0xff);
        self.mem.set_readonly(vga::BIOS_BASE, len, false);
        self.mem.write_bytes(vga::BIOS_BASE, &padded);
        Ok(())
    }
}

/// What the run loop feeds: the host side of `--display text` or `--display window`.
pub enum DisplaySink {
    Text(TextSink),
    Frames(FrameSink),
}

/// A text display fed from the run loop: a snapshot of the VGA's text view, sent when it
/// changed, at most once per `interval` (host time).
pub struct TextSink {
    tx: crossbeam_channel::Sender<TextView>,
    interval: Duration,
    last_sent: Option<TextView>,
    last_time: Option<Instant>,
}

impl TextSink {
    pub fn new(tx: crossbeam_channel::Sender<TextView>, interval: Duration) -> Self {
        TextSink {
            tx,
            interval,
            last_sent: None,
            last_time: None,
        }
    }
}

/// A graphical display fed from the run loop: a copy of the adapter's state (registers
/// and the video memory the picture comes from, `Vga::display_copy`) that the display's
/// thread draws with `Vga::render`, sent at most once per `interval` (host time) and only
/// when the guest ran since the last one. The CPU thread only copies; the channel should
/// hold one frame (bounded): while the display has not taken the last one, no new one is
/// made.
pub struct FrameSink {
    tx: crossbeam_channel::Sender<Vga>,
    interval: Duration,
    last_time: Option<Instant>,
    /// The instruction count at the last frame sent.
    last_insns: Option<u64>,
}

impl FrameSink {
    pub fn new(tx: crossbeam_channel::Sender<Vga>, interval: Duration) -> Self {
        FrameSink {
            tx,
            interval,
            last_time: None,
            last_insns: None,
        }
    }
}

impl DisplaySink {
    fn interval(&self) -> Duration {
        match self {
            DisplaySink::Text(t) => t.interval,
            DisplaySink::Frames(f) => f.interval,
        }
    }
}

impl Machine {
    /// What a text display shows now.
    pub fn text_view(&self) -> TextView {
        self.board.dev.vga.text_view()
    }

    /// Feed the display, if there is one, when the interval has passed (or `force`: at
    /// the end of a run, or before the CPU waits): a text view when it changed, a frame
    /// when the guest ran since the last. Reads the adapter only: guest state and timing
    /// are the same with a display and without.
    pub(crate) fn display_tick(&mut self, force: bool) {
        let insns = self.cpu.stats.instructions;
        let Some(d) = &mut self.display else {
            return;
        };
        let (last_time, interval) = match d {
            DisplaySink::Text(t) => (&mut t.last_time, t.interval),
            DisplaySink::Frames(f) => (&mut f.last_time, f.interval),
        };
        if !force && last_time.is_some_and(|t| t.elapsed() < interval) {
            return;
        }
        *last_time = Some(Instant::now());
        let gone = match d {
            DisplaySink::Text(t) => {
                let v = self.board.dev.vga.text_view();
                if t.last_sent.as_ref() == Some(&v) {
                    false
                } else if t.tx.send(v.clone()).is_err() {
                    true
                } else {
                    t.last_sent = Some(v);
                    false
                }
            }
            DisplaySink::Frames(f) => {
                if f.last_insns == Some(insns) || f.tx.is_full() {
                    false
                } else {
                    match f.tx.try_send(self.board.dev.vga.display_copy()) {
                        Ok(()) => {
                            f.last_insns = Some(insns);
                            false
                        }
                        Err(crossbeam_channel::TrySendError::Full(_)) => false,
                        Err(crossbeam_channel::TrySendError::Disconnected(_)) => true,
                    }
                }
            }
        };
        if gone {
            self.display = None; // the display is gone
        }
    }

    /// The CPU is about to wait `gap` ns of host time (None: until input comes): bring the
    /// display up to date first when that is longer than its refresh interval, or the
    /// last picture the guest drew would not show until the wait ends.
    pub(crate) fn display_before_wait(&mut self, gap: Option<u64>) {
        let Some(d) = &self.display else {
            return;
        };
        if gap.is_none_or(|g| g > d.interval().as_nanos() as u64) {
            self.display_tick(true);
        }
    }

    /// What the VGA shows now.
    pub fn screen(&self) -> Screen {
        self.board.dev.vga.render()
    }

    /// Write the screen to `path` as a PNG image (`--screenshot`, the debugger's
    /// `screendump`).
    pub fn screendump(&self, path: &Path) -> Result<(), DisplayError> {
        let png = vga::png::encode(&self.screen())?;
        std::fs::write(path, png).map_err(|source| DisplayError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}
