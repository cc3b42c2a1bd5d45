//! The host terminal as the guest's serial console: raw mode while the guest runs, and a
//! thread that forwards standard input to the machine, with QEMU's Ctrl-A escapes.

use std::io::Read;

use crossbeam_channel::Sender;
use ox86_machine::HostInput;

/// Ctrl-A: the escape character (as in QEMU's -nographic / -serial mon:stdio).
const ESCAPE: u8 = 0x01;

/// Raw mode on the terminal for as long as this lives.
pub struct RawMode;

impl RawMode {
    /// Switch the terminal to raw mode (keys go to the guest as typed, Ctrl-C included).
    /// None when the terminal refuses; the guest then gets cooked input, which still works.
    pub fn enter() -> Option<RawMode> {
        crossterm::terminal::enable_raw_mode().ok().map(|_| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Where typed input goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputTo {
    /// COM1, byte by byte.
    Serial,
    /// The PS/2 keyboard, as key strokes (`--display text`).
    Keyboard,
}

/// Read standard input on its own thread and send it on as serial input or key strokes.
/// Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A; other escapes are ignored.
pub fn spawn_stdin_reader(tx: Sender<HostInput>, to: InputTo) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 256];
        let mut escaped = false;
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return, // end of input: the channel closes
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n);
            for &b in &buf[..n] {
                match (escaped, b) {
                    (false, ESCAPE) => escaped = true,
                    (false, _) => out.push(b),
                    (true, b'x' | b'X') => {
                        let _ = tx.send(HostInput::Quit);
                        return;
                    }
                    (true, ESCAPE) => {
                        out.push(ESCAPE);
                        escaped = false;
                    }
                    (true, _) => escaped = false,
                }
            }
            if out.is_empty() {
                continue;
            }
            let msg = match to {
                InputTo::Serial => HostInput::Serial(out),
                InputTo::Keyboard => HostInput::Keys(crate::display::keys_from_terminal(&out)),
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
}
