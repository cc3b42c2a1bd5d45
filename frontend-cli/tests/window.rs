//! `--display window` on a virtual X server (Xvfb): the window must show what
//! `--screenshot` writes for the same VGA test ROM (text, mode 13h doubled to 640x400,
//! planar mode 12h, a VBE mode), keys typed into it must reach the guest's keyboard, and
//! closing it (the window manager's WM_DELETE_WINDOW), Ctrl-A x or the guest's own exit end
//! the run with status 0. The window's contents are read back with `xwd` (x11-apps);
//! keys are typed with `xdotool`; the close message is sent by a few lines of Python
//! (ctypes and libX11). Without Xvfb or xwd the tests say so and are skipped; the other
//! tools skip only their part. Also: with no X server, one error line and a non-zero
//! status; and a run's output and instruction count are the same with a window and
//! without.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{describe, workspace, TempDir};

/// An Xvfb server on a display number it picks itself (`-displayfd`), stopped on drop.
/// One at a time: servers started together may pick the same number.
struct Xvfb {
    child: Child,
    display: String,
    _one: MutexGuard<'static, ()>,
}

static ONE_SERVER: Mutex<()> = Mutex::new(());

impl Xvfb {
    /// None (and the reason printed) when Xvfb or xwd is not installed.
    fn start() -> Option<Xvfb> {
        let one = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
        if !have("xwd", &["-help"]) {
            eprintln!("skipped: xwd is not installed (apt install x11-apps, or scripts/deps.sh)");
            return None;
        }
        let child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
                // Without it the server resets when its last client leaves, and a client
                // connecting during the reset (the next ox86 run) is refused.
                "-noreset",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: cannot start Xvfb ({e}): apt install xvfb, or scripts/deps.sh");
                return None;
            }
        };
        // Xvfb writes its display number when it is ready for clients.
        let mut out = child.stdout.take().expect("piped");
        let mut number = String::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            number.push(b[0] as char);
        }
        assert!(
            !number.trim().is_empty(),
            "Xvfb did not report a display number"
        );
        let x = Xvfb {
            child,
            display: format!(":{}", number.trim()),
            _one: one,
        };
        // Reported ready is not always accepting yet: wait until a client gets in.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = Command::new("xwd")
                .args(["-root", "-silent", "-display", &x.display])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Xvfb on {} accepts no clients",
                x.display
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(x)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so that the server removes its lock file and socket for the next.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Is `tool` installed (does it start)?
fn have(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn rom(name: &str) -> PathBuf {
    workspace().join(format!("test-roms/bin/{name}.bin"))
}

/// A picture: width, height, 0xRRGGBB pixels.
#[derive(Clone, PartialEq, Eq)]
struct Picture {
    width: u32,
    height: u32,
    pixels: Vec<u32>,
}

impl Picture {
    fn at(&self, x: u32, y: u32) -> u32 {
        self.pixels[(y * self.width + x) as usize]
    }

    /// Each pixel `k` times as wide and high.
    fn scaled(&self, k: u32) -> Picture {
        let (w, h) = (self.width * k, self.height * k);
        let pixels = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| self.at(x / k, y / k))
            .collect();
        Picture {
            width: w,
            height: h,
            pixels,
        }
    }

    /// The first pixel that differs from `other`'s, for messages.
    fn first_difference(&self, other: &Picture) -> Option<(u32, u32, u32, u32)> {
        if (self.width, self.height) != (other.width, other.height) {
            return Some((self.width, self.height, other.width, other.height));
        }
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .find(|&(x, y)| self.at(x, y) != other.at(x, y))
            .map(|(x, y)| (x, y, self.at(x, y), other.at(x, y)))
    }
}

/// What `ox86 run --screenshot` draws for `rom` (the picture the window must show).
fn screenshot(rom_name: &str) -> Picture {
    let dir = TempDir::new(&format!("window-shot-{rom_name}"));
    let out = dir.path("s.png");
    let o = Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(["run", "--serial", "none", "--bios"])
        .arg(rom(rom_name))
        .arg("--screenshot")
        .arg(&out)
        .output()
        .expect("could not start the ox86 binary");
    assert!(o.status.success(), "{rom_name}: {}", describe(&o));
    let file = std::fs::File::open(&out).expect("the screenshot was written");
    let mut r = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut rgb = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut rgb).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = rgb
        .chunks(3)
        .map(|p| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32)
        .collect();
    Picture {
        width: info.width,
        height: info.height,
        pixels,
    }
}

/// An XWD image (what `xwd` writes) of a TrueColor window, 32 bits per pixel.
fn parse_xwd(d: &[u8]) -> Option<Picture> {
    let field = |i: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            d.get(i * 4..i * 4 + 4)?.try_into().ok()?,
        ))
    };
    let header = field(0)? as usize;
    let (width, height) = (field(4)?, field(5)?);
    let byte_order = field(7)?;
    let bpp = field(11)?;
    let line = field(12)? as usize;
    let masks = (field(14)?, field(15)?, field(16)?);
    let colours = field(19)? as usize;
    if bpp != 32 || masks != (0xff0000, 0xff00, 0xff) {
        panic!("xwd image of {bpp} bits per pixel, masks {masks:x?}: expected a 24-bit TrueColor screen");
    }
    let data = d.get(header + colours * 12..)?;
    let mut pixels = Vec::with_capacity((width * height) as usize);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let p: [u8; 4] = data
                .get(y * line + x * 4..y * line + x * 4 + 4)?
                .try_into()
                .ok()?;
            let v = if byte_order == 0 {
                u32::from_le_bytes(p)
            } else {
                u32::from_be_bytes(p)
            };
            pixels.push(v & 0xff_ffff);
        }
    }
    Some(Picture {
        width,
        height,
        pixels,
    })
}

/// The contents of the window named `ox86` (None while there is none).
fn capture(x: &Xvfb) -> Option<Picture> {
    let o = Command::new("xwd")
        .args(["-silent", "-display", &x.display, "-name", "ox86"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    parse_xwd(&o.stdout)
}

/// `ox86 run --display window --bios ROM` on the X server; standard input piped (the
/// serial console: Ctrl-A x quits), output collected.
fn start_ox86(x: &Xvfb, rom_name: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ox86"))
        .args(["run", "--display", "window", "--bios"])
        .arg(rom(rom_name))
        .args(extra)
        .env("DISPLAY", &x.display)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start the ox86 binary")
}

/// Wait for a child's end (at most `limit`), killing it after that.
fn finish(mut child: Child, limit: Duration) -> Output {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let o = child.wait_with_output().expect("output");
    panic!("ox86 did not end within {limit:?}: {}", describe(&o));
}

/// Wait until the window shows `want` (at most 30 s); the last capture on failure.
fn wait_for_picture(x: &Xvfb, child: &mut Child, want: &Picture, what: &str) {
    let t0 = Instant::now();
    let mut last = None;
    while t0.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what}: ox86 ended ({st}) before showing the picture: {err}");
        }
        if let Some(p) = capture(x) {
            if &p == want {
                return;
            }
            last = Some(p);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match last {
        None => panic!("{what}: no window named ox86 appeared"),
        Some(p) => panic!(
            "{what}: the window ({}x{}) never showed the screenshot's picture ({}x{}); first difference (x, y, window, screenshot): {:x?}",
            p.width,
            p.height,
            want.width,
            want.height,
            p.first_difference(want)
        ),
    }
}

/// Show `rom`'s picture in the window, check it against `--screenshot` of `base`
/// (enlarged `scale` times), then end the run by typing Ctrl-A x on the console.
fn window_shows(x: &Xvfb, rom_name: &str, base: &str, scale: u32) {
    let want = screenshot(base).scaled(scale);
    let mut child = start_ox86(x, rom_name, &[]);
    wait_for_picture(x, &mut child, &want, rom_name);
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(b"\x01x").expect("write Ctrl-A x");
    drop(stdin);
    let o = finish(child, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{rom_name}: {}", describe(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("window: waiting for keys"), "{}", describe(&o));
}

#[test]
fn the_window_shows_text_and_graphics_modes() {
    let Some(x) = Xvfb::start() else {
        return;
    };
    window_shows(&x, "window_text", "vga_text", 1);
    window_shows(&x, "window_mode13", "vga_mode13", 2);
    window_shows(&x, "window_mode12", "vga_mode12", 1);
    window_shows(&x, "window_vbe", "vga_vbe", 1);
}

#[test]
fn keys_typed_in_the_window_reach_the_guest() {
    let Some(x) = Xvfb::start() else {
        return;
    };
    if !have("xdotool", &["version"]) {
        eprintln!("skipped: xdotool is not installed (apt install xdotool, or scripts/deps.sh)");
        return;
    }
    let want = screenshot("vga_mode13").scaled(2);
    let mut child = start_ox86(&x, "window_mode13", &[]);
    wait_for_picture(&x, &mut child, &want, "window_mode13");
    let xdo = |args: &[&str]| {
        let o = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &x.display)
            .output()
            .expect("xdotool");
        assert!(o.status.success(), "xdotool {args:?}: {}", describe(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let id = xdo(&["search", "--name", "^ox86$"]);
    let id = id.lines().next().expect("the window's id").to_string();
    xdo(&["windowfocus", "--sync", &id]);
    // 'a', Shift+Up (an extended key), F12, then Esc, which ends the ROM.
    xdo(&["key", "a"]);
    xdo(&["keydown", "shift"]);
    xdo(&["key", "Up"]);
    xdo(&["keyup", "shift"]);
    xdo(&["key", "F12"]);
    xdo(&["key", "Escape"]);
    let o = finish(child, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    // The controller does not translate: the guest reads set 2 (break = F0 code).
    let keys: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("key ").map(str::to_string))
        .collect();
    let want = [
        "1C", "F0", "1C", // a
        "12", "E0", "75", "E0", "F0", "75", "F0", "12", // Shift, Up, releases
        "07", "F0", "07", // F12
        "76", // Esc
    ];
    assert_eq!(keys, want, "{}", describe(&o));
}

/// Send WM_DELETE_WINDOW to window `id`, as a window manager does when its close button
/// is clicked (Python's ctypes and libX11). False when Python cannot do it.
fn close_window(x: &Xvfb, id: &str) -> bool {
    const SCRIPT: &str = r#"
import ctypes, sys
x = ctypes.CDLL("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
x.XInternAtom.restype = ctypes.c_ulong
x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
class ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("message_type", ctypes.c_ulong), ("format", ctypes.c_int), ("l", ctypes.c_long * 5)]
class Event(ctypes.Union):
    _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]
x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                         ctypes.POINTER(Event)]
x.XFlush.argtypes = [ctypes.c_void_p]
d = x.XOpenDisplay(None)
if not d:
    sys.exit("cannot open the display")
w = int(sys.argv[1], 0)
e = Event()
e.xclient.type = 33  # ClientMessage
e.xclient.window = w
e.xclient.message_type = x.XInternAtom(d, b"WM_PROTOCOLS", 0)
e.xclient.format = 32
e.xclient.l[0] = x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
x.XSendEvent(d, w, 0, 0, ctypes.byref(e))
x.XFlush(d)
"#;
    match Command::new("python3")
        .args(["-c", SCRIPT, id])
        .env("DISPLAY", &x.display)
        .output()
    {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "skipped: python3 could not send WM_DELETE_WINDOW: {}",
                describe(&o)
            );
            false
        }
        Err(e) => {
            eprintln!("skipped: python3 is not installed ({e}): cannot close the window as a window manager does");
            false
        }
    }
}

/// The window's id (`xdotool search`), or None without xdotool.
fn window_id(x: &Xvfb) -> Option<String> {
    let o = Command::new("xdotool")
        .args(["search", "--name", "^ox86$"])
        .env("DISPLAY", &x.display)
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

#[test]
fn closing_the_window_ends_the_run_cleanly() {
    let Some(x) = Xvfb::start() else {
        return;
    };
    let want = screenshot("vga_mode12");
    let mut child = start_ox86(&x, "window_mode12", &[]);
    wait_for_picture(&x, &mut child, &want, "window_mode12");
    let Some(id) = window_id(&x) else {
        eprintln!("skipped: xdotool is not installed (apt install xdotool, or scripts/deps.sh)");
        return;
    };
    if !close_window(&x, &id) {
        return;
    }
    let o = finish(child, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).trim().is_empty(),
        "{}",
        describe(&o)
    );
}

#[test]
fn without_an_x_server_one_error_line() {
    for display in [None, Some(":250")] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ox86"));
        c.args(["run", "--display", "window"]).stdin(Stdio::null());
        match display {
            None => c.env_remove("DISPLAY"),
            Some(d) => c.env("DISPLAY", d),
        };
        let o = c.output().expect("could not start the ox86 binary");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{display:?}: {}", describe(&o));
        assert_eq!(err.lines().count(), 1, "{display:?}: {}", describe(&o));
        assert!(
            err.starts_with("ox86: ")
                && err.contains("--display text or none")
                && err.contains("DISPLAY"),
            "{display:?}: {}",
            describe(&o)
        );
        assert!(o.stdout.is_empty(), "{display:?}: {}", describe(&o));
    }
}

/// The guest runs the same with a window as without: same output, same instruction count.
#[test]
fn a_window_does_not_change_the_run() {
    let Some(x) = Xvfb::start() else {
        return;
    };
    for rom_name in ["vga_mode12", "vga_vbe", "intloop"] {
        let run = |display: &str| {
            Command::new(env!("CARGO_BIN_EXE_ox86"))
                .args(["run", "--stats", "--display", display, "--bios"])
                .arg(rom(rom_name))
                .env("DISPLAY", &x.display)
                .stdin(Stdio::null())
                .output()
                .expect("could not start the ox86 binary")
        };
        let (a, b) = (run("none"), run("window"));
        assert!(
            a.status.success() && b.status.success(),
            "{}\n{}",
            describe(&a),
            describe(&b)
        );
        assert_eq!(a.stdout, b.stdout, "{rom_name}");
        let insns = |o: &Output| {
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .find(|l| l.starts_with("instructions retired:"))
                .map(str::to_string)
                .expect("--stats")
        };
        assert_eq!(insns(&a), insns(&b), "{rom_name}");
    }
}
