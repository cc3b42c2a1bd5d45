//! `--gdb tcp:HOST:PORT`: a gdb remote stub (the `gdbstub` crate, i386 registers from
//! `gdbstub_arch`) on its own thread. It talks to the CPU thread through the machine's
//! `Debugger`: commands go over a channel (register and memory access run as closures on
//! the machine between slices) and a `HostInput::Wake` on the input channel wakes the run
//! loop; stops come back over another channel.
//!
//! One client at a time. When it detaches or its connection drops, breakpoints and
//! watchpoints go and the guest runs on; the next client may connect. `kill` ends ox86
//! with exit status 0 (as QEMU does).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use crossbeam_channel::{RecvTimeoutError, Sender};
use gdbstub::common::Signal;
use gdbstub::conn::{Connection, ConnectionExt};
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::reverse_exec::{
    ReplayLogPosition, ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind as GdbWatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86CoreRegs;
use gdbstub_arch::x86::X86_SSE;
use ox86_core::cpu::state::{CpuState, Seg};
use ox86_core::interp::x87::F80;
use ox86_machine::debug::{BreakKind, DebugCmd, DebugStop, Debugger, WatchKind};
use ox86_machine::{HostInput, Machine};

use crate::link::{Gone, Link};

/// Parse `tcp:HOST:PORT` (HOST may be empty for 127.0.0.1, or a bracketed IPv6
/// address) and listen there.
pub fn listen(spec: &str) -> Result<(TcpListener, SocketAddr)> {
    let Some(rest) = spec.strip_prefix("tcp:") else {
        bail!("--gdb `{spec}`: expected tcp:HOST:PORT (for example tcp::1234)");
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        bail!("--gdb `{spec}`: expected tcp:HOST:PORT (for example tcp::1234)");
    };
    let Ok(port) = port.parse::<u16>() else {
        bail!("--gdb `{spec}`: `{port}` is not a TCP port (0 to 65535)");
    };
    let host = match host {
        "" => "127.0.0.1",
        h => h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h),
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("--gdb `{spec}`: cannot resolve `{host}`"))?
        .collect();
    let listener = TcpListener::bind(&addrs[..])
        .with_context(|| format!("cannot listen for gdb on {host}:{port}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Start the stub on `listener` and return the debugger for the machine. `wake` is a
/// sender on the machine's input channel. `explicit_exit_port`: the exit device has
/// QEMU's isa-debug-exit semantics (for the exit code gdb is told).
pub fn start(
    listener: TcpListener,
    wait: bool,
    wake: Sender<HostInput>,
    explicit_exit_port: bool,
) -> Result<Debugger> {
    let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
    let (stop_tx, stop_rx) = crossbeam_channel::unbounded();
    let link = Link {
        cmds: cmd_tx,
        stops: stop_rx,
        wake,
    };
    std::thread::Builder::new()
        .name("gdb".into())
        .spawn(move || serve(listener, link, explicit_exit_port))
        .context("cannot start the gdb stub's thread")?;
    Ok(Debugger::new(cmd_rx, stop_tx, wait))
}

fn serve(listener: TcpListener, link: Link, explicit_exit_port: bool) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of file descriptors or the like: try again later.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        if !session(stream, &link, explicit_exit_port) {
            return;
        }
    }
}

/// One client, from connection to disconnection. False when ox86 is ending.
fn session(stream: TcpStream, link: &Link, explicit_exit_port: bool) -> bool {
    let _ = stream.set_nodelay(true);
    // gdbstub takes the target to be stopped when a client connects (QEMU stops too).
    if link.send(DebugCmd::Attach).is_err() {
        return false;
    }
    loop {
        match link.stops.recv() {
            Ok(DebugStop::Attached) => break,
            Ok(_) => continue, // left over from an earlier client
            Err(_) => return false,
        }
    }
    let mut target = Ox86 {
        link: link.clone(),
        explicit_exit_port,
        exit_ack: None,
    };
    let gdb = GdbStub::new(Conn::new(stream));
    let result = gdb.run_blocking::<EventLoop>(&mut target);
    // Dropping the acknowledgement lets an exiting run loop go on.
    drop(target.exit_ack.take());
    match result {
        Ok(DisconnectReason::Disconnect) => link.send(DebugCmd::Detach).is_ok(),
        Ok(DisconnectReason::Kill) => {
            let _ = link.send(DebugCmd::Kill);
            false
        }
        Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => false,
        Err(e) if e.is_target_error() => false,
        Err(e) => {
            let msg = e.to_string();
            let eof = matches!(
                e.into_connection_error(),
                Some((ref io, _)) if matches!(
                    io.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::BrokenPipe
                )
            );
            if !eof {
                eprintln!("ox86: gdb: session ended: {msg}; the guest runs on");
            }
            link.send(DebugCmd::Detach).is_ok()
        }
    }
}

/// The client's TCP connection, with buffered reads and writes (gdbstub writes a byte at
/// a time and flushes at the end of each packet).
struct Conn {
    stream: TcpStream,
    input: VecDeque<u8>,
    output: Vec<u8>,
    /// The start of the last packet read (between `$` and `#`).
    packet: Vec<u8>,
    in_packet: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            input: VecDeque::new(),
            output: Vec::new(),
            packet: Vec::new(),
            in_packet: false,
        }
    }

    fn track(&mut self, b: u8) {
        match b {
            b'$' => {
                self.packet.clear();
                self.in_packet = true;
            }
            b'#' => self.in_packet = false,
            _ if self.in_packet && self.packet.len() < 16 => self.packet.push(b),
            _ => {}
        }
    }
}

impl Drop for Conn {
    /// gdbstub (without extended mode) ends the session on `vKill` without the `OK` gdb
    /// waits for (gdb then reports a lost connection instead of a killed inferior).
    fn drop(&mut self) {
        if self.packet.starts_with(b"vKill") {
            self.output.extend_from_slice(b"$OK#9a");
        }
        let _ = Connection::flush(self);
    }
}

impl Conn {
    /// Read what the socket has (blocking or not); false when nothing was there.
    fn fill(&mut self, block: bool) -> io::Result<bool> {
        self.flush()?;
        self.stream.set_nonblocking(!block)?;
        let mut buf = [0u8; 4096];
        let r = loop {
            match Read::read(&mut self.stream, &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        if !block {
            self.stream.set_nonblocking(false)?;
        }
        match r {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                self.input.extend(&buf[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Connection for Conn {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> io::Result<()> {
        self.output.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.output.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let r = Write::write_all(&mut self.stream, &self.output);
        self.output.clear();
        r
    }
}

impl ConnectionExt for Conn {
    fn read(&mut self) -> io::Result<u8> {
        while self.input.is_empty() {
            self.fill(true)?;
        }
        let b = self.input.pop_front().unwrap_or_default();
        self.track(b);
        Ok(b)
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.input.is_empty() {
            self.fill(false)?;
        }
        Ok(self.input.front().copied())
    }
}

/// The target gdbstub drives: every operation goes to the CPU thread.
struct Ox86 {
    link: Link,
    explicit_exit_port: bool,
    /// Held while gdb is told that the run ended.
    exit_ack: Option<Sender<()>>,
}

impl Ox86 {
    fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Machine) -> R + Send + 'static,
    ) -> TargetResult<R, Self> {
        self.link.with(f).map_err(TargetError::Fatal)
    }

    fn stop_reason(&mut self, stop: DebugStop) -> Option<SingleThreadStopReason<u32>> {
        Some(match stop {
            DebugStop::Attached => return None,
            DebugStop::Interrupted => SingleThreadStopReason::Signal(Signal::SIGINT),
            DebugStop::Step => SingleThreadStopReason::DoneStep,
            DebugStop::Breakpoint {
                kind: BreakKind::Software,
                ..
            } => SingleThreadStopReason::SwBreak(()),
            DebugStop::Breakpoint {
                kind: BreakKind::Hardware,
                ..
            } => SingleThreadStopReason::HwBreak(()),
            DebugStop::Watch { addr, kind } => SingleThreadStopReason::Watch {
                tid: (),
                kind: match kind {
                    WatchKind::Write => GdbWatchKind::Write,
                    WatchKind::Read => GdbWatchKind::Read,
                    WatchKind::Access => GdbWatchKind::ReadWrite,
                },
                addr,
            },
            DebugStop::HistoryStart => SingleThreadStopReason::ReplayLog {
                tid: None,
                pos: ReplayLogPosition::Begin,
            },
            DebugStop::Exited { end, ack } => {
                self.exit_ack = Some(ack);
                SingleThreadStopReason::Exited(
                    crate::run::end_status(self.explicit_exit_port, end) as u8
                )
            }
        })
    }
}

enum EventLoop {}

impl BlockingEventLoop for EventLoop {
    type Target = Ox86;
    type Connection = Conn;
    type StopReason = SingleThreadStopReason<u32>;

    fn wait_for_stop_reason(
        target: &mut Ox86,
        conn: &mut Conn,
    ) -> Result<Event<Self::StopReason>, WaitForStopReasonError<Gone, io::Error>> {
        loop {
            match target.link.stops.recv_timeout(Duration::from_millis(10)) {
                Ok(stop) => {
                    if let Some(reason) = target.stop_reason(stop) {
                        return Ok(Event::TargetStopped(reason));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WaitForStopReasonError::Target(Gone))
                }
            }
            if conn
                .peek()
                .map_err(WaitForStopReasonError::Connection)?
                .is_some()
            {
                let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                return Ok(Event::IncomingData(byte));
            }
        }
    }

    fn on_interrupt(target: &mut Ox86) -> Result<Option<Self::StopReason>, Gone> {
        // The stop (SIGINT) is reported when the CPU thread has stopped the guest.
        target.link.send(DebugCmd::Interrupt)?;
        Ok(None)
    }
}

impl Target for Ox86 {
    type Arch = X86_SSE;
    type Error = Gone;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

fn f80_bytes(v: F80) -> [u8; 10] {
    let mut b = [0; 10];
    b[..8].copy_from_slice(&v.sig.to_le_bytes());
    b[8..].copy_from_slice(&v.se.to_le_bytes());
    b
}

fn f80_from(b: &[u8; 10]) -> F80 {
    F80 {
        sig: u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
        se: u16::from_le_bytes([b[8], b[9]]),
    }
}

/// The registers gdb's i386 description holds. ox86 has no SSE: XMM0-7 read as zero and
/// MXCSR as its reset value.
fn gdb_regs(s: &CpuState, eflags: u32) -> X86CoreRegs {
    let r = &s.regs;
    let sel = |g: Seg| s.seg(g).selector as u32;
    let f = &s.fpu;
    let mut regs = X86CoreRegs {
        eax: r[0],
        ecx: r[1],
        edx: r[2],
        ebx: r[3],
        esp: r[4],
        ebp: r[5],
        esi: r[6],
        edi: r[7],
        eip: s.eip,
        eflags,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    regs.segments.cs = sel(Seg::Cs);
    regs.segments.ss = sel(Seg::Ss);
    regs.segments.ds = sel(Seg::Ds);
    regs.segments.es = sel(Seg::Es);
    regs.segments.fs = sel(Seg::Fs);
    regs.segments.gs = sel(Seg::Gs);
    for (i, st) in regs.st.iter_mut().enumerate() {
        *st = f80_bytes(f.st(i as u8));
    }
    regs.fpu.fctrl = f.cw as u32;
    regs.fpu.fstat = f.status() as u32;
    regs.fpu.ftag = f.tw as u32;
    regs.fpu.fiseg = f.fcs as u32;
    regs.fpu.fioff = f.fip;
    regs.fpu.foseg = f.fds as u32;
    regs.fpu.fooff = f.fdp;
    regs.fpu.fop = f.fop as u32;
    regs
}

/// Apply what gdb changed. Segment registers load their descriptor (unchecked); false if
/// one cannot be read.
fn set_regs(m: &mut Machine, new: &X86CoreRegs) -> bool {
    let old = gdb_regs(&m.cpu.s, m.cpu.eflags());
    if old != *new {
        m.debug_diverge();
    }
    let s = &mut m.cpu.s;
    s.regs = [
        new.eax, new.ecx, new.edx, new.ebx, new.esp, new.ebp, new.esi, new.edi,
    ];
    s.eip = new.eip;
    if new.eflags != old.eflags {
        s.flags.set(new.eflags);
    }
    let f = &mut s.fpu;
    if new.fpu.fstat != old.fpu.fstat {
        f.set_status(new.fpu.fstat as u16);
    }
    for (i, st) in new.st.iter().enumerate() {
        if *st != old.st[i] {
            let p = f.phys(i as u8);
            f.regs[p] = f80_from(st);
        }
    }
    f.cw = new.fpu.fctrl as u16;
    f.tw = new.fpu.ftag as u16;
    f.fcs = new.fpu.fiseg as u16;
    f.fip = new.fpu.fioff;
    f.fds = new.fpu.foseg as u16;
    f.fdp = new.fpu.fooff;
    f.fop = new.fpu.fop as u16 & 0x7ff;
    let segs = [
        (Seg::Cs, new.segments.cs),
        (Seg::Ss, new.segments.ss),
        (Seg::Ds, new.segments.ds),
        (Seg::Es, new.segments.es),
        (Seg::Fs, new.segments.fs),
        (Seg::Gs, new.segments.gs),
    ];
    segs.iter()
        .all(|&(seg, sel)| m.debug_load_segment(seg, sel as u16))
}

impl SingleThreadBase for Ox86 {
    fn read_registers(&mut self, regs: &mut X86CoreRegs) -> TargetResult<(), Self> {
        *regs = self.with(|m| gdb_regs(&m.cpu.s, m.cpu.eflags()))?;
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86CoreRegs) -> TargetResult<(), Self> {
        let regs = regs.clone();
        if self.with(move |m| set_regs(m, &regs))? {
            Ok(())
        } else {
            Err(TargetError::NonFatal)
        }
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8]) -> TargetResult<usize, Self> {
        let len = data.len();
        let (n, buf) = self.with(move |m| {
            let mut buf = vec![0; len];
            let n = m.debug_read(start, &mut buf);
            (n, buf)
        })?;
        if n == 0 && len != 0 {
            return Err(TargetError::Errno(14)); // EFAULT: not mapped
        }
        data[..n].copy_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_addrs(&mut self, start: u32, data: &[u8]) -> TargetResult<(), Self> {
        let bytes = data.to_vec();
        let n = self.with(move |m| m.debug_write(start, &bytes))?;
        if n == data.len() {
            Ok(())
        } else {
            Err(TargetError::Errno(14))
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for Ox86 {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Gone> {
        self.link.send(DebugCmd::Continue)
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, (), Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, (), Self>> {
        Some(self)
    }
}

impl ReverseStep<()> for Ox86 {
    fn reverse_step(&mut self, _tid: ()) -> Result<(), Gone> {
        self.link.send(DebugCmd::ReverseStep)
    }
}

impl ReverseCont<()> for Ox86 {
    fn reverse_cont(&mut self) -> Result<(), Gone> {
        self.link.send(DebugCmd::ReverseContinue)
    }
}

impl SingleThreadSingleStep for Ox86 {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Gone> {
        self.link.send(DebugCmd::Step)
    }
}

impl Breakpoints for Ox86 {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl Ox86 {
    fn add_break(&mut self, addr: u32, kind: BreakKind) -> TargetResult<bool, Self> {
        self.with(move |m| {
            if let Some(d) = m.debug.as_mut() {
                d.add_breakpoint(addr, kind);
                true
            } else {
                false
            }
        })
    }

    fn remove_break(&mut self, addr: u32) -> TargetResult<bool, Self> {
        self.with(move |m| m.debug.as_mut().is_some_and(|d| d.remove_breakpoint(addr)))
    }
}

impl SwBreakpoint for Ox86 {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.add_break(addr, BreakKind::Software)
    }

    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.remove_break(addr)
    }
}

impl HwBreakpoint for Ox86 {
    fn add_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.add_break(addr, BreakKind::Hardware)
    }

    fn remove_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.remove_break(addr)
    }
}

fn watch_kind(k: GdbWatchKind) -> WatchKind {
    match k {
        GdbWatchKind::Write => WatchKind::Write,
        GdbWatchKind::Read => WatchKind::Read,
        GdbWatchKind::ReadWrite => WatchKind::Access,
    }
}

impl HwWatchpoint for Ox86 {
    fn add_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: GdbWatchKind,
    ) -> TargetResult<bool, Self> {
        let kind = watch_kind(kind);
        self.with(move |m| {
            m.debug
                .as_mut()
                .is_some_and(|d| d.add_watchpoint(addr, len, kind))
        })
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: GdbWatchKind,
    ) -> TargetResult<bool, Self> {
        let kind = watch_kind(kind);
        self.with(move |m| {
            m.debug
                .as_mut()
                .is_some_and(|d| d.remove_watchpoint(addr, len, kind))
        })
    }
}

impl MonitorCmd for Ox86 {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), Gone> {
        let cmd = String::from_utf8_lossy(cmd).into_owned();
        let text = self.link.with(move |m| crate::monitor::command(m, &cmd))?;
        let _ = out.write_str(&text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for bad in [
            "1234",
            "tcp:1234",
            "udp::1234",
            "tcp::port",
            "tcp::70000",
            "tcp:",
        ] {
            assert!(listen(bad).is_err(), "{bad}");
        }
        let (_l, a) = listen("tcp::0").unwrap();
        assert!(a.ip().is_loopback());
        let (_l, a) = listen("tcp:127.0.0.1:0").unwrap();
        assert_ne!(a.port(), 0);
    }
}
