//! The debugger's side of the machine (what the gdb stub drives), without gdb: memory
//! through the guest's page tables without side effects, and breakpoints, stepping and
//! interrupts through the run loop.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use ox86_core::cpu::state::{CR0_PE, CR0_PG};
use ox86_machine::debug::{BreakKind, DebugCmd, DebugStop, Debugger, WatchKind};
use ox86_machine::{Boot, HostInput, Machine, MachineConfig, RunEnd, SharedBuf};

/// A 64 KiB ROM with `code` at F000:FF00 and a reset vector jumping there.
fn rom(code: &[u8]) -> Vec<u8> {
    let mut rom = vec![0xf4u8; 64 << 10];
    rom[0xff00..0xff00 + code.len()].copy_from_slice(code);
    rom[0xfff0..0xfff5].copy_from_slice(&[0xea, 0x00, 0xff, 0x00, 0xf0]); // jmp f000:ff00
    rom
}

fn machine(code: &[u8]) -> Machine {
    Machine::new(MachineConfig::new(2 << 20, Boot::Firmware(rom(code)))).expect("machine")
}

#[test]
fn memory_through_page_tables_without_side_effects() {
    let mut m = machine(&[0xf4]);
    let mem = &mut m.board.mem;
    // Page directory at 0x1000: entry 0 -> table at 0x2000; entry 1 -> 4 MiB page at 0.
    mem.write_bytes(0x1000, &(0x2000u32 | 3).to_le_bytes());
    mem.write_bytes(0x1004, &(0x87u32).to_le_bytes()); // P, RW, US, PS
                                                       // Table entry 5 -> frame 0x7000, present, read-only; entry 6 absent.
    mem.write_bytes(0x2000 + 5 * 4, &(0x7000u32 | 1).to_le_bytes());
    mem.write_bytes(0x7123, b"ox86");
    m.cpu.s.cr3 = 0x1000;
    m.cpu.s.cr0 |= CR0_PE | CR0_PG;
    m.cpu.s.cr4 |= 1 << 4; // PSE
    m.cpu.flush_tlb();

    let mut buf = [0u8; 4];
    assert_eq!(m.debug_read(0x5123, &mut buf), 4);
    assert_eq!(&buf, b"ox86");
    // Accessed bits untouched, no CR2.
    assert_eq!(m.board.mem.read_u32(0x1000), 0x2003);
    assert_eq!(m.board.mem.read_u32(0x2014), 0x7001);
    assert_eq!(m.cpu.s.cr2, 0);
    // Unmapped page; a read running into it stops there.
    assert_eq!(m.debug_read(0x6000, &mut buf), 0);
    assert_eq!(m.debug_read(0x5ffe, &mut buf), 2);
    // A 4 MiB page: linear 0x400000 + x is physical x.
    assert_eq!(m.debug_read(0x407123, &mut buf), 4);
    assert_eq!(&buf, b"ox86");
    let w = m.debug_walk(0x407123);
    assert!(w.large && w.user && w.writable);
    assert_eq!(w.phys, Some(0x7123));
    let w = m.debug_walk(0x5123);
    assert!(!w.large && !w.writable && !w.user);
    assert_eq!(w.pte.map(|e| e.addr), Some(0x2014));
    assert_eq!(m.debug_walk(0x6000).phys, None);
    // Writes go through the tables too, ignoring the read-only bit.
    assert_eq!(m.debug_write(0x5124, b"X"), 1);
    assert_eq!(m.board.mem.read_u8(0x7124), b'X');
    assert_eq!(m.debug_write(0x5fff, b"ab"), 1);
    assert_eq!(m.board.mem.read_u32(0x2014), 0x7001, "no dirty bit");
}

/// Real mode at F000:FF00: an IRQ0 handler in the IVT, the PIC unmasking IRQ0, the PIT
/// firing every 10 ticks, then `sti; jmp $`. The handler (at 0xFF39) increments the word
/// at 0x500 and acknowledges the PIC.
const IRQ_CODE: &[u8] = &[
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x70, // cli; ds = ss = 0; sp
    0xc7, 0x06, 0x80, 0x00, 0x39, 0xff, // mov word [0x80], handler
    0xc7, 0x06, 0x82, 0x00, 0x00, 0xf0, // mov word [0x82], 0xf000
    0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21, // ICW1, ICW2 = 0x20
    0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, // ICW3, ICW4
    0xb0, 0xfe, 0xe6, 0x21, // OCW1: only IRQ0
    0xb0, 0x34, 0xe6, 0x43, 0xb0, 0x0a, 0xe6, 0x40, 0x30, 0xc0, 0xe6, 0x40, // PIT ch0 = 10
    0xfb, // sti
    0xeb, 0xfe, // 0xff37: jmp $
    0xff, 0x06, 0x00, 0x05, // 0xff39: inc word [0x500]
    0xb0, 0x20, 0xe6, 0x20, // EOI
    0xcf, // iret
];
const SPIN: u32 = 0xfff37;
const HANDLER: u32 = 0xfff39;

struct Client {
    cmds: Sender<DebugCmd>,
    stops: Receiver<DebugStop>,
    wake: Sender<HostInput>,
}

impl Client {
    fn send(&self, c: DebugCmd) {
        self.cmds.send(c).expect("machine gone");
        self.wake.send(HostInput::Wake).expect("machine gone");
    }
    fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Machine) -> R + Send + 'static) -> R {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(DebugCmd::Exec(Box::new(move |m| {
            let _ = tx.send(f(m));
        })));
        rx.recv_timeout(Duration::from_secs(10)).expect("no answer")
    }
    fn stop(&self) -> DebugStop {
        self.stops
            .recv_timeout(Duration::from_secs(10))
            .expect("the guest did not stop")
    }
    /// CS.base + EIP, interrupts delivered, the handler's counter.
    fn state(&self) -> (u32, u64, u16) {
        self.with(|m| {
            let cs = m.cpu.s.segs[1].base;
            (
                cs.wrapping_add(m.cpu.s.eip),
                m.cpu.stats.interrupts,
                m.board.mem.read_u16(0x500),
            )
        })
    }
}

/// A machine running `code` on its own thread, waiting for a debugger.
fn start(code: &'static [u8]) -> (Client, std::thread::JoinHandle<RunEnd>) {
    start_with(code, SharedBuf::new())
}

/// The same, with the 0xE9 console going to `console` and the exit port at 0x501.
fn start_with(
    code: &'static [u8],
    console: SharedBuf,
) -> (Client, std::thread::JoinHandle<RunEnd>) {
    let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
    let (stop_tx, stop_rx) = crossbeam_channel::unbounded();
    let (in_tx, in_rx) = crossbeam_channel::unbounded();
    let run = std::thread::spawn(move || {
        let mut cfg = MachineConfig::new(2 << 20, Boot::Firmware(rom(code)));
        cfg.input = Some(in_rx);
        cfg.console = Box::new(console);
        cfg.exit_port = Some(0x501);
        let mut m = Machine::new(cfg).expect("machine");
        m.debug = Some(Debugger::new(cmd_rx, stop_tx, true));
        m.run(None).end
    });
    let c = Client {
        cmds: cmd_tx,
        stops: stop_rx,
        wake: in_tx,
    };
    c.send(DebugCmd::Attach);
    assert!(matches!(c.stop(), DebugStop::Attached));
    (c, run)
}

#[test]
fn breakpoint_on_an_interrupt_handler_stops_before_its_first_instruction() {
    let (c, run) = start(IRQ_CODE);
    assert_eq!(
        c.state(),
        (0xffff_fff0, 0, 0),
        "stopped at the reset vector"
    );
    c.with(|m| {
        let d = m.debug.as_mut().expect("debugger");
        d.add_breakpoint(HANDLER, BreakKind::Software);
    });
    c.send(DebugCmd::Continue);
    match c.stop() {
        DebugStop::Breakpoint { addr, .. } => assert_eq!(addr, HANDLER),
        s => panic!("expected the breakpoint, got {s:?}"),
    }
    let (at, irqs, count) = c.state();
    assert_eq!(
        (at, irqs, count),
        (HANDLER, 1, 0),
        "at the handler, not past it"
    );
    // One step runs exactly the INC.
    c.send(DebugCmd::Step);
    assert!(matches!(c.stop(), DebugStop::Step));
    assert_eq!(c.state(), (HANDLER + 4, 1, 1));
    // Continue: the next interrupt stops at the handler again.
    c.send(DebugCmd::Continue);
    assert!(matches!(c.stop(), DebugStop::Breakpoint { .. }));
    assert_eq!(c.state(), (HANDLER, 2, 1));
    // Without the breakpoint, stepping from the spin loop eventually enters the handler:
    // the step that takes the interrupt stops at its first instruction.
    c.with(|m| {
        m.debug
            .as_mut()
            .expect("debugger")
            .remove_breakpoint(HANDLER);
    });
    let mut entered = false;
    for _ in 0..200_000 {
        c.send(DebugCmd::Step);
        assert!(matches!(c.stop(), DebugStop::Step));
        let (at, irqs, _) = c.state();
        if irqs == 3 {
            assert_eq!(at, HANDLER, "the step that took IRQ0 ran no handler code");
            entered = true;
            break;
        }
        assert!(
            at == SPIN || (HANDLER..HANDLER + 9).contains(&at) || at < HANDLER,
            "{at:x}"
        );
    }
    assert!(entered, "IRQ0 never came while stepping");
    c.send(DebugCmd::Kill);
    assert_eq!(run.join().expect("run thread"), RunEnd::Quit);
}

#[test]
fn watchpoints_and_interrupt() {
    let (c, run) = start(IRQ_CODE);
    c.with(|m| {
        let d = m.debug.as_mut().expect("debugger");
        assert!(d.add_watchpoint(0x500, 2, WatchKind::Write));
        assert!(!d.add_watchpoint(0x600, 0, WatchKind::Write), "empty range");
    });
    c.send(DebugCmd::Continue);
    match c.stop() {
        DebugStop::Watch { addr, kind } => assert_eq!((addr, kind), (0x500, WatchKind::Write)),
        s => panic!("expected the watchpoint, got {s:?}"),
    }
    // Reported after the INC, as x86 data breakpoints are.
    assert_eq!(c.state(), (HANDLER + 4, 1, 1));
    // A read watchpoint on the counter's high byte: the INC's word read hits it.
    c.with(|m| {
        let d = m.debug.as_mut().expect("debugger");
        assert!(d.remove_watchpoint(0x500, 2, WatchKind::Write));
        assert!(d.add_watchpoint(0x501, 1, WatchKind::Read));
    });
    c.send(DebugCmd::Continue);
    assert!(matches!(
        c.stop(),
        DebugStop::Watch {
            addr: 0x501,
            kind: WatchKind::Read
        }
    ));
    assert_eq!(c.state(), (HANDLER + 4, 2, 2));
    // Without breakpoints and watchpoints the guest runs at full speed until interrupted.
    c.with(|m| {
        assert!(m
            .debug
            .as_mut()
            .expect("debugger")
            .remove_watchpoint(0x501, 1, WatchKind::Read));
    });
    // (On a loaded host the guest may need a few tries to get CPU time.)
    let mut irqs = 0;
    for _ in 0..100 {
        c.send(DebugCmd::Continue);
        std::thread::sleep(Duration::from_millis(50));
        c.send(DebugCmd::Interrupt);
        assert!(matches!(c.stop(), DebugStop::Interrupted));
        irqs = c.state().1;
        if irqs > 2 {
            break;
        }
    }
    assert!(irqs > 2, "the guest ran: {irqs} interrupts");
    // Detach: the guest runs on; kill ends the run.
    c.send(DebugCmd::Detach);
    c.send(DebugCmd::Kill);
    assert_eq!(run.join().expect("run thread"), RunEnd::Quit);
}

/// Real mode at F000:FF00: poll COM1 for bytes, fold each into BL (add, rotate), echo it
/// to port 0xE9, and at a newline write BL to the exit port.
const ECHO_CODE: &[u8] = &[
    0x31, 0xdb, // xor bx,bx
    0xba, 0xfd, 0x03, // ff02: mov dx,0x3fd
    0xec, // in al,dx
    0xa8, 0x01, // test al,1
    0x74, 0xf8, // jz ff02
    0xba, 0xf8, 0x03, // mov dx,0x3f8
    0xec, // in al,dx
    0x00, 0xc3, // ff0e: add bl,al
    0xd0, 0xc3, // rol bl,1
    0xe6, 0xe9, // out 0xe9,al
    0x3c, 0x0a, // cmp al,10
    0x75, 0xea, // jne ff02
    0x88, 0xd8, // mov al,bl
    0xba, 0x01, 0x05, // mov dx,0x501
    0xee, // out dx,al
    0xf4, // hlt
];
const GOT_BYTE: u32 = 0xfff0e;

/// Serial input arrives while the guest polls for it, at points that depend on the host's
/// timing; going back and running forward again replays it from the log at exactly the
/// same points, and the output it caused is not repeated.
#[test]
fn reverse_execution_replays_serial_input_exactly() {
    let console = SharedBuf::new();
    let (c, run) = start_with(ECHO_CODE, console.clone());
    c.with(|m| {
        let d = m.debug.as_mut().expect("debugger");
        d.add_breakpoint(GOT_BYTE, BreakKind::Software);
    });
    // (position, AL, BL) at a stop.
    let at = |c: &Client| {
        c.with(|m| {
            let s = &m.cpu.stats;
            let r = m.cpu.s.regs;
            (
                s.instructions + s.exceptions + s.interrupts,
                m.cpu.s.eip,
                r[0] & 0xff,
                r[3] & 0xff,
            )
        })
    };
    let mut hits = Vec::new();
    for b in [b'a', b'b', b'\n'] {
        c.send(DebugCmd::Continue);
        std::thread::sleep(Duration::from_millis(30)); // the guest spins meanwhile
        c.wake
            .send(HostInput::Serial(vec![b]))
            .expect("machine gone");
        assert!(matches!(c.stop(), DebugStop::Breakpoint { .. }));
        let h = at(&c);
        assert_eq!((h.1, h.2), (0xff0e, b as u32), "stopped on the byte read");
        hits.push(h);
    }
    assert!(hits[0].0 < hits[1].0 && hits[1].0 < hits[2].0);
    // Back to each earlier byte: the same point, the same registers.
    c.send(DebugCmd::ReverseContinue);
    assert!(matches!(c.stop(), DebugStop::Breakpoint { .. }));
    assert_eq!(at(&c), hits[1]);
    c.send(DebugCmd::ReverseContinue);
    assert!(matches!(c.stop(), DebugStop::Breakpoint { .. }));
    assert_eq!(at(&c), hits[0]);
    // Forward again: the logged input, not the host, supplies 'b' and the newline.
    c.send(DebugCmd::Continue);
    assert!(matches!(c.stop(), DebugStop::Breakpoint { .. }));
    assert_eq!(at(&c), hits[1]);
    c.send(DebugCmd::Continue);
    assert!(matches!(c.stop(), DebugStop::Breakpoint { .. }));
    assert_eq!(at(&c), hits[2]);
    c.send(DebugCmd::Continue);
    match c.stop() {
        DebugStop::Exited { end, .. } => {
            // BL = rol(rol(rol('a') + 'b') + '\n'), as the guest folds them.
            let mut bl = 0u8;
            for b in [b'a', b'b', b'\n'] {
                bl = bl.wrapping_add(b).rotate_left(1);
            }
            assert_eq!(end, RunEnd::ExitPort(bl as u32));
        }
        s => panic!("expected the end of the run, got {s:?}"),
    }
    assert_eq!(run.join().expect("run thread"), RunEnd::ExitPort(0xa4));
    assert_eq!(console.text(), "ab\n", "each echo once");
}
