//! `--display window`: the VGA's picture in a window of its own (minifb; on Linux its X11
//! backend, which loads libX11 when the window opens), text and graphics modes alike, and
//! the keys pressed and released there sent to the guest's PS/2 keyboard.
//!
//! The window lives on its own thread. The run loop hands it copies of the adapter's state
//! (`FrameSink`, at most ~30 a second, only while the guest runs); the thread draws them
//! with the renderer `--screenshot` uses, resizes the window when the mode's resolution
//! changes, and polls its events ~60 times a second. Closing the window quits the run as
//! Ctrl-A x does.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use minifb::{Key, Window, WindowOptions};
use ox86_devices::vga::{Screen, Vga};
use ox86_machine::HostInput;

/// How often at most the run loop sends a frame.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// How often the window looks at its events (and shows the newest frame).
const POLL_FPS: usize = 60;
/// The window's title.
pub const TITLE: &str = "ox86";
/// The size shown before the guest programs a mode.
const FIRST: (u32, u32) = (640, 480);

/// How many window pixels a guest pixel takes: modes of 320x240 and less are shown twice
/// as large.
pub fn scale_of(width: u32, height: u32) -> u32 {
    if width <= 400 && height <= 300 {
        2
    } else {
        1
    }
}

/// `screen` enlarged `scale` times (each pixel a square), as the window shows it.
pub fn scaled(screen: &Screen, scale: u32, out: &mut Vec<u32>) {
    out.clear();
    if scale == 1 {
        out.extend_from_slice(&screen.pixels);
        return;
    }
    let w = screen.width as usize;
    for row in screen.pixels.chunks(w.max(1)) {
        let start = out.len();
        for &p in row {
            out.extend(std::iter::repeat_n(p, scale as usize));
        }
        let end = out.len();
        for _ in 1..scale {
            out.extend_from_within(start..end);
        }
    }
}

fn open_window(width: u32, height: u32) -> Result<Window, minifb::Error> {
    Window::new(
        TITLE,
        width as usize,
        height as usize,
        WindowOptions::default(),
    )
}

/// Why no window can open: DISPLAY is not set, or the X server cannot be reached.
fn no_window(reason: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--display window cannot open a window ({reason}): use --display text or none, or set DISPLAY to a running X server"
    )
}

/// Open the window (on its own thread) and feed it `frames` until that channel closes;
/// keys go to `input` as `HostInput::Keys`, and closing the window sends
/// `HostInput::Quit`. An error when no window can be opened.
pub fn spawn(frames: Receiver<Vga>, input: Sender<HostInput>) -> Result<JoinHandle<()>> {
    if cfg!(all(unix, not(target_os = "macos")))
        && std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty())
    {
        return Err(no_window("DISPLAY is not set"));
    }
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let thread = std::thread::Builder::new()
        .name("window".into())
        .spawn(move || {
            let window = match open_window(FIRST.0, FIRST.1) {
                Ok(w) => {
                    let _ = ready_tx.send(Ok(()));
                    w
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            run_window(window, frames, input);
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(e)) => {
            let _ = thread.join();
            let display = std::env::var("DISPLAY").unwrap_or_default();
            Err(no_window(&format!("X display `{display}`: {e}")))
        }
        Err(_) => {
            let _ = thread.join();
            bail!("--display window: the window's thread failed")
        }
    }
}

/// Keys pressed and released in the window, as the X server reports them (autorepeat
/// included), sent to the keyboard as they come: each press and release is seen, however
/// short.
struct KeySender(Sender<HostInput>);

impl minifb::InputCallback for KeySender {
    fn add_char(&mut self, _uni_char: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        let mut bytes = Vec::new();
        push_key(&mut bytes, key, !down);
        if !bytes.is_empty() {
            let _ = self.0.send(HostInput::Keys(bytes));
        }
    }
}

/// How often an unchanged picture is drawn again (the X11 backend does not redraw an
/// uncovered window by itself).
const REDRAW: Duration = Duration::from_millis(500);

fn run_window(mut window: Window, frames: Receiver<Vga>, input: Sender<HostInput>) {
    window.set_target_fps(POLL_FPS);
    window.set_input_callback(Box::new(KeySender(input.clone())));
    let mut size = FIRST;
    let mut scale = 1;
    let mut shown: Option<Screen> = None;
    let mut buf = vec![0u32; (FIRST.0 * FIRST.1) as usize];
    let mut drawn = Instant::now();
    loop {
        if !window.is_open() {
            // Closed by the user: end the run as Ctrl-A x does.
            let _ = input.send(HostInput::Quit);
            return;
        }
        // Only the newest frame matters.
        let mut newest = None;
        loop {
            match frames.try_recv() {
                Ok(v) => newest = Some(v),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return, // the run is over
            }
        }
        let mut draw = drawn.elapsed() >= REDRAW;
        if let Some(s) = newest.map(|v| v.render()) {
            if shown.as_ref() != Some(&s) {
                if (s.width, s.height) != size {
                    let k = scale_of(s.width, s.height);
                    match open_window(s.width * k, s.height * k) {
                        Ok(w) => {
                            window = w;
                            window.set_target_fps(POLL_FPS);
                            window.set_input_callback(Box::new(KeySender(input.clone())));
                            size = (s.width, s.height);
                            scale = k;
                        }
                        Err(e) => {
                            eprintln!("ox86: cannot resize the window: {e}");
                            let _ = input.send(HostInput::Quit);
                            return;
                        }
                    }
                }
                scaled(&s, scale, &mut buf);
                shown = Some(s);
                draw = true;
            }
        }
        if draw {
            let (w, h) = ((size.0 * scale) as usize, (size.1 * scale) as usize);
            if window.update_with_buffer(&buf, w, h).is_err() {
                window.update();
            }
            drawn = Instant::now();
        } else {
            window.update();
        }
    }
}

/// The set 1 scancode bytes of a key's press or release.
fn push_key(out: &mut Vec<u8>, k: Key, release: bool) {
    let Some(code) = set1_code(k) else {
        return;
    };
    let brk = if release { 0x80 } else { 0 };
    if code >> 8 == 0xe0 {
        out.push(0xe0);
    }
    out.push(code as u8 | brk);
}

/// The set 1 make code of a key (0xE0 in the high byte for an extended key); None for
/// keys without one the keyboard path carries (Pause, the Windows and menu keys, F13+).
pub fn set1_code(k: Key) -> Option<u16> {
    use Key::*;
    let letter = |c: u8| crate::display::ascii_key(c).map(|(code, _)| code as u16);
    Some(match k {
        Key0 => 0x0b,
        Key1 | Key2 | Key3 | Key4 | Key5 | Key6 | Key7 | Key8 | Key9 => {
            k as u16 - Key1 as u16 + 0x02
        }
        A | B | C | D | E | F | G | H | I | J | K | L | M | N | O | P | Q | R | S | T | U | V
        | W | X | Y | Z => return letter(b'a' + (k as u8 - A as u8)),
        F1 | F2 | F3 | F4 | F5 | F6 | F7 | F8 | F9 | F10 => k as u16 - F1 as u16 + 0x3b,
        F11 => 0x57,
        F12 => 0x58,
        Escape => 0x01,
        Minus => 0x0c,
        Equal => 0x0d,
        Backspace => 0x0e,
        Tab => 0x0f,
        LeftBracket => 0x1a,
        RightBracket => 0x1b,
        Enter => 0x1c,
        LeftCtrl => 0x1d,
        Semicolon => 0x27,
        Apostrophe => 0x28,
        Backquote => 0x29,
        LeftShift => 0x2a,
        Backslash => 0x2b,
        Comma => 0x33,
        Period => 0x34,
        Slash => 0x35,
        RightShift => 0x36,
        NumPadAsterisk => 0x37,
        LeftAlt => 0x38,
        Space => 0x39,
        CapsLock => 0x3a,
        NumLock => 0x45,
        ScrollLock => 0x46,
        NumPad7 => 0x47,
        NumPad8 => 0x48,
        NumPad9 => 0x49,
        NumPadMinus => 0x4a,
        NumPad4 => 0x4b,
        NumPad5 => 0x4c,
        NumPad6 => 0x4d,
        NumPadPlus => 0x4e,
        NumPad1 => 0x4f,
        NumPad2 => 0x50,
        NumPad3 => 0x51,
        NumPad0 => 0x52,
        NumPadDot => 0x53,
        NumPadEnter => 0xe01c,
        RightCtrl => 0xe01d,
        NumPadSlash => 0xe035,
        RightAlt => 0xe038,
        Home => 0xe047,
        Up => 0xe048,
        PageUp => 0xe049,
        Left => 0xe04b,
        Right => 0xe04d,
        End => 0xe04f,
        Down => 0xe050,
        PageDown => 0xe051,
        Insert => 0xe052,
        Delete => 0xe053,
        F13 | F14 | F15 | Pause | Menu | LeftSuper | RightSuper | Unknown | Count => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_set1_codes() {
        assert_eq!(set1_code(Key::A), Some(0x1e));
        assert_eq!(set1_code(Key::Z), Some(0x2c));
        assert_eq!(set1_code(Key::Key1), Some(0x02));
        assert_eq!(set1_code(Key::Key9), Some(0x0a));
        assert_eq!(set1_code(Key::Key0), Some(0x0b));
        assert_eq!(set1_code(Key::F1), Some(0x3b));
        assert_eq!(set1_code(Key::F10), Some(0x44));
        assert_eq!(set1_code(Key::F12), Some(0x58));
        assert_eq!(set1_code(Key::Pause), None);
        let mut out = Vec::new();
        push_key(&mut out, Key::LeftShift, false);
        push_key(&mut out, Key::Up, false);
        push_key(&mut out, Key::Up, true);
        push_key(&mut out, Key::LeftShift, true);
        push_key(&mut out, Key::Enter, false);
        assert_eq!(out, [0x2a, 0xe0, 0x48, 0xe0, 0xc8, 0xaa, 0x1c]);
    }

    #[test]
    fn every_key_with_a_code_reaches_set_2() {
        // Each code survives the translation the controller may need (no dangling 0xE0).
        for k in [
            Key::A,
            Key::Escape,
            Key::F11,
            Key::F12,
            Key::NumPadEnter,
            Key::RightAlt,
            Key::Delete,
            Key::NumPad0,
            Key::CapsLock,
        ] {
            let mut s1 = Vec::new();
            push_key(&mut s1, k, false);
            let s2 = ox86_devices::i8042::set1_to_set2(&s1);
            assert!(
                !s2.is_empty() && *s2.last().unwrap() != 0xe0,
                "{k:?}: {s1:x?} -> {s2:x?}"
            );
        }
    }

    #[test]
    fn small_modes_are_doubled() {
        assert_eq!(scale_of(320, 200), 2);
        assert_eq!(scale_of(640, 480), 1);
        assert_eq!(scale_of(720, 400), 1);
        let s = Screen {
            width: 2,
            height: 1,
            pixels: vec![1, 2],
        };
        let mut out = Vec::new();
        scaled(&s, 2, &mut out);
        assert_eq!(out, [1, 1, 2, 2, 1, 1, 2, 2]);
        scaled(&s, 1, &mut out);
        assert_eq!(out, [1, 2]);
    }
}
