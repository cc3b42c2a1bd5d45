//! The channels between a debugger front end (the gdb stub, `ox86 debug`) on its own
//! thread and the CPU thread: commands to the machine's `Debugger`, stops back, and a
//! wake-up on the machine's input channel.

use crossbeam_channel::{Receiver, Sender};
use ox86_machine::debug::{DebugCmd, DebugStop};
use ox86_machine::{HostInput, Machine};

/// The channels to the CPU thread.
#[derive(Clone)]
pub struct Link {
    pub cmds: Sender<DebugCmd>,
    pub stops: Receiver<DebugStop>,
    pub wake: Sender<HostInput>,
}

/// The machine is no longer running (the run ended).
#[derive(Debug)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the machine has stopped")
    }
}

impl Link {
    pub fn send(&self, cmd: DebugCmd) -> Result<(), Gone> {
        self.cmds.send(cmd).map_err(|_| Gone)?;
        let _ = self.wake.send(HostInput::Wake);
        Ok(())
    }

    /// Run `f` on the machine (between slices) and return its result.
    pub fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Machine) -> R + Send + 'static,
    ) -> Result<R, Gone> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(DebugCmd::Exec(Box::new(move |m| {
            let _ = tx.send(f(m));
        })))?;
        rx.recv().map_err(|_| Gone)
    }
}
