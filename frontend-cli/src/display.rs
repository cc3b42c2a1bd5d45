//! `--display text`: the VGA's text mode drawn on the host terminal (colours, the cursor,
//! redrawn when the screen changes, at most ~30 times a second, on a thread fed with
//! snapshots by the run loop), and the keys typed there sent to the guest's PS/2 keyboard.

use std::io::Write;
use std::time::Duration;

use crossbeam_channel::Receiver;
use crossterm::style::{Color, Print, ResetColor, SetBackgroundColor, SetForegroundColor};
use crossterm::{cursor, queue, terminal};
use ox86_devices::vga::text::{TextScreen, TextView};

/// What `--display` selects (QEMU's meanings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DisplayKind {
    /// No display: the VGA is emulated but not shown (the serial console is the screen).
    None,
    /// The VGA's text mode on this terminal; keys typed go to the PS/2 keyboard.
    Text,
    /// A window of its own showing text and graphics modes; keys typed there go to the
    /// PS/2 keyboard.
    Window,
}

/// How often at most the screen is redrawn.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// Code page 437 as Unicode: 0x00-0x1F, then 0x7F-0xFF (0x20-0x7E are ASCII).
const CP437_LOW: &str = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼";
const CP437_HIGH: &str = "⌂ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ";

/// The character a code page 437 byte shows.
pub fn cp437(b: u8) -> char {
    match b {
        0x20..=0x7e => b as char,
        0x00..=0x1f => CP437_LOW.chars().nth(b as usize).unwrap_or(' '),
        _ => CP437_HIGH.chars().nth((b - 0x7f) as usize).unwrap_or(' '),
    }
}

/// The terminal colour of a VGA colour index (the default palette's meaning).
fn colour(i: u8) -> Color {
    const C: [Color; 16] = [
        Color::Black,
        Color::DarkBlue,
        Color::DarkGreen,
        Color::DarkCyan,
        Color::DarkRed,
        Color::DarkMagenta,
        Color::DarkYellow,
        Color::Grey,
        Color::DarkGrey,
        Color::Blue,
        Color::Green,
        Color::Cyan,
        Color::Red,
        Color::Magenta,
        Color::Yellow,
        Color::White,
    ];
    C[(i & 15) as usize]
}

/// The escape sequences that draw `view` on a terminal from its top left corner.
pub fn render(view: &TextView, out: &mut Vec<u8>) {
    // Writes into a Vec cannot fail.
    let _ = match view {
        TextView::Text(s) => render_text(s, out),
        TextView::Graphics { width, height } => notice(
            out,
            &format!(
                "ox86: the guest shows a {width}x{height} graphics mode; --display text shows text modes only"
            ),
        ),
        TextView::Blank => notice(out, ""),
    };
}

fn notice(out: &mut Vec<u8>, text: &str) -> std::io::Result<()> {
    queue!(
        out,
        ResetColor,
        terminal::Clear(terminal::ClearType::All),
        cursor::MoveTo(0, 0),
        Print(text),
        cursor::Hide
    )
}

fn render_text(s: &TextScreen, out: &mut Vec<u8>) -> std::io::Result<()> {
    queue!(out, cursor::Hide)?;
    let mut last: Option<(Color, Color)> = None;
    for row in 0..s.rows {
        queue!(out, cursor::MoveTo(0, row as u16))?;
        let mut line = String::new();
        for col in 0..s.cols {
            let (ch, at) = s.cells[(row * s.cols + col) as usize];
            let bg = if s.blink { (at >> 4) & 7 } else { at >> 4 };
            let c = (colour(at & 15), colour(bg));
            if last != Some(c) {
                if !line.is_empty() {
                    queue!(out, Print(std::mem::take(&mut line)))?;
                }
                queue!(out, SetForegroundColor(c.0), SetBackgroundColor(c.1))?;
                last = Some(c);
            }
            line.push(cp437(ch));
        }
        queue!(out, Print(line))?;
    }
    queue!(out, ResetColor)?;
    if let Some((row, col)) = s.cursor {
        queue!(out, cursor::MoveTo(col as u16, row as u16), cursor::Show)?;
    }
    Ok(())
}

/// Draw the views that arrive until the channel closes, then give the terminal back
/// (main screen, cursor shown, colours reset).
pub fn spawn_renderer(rx: Receiver<TextView>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stdout = std::io::stdout();
        let mut buf = Vec::new();
        let _ = queue!(
            buf,
            terminal::EnterAlternateScreen,
            terminal::Clear(terminal::ClearType::All)
        );
        let _ = stdout.write_all(&buf);
        let _ = stdout.flush();
        while let Ok(mut v) = rx.recv() {
            // Only the newest picture matters.
            while let Ok(newer) = rx.try_recv() {
                v = newer;
            }
            buf.clear();
            render(&v, &mut buf);
            let _ = stdout.write_all(&buf);
            let _ = stdout.flush();
        }
        buf.clear();
        let _ = queue!(
            buf,
            ResetColor,
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
        let _ = stdout.write_all(&buf);
        let _ = stdout.flush();
    })
}

// --- keys -------------------------------------------------------------------------------

const LSHIFT: u8 = 0x2a;
const LCTRL: u8 = 0x1d;

/// The set 1 make code of a printable ASCII character on a US keyboard, and whether it
/// needs Shift.
pub fn ascii_key(c: u8) -> Option<(u8, bool)> {
    const LETTERS: [u8; 26] = [
        0x1e, 0x30, 0x2e, 0x20, 0x12, 0x21, 0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18,
        0x19, 0x10, 0x13, 0x1f, 0x14, 0x16, 0x2f, 0x11, 0x2d, 0x15, 0x2c,
    ];
    Some(match c {
        b'a'..=b'z' => (LETTERS[(c - b'a') as usize], false),
        b'A'..=b'Z' => (LETTERS[(c - b'A') as usize], true),
        b'1'..=b'9' => (c - b'1' + 2, false),
        b'0' => (0x0b, false),
        b'!' => (0x02, true),
        b'@' => (0x03, true),
        b'#' => (0x04, true),
        b'$' => (0x05, true),
        b'%' => (0x06, true),
        b'^' => (0x07, true),
        b'&' => (0x08, true),
        b'*' => (0x09, true),
        b'(' => (0x0a, true),
        b')' => (0x0b, true),
        b'-' => (0x0c, false),
        b'_' => (0x0c, true),
        b'=' => (0x0d, false),
        b'+' => (0x0d, true),
        b'[' => (0x1a, false),
        b'{' => (0x1a, true),
        b']' => (0x1b, false),
        b'}' => (0x1b, true),
        b';' => (0x27, false),
        b':' => (0x27, true),
        b'\'' => (0x28, false),
        b'"' => (0x28, true),
        b'`' => (0x29, false),
        b'~' => (0x29, true),
        b'\\' => (0x2b, false),
        b'|' => (0x2b, true),
        b',' => (0x33, false),
        b'<' => (0x33, true),
        b'.' => (0x34, false),
        b'>' => (0x34, true),
        b'/' => (0x35, false),
        b'?' => (0x35, true),
        b' ' => (0x39, false),
        _ => return None,
    })
}

/// Press and release of a key (`code` with 0xE0 in the high byte for an extended key),
/// with Shift and Ctrl held around it as asked.
fn stroke(out: &mut Vec<u8>, code: u16, shift: bool, ctrl: bool) {
    if ctrl {
        out.push(LCTRL);
    }
    if shift {
        out.push(LSHIFT);
    }
    let ext = code >> 8 == 0xe0;
    let c = code as u8;
    if ext {
        out.extend([0xe0, c, 0xe0, c | 0x80]);
    } else {
        out.extend([c, c | 0x80]);
    }
    if shift {
        out.push(LSHIFT | 0x80);
    }
    if ctrl {
        out.push(LCTRL | 0x80);
    }
}

/// The escape sequences of a terminal's special keys (after ESC) and their keys.
const SEQUENCES: &[(&[u8], u16)] = &[
    (b"[A", 0xe048), // Up
    (b"[B", 0xe050), // Down
    (b"[C", 0xe04d), // Right
    (b"[D", 0xe04b), // Left
    (b"OA", 0xe048),
    (b"OB", 0xe050),
    (b"OC", 0xe04d),
    (b"OD", 0xe04b),
    (b"[H", 0xe047), // Home
    (b"[F", 0xe04f), // End
    (b"OH", 0xe047),
    (b"OF", 0xe04f),
    (b"[1~", 0xe047),
    (b"[4~", 0xe04f),
    (b"[2~", 0xe052), // Insert
    (b"[3~", 0xe053), // Delete
    (b"[5~", 0xe049), // Page Up
    (b"[6~", 0xe051), // Page Down
    (b"OP", 0x3b),    // F1-F4
    (b"OQ", 0x3c),
    (b"OR", 0x3d),
    (b"OS", 0x3e),
    (b"[15~", 0x3f), // F5-F10
    (b"[17~", 0x40),
    (b"[18~", 0x41),
    (b"[19~", 0x42),
    (b"[20~", 0x43),
    (b"[21~", 0x44),
];

/// Bytes typed at a terminal (in raw mode) as set 1 scancodes: each key pressed and
/// released. Printable ASCII (US layout), Enter, Tab, Backspace, Esc, Ctrl+letter, the
/// arrows, Home/End/Insert/Delete/Page Up/Page Down and F1-F10; anything else is dropped.
/// A lone ESC at the end of `bytes` is the Esc key.
pub fn keys_from_terminal(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            0x1b => {
                let rest = &bytes[i..];
                match SEQUENCES.iter().find(|(s, _)| rest.starts_with(s)) {
                    Some((s, code)) => {
                        i += s.len();
                        stroke(&mut out, *code, false, false);
                    }
                    None => stroke(&mut out, 0x01, false, false),
                }
            }
            b'\r' | b'\n' => stroke(&mut out, 0x1c, false, false),
            b'\t' => stroke(&mut out, 0x0f, false, false),
            0x7f | 0x08 => stroke(&mut out, 0x0e, false, false),
            0x01..=0x1a => {
                let (code, _) = ascii_key(b - 1 + b'a').expect("a letter");
                stroke(&mut out, code as u16, false, true);
            }
            _ => {
                if let Some((code, shift)) = ascii_key(b) {
                    stroke(&mut out, code as u16, shift, false);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_page_437_tables_are_complete() {
        assert_eq!(CP437_LOW.chars().count(), 32);
        assert_eq!(CP437_HIGH.chars().count(), 129);
        assert_eq!(cp437(b'A'), 'A');
        assert_eq!(cp437(0x01), '☺');
        assert_eq!(cp437(0x7f), '⌂');
        assert_eq!(cp437(0xb3), '│');
        assert_eq!(cp437(0xc9), '╔');
        assert_eq!(cp437(0xdb), '█');
        assert_eq!(cp437(0xfe), '■');
    }

    fn screen(text: &str, attr: u8, cursor: Option<(u32, u32)>) -> TextView {
        let cols = 4;
        let mut cells: Vec<(u8, u8)> = text.bytes().map(|b| (b, attr)).collect();
        cells.resize(8, (b' ', attr));
        TextView::Text(TextScreen {
            cols,
            rows: 2,
            cells,
            cursor,
            blink: true,
        })
    }

    #[test]
    fn a_text_screen_becomes_positioned_coloured_rows_and_the_cursor() {
        let mut out = Vec::new();
        // Grey on blue, cursor at row 1, column 2.
        render(&screen("ABCDef\u{1}", 0x17, Some((1, 2))), &mut out);
        let s = String::from_utf8(out).unwrap();
        let expect =
            "\x1b[?25l\x1b[1;1H\x1b[38;5;7m\x1b[48;5;4mABCD\x1b[2;1Hef☺ \x1b[0m\x1b[2;3H\x1b[?25h";
        assert_eq!(s, expect);
    }

    #[test]
    fn attribute_changes_switch_colours_and_blink_limits_the_background() {
        let mut view = screen("ab", 0x07, None);
        if let TextView::Text(s) = &mut view {
            s.cells[1].1 = 0xce; // blinking, bright red background: yellow on red
        }
        let mut out = Vec::new();
        render(&view, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("a\x1b[38;5;11m\x1b[48;5;1mb"),
            "colours of the second cell: {s:?}"
        );
        assert!(s.ends_with("\x1b[0m"), "no cursor shown: {s:?}");
    }

    #[test]
    fn a_graphics_mode_shows_a_notice() {
        let mut out = Vec::new();
        render(
            &TextView::Graphics {
                width: 640,
                height: 480,
            },
            &mut out,
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("640x480 graphics mode"), "{s:?}");
    }

    #[test]
    fn typed_bytes_become_set1_make_and_break_codes() {
        assert_eq!(keys_from_terminal(b"a"), [0x1e, 0x9e]);
        assert_eq!(keys_from_terminal(b"A"), [0x2a, 0x1e, 0x9e, 0xaa]);
        assert_eq!(
            keys_from_terminal(b"1!"),
            [0x02, 0x82, 0x2a, 0x02, 0x82, 0xaa]
        );
        assert_eq!(keys_from_terminal(b"\r"), [0x1c, 0x9c]);
        assert_eq!(keys_from_terminal(b"\x7f"), [0x0e, 0x8e]);
        assert_eq!(keys_from_terminal(b"\x1b"), [0x01, 0x81]);
        assert_eq!(keys_from_terminal(b" "), [0x39, 0xb9]);
        assert_eq!(
            keys_from_terminal(b"\x1b[A\x1b[D"),
            [0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0x4b, 0xe0, 0xcb]
        );
        assert_eq!(keys_from_terminal(b"\x1b[3~"), [0xe0, 0x53, 0xe0, 0xd3]);
        // Ctrl-C: Ctrl held around C.
        assert_eq!(keys_from_terminal(b"\x03"), [0x1d, 0x2e, 0xae, 0x9d]);
        assert_eq!(keys_from_terminal("é".as_bytes()), [] as [u8; 0]);
    }

    #[test]
    fn every_printable_ascii_character_has_a_key() {
        for c in 0x20..=0x7eu8 {
            let (code, _) = ascii_key(c).unwrap_or_else(|| panic!("no key for {:?}", c as char));
            assert!((0x02..=0x39).contains(&code), "{:?}: {code:#x}", c as char);
        }
    }
}
