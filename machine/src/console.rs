//! A console sink that can be read back: capture the 0xE9 debug console in tests or in an
//! embedder that wants the guest's output as bytes.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// A shared, growable byte buffer implementing [`Write`]. Clones share the same buffer:
/// hand one clone to [`MachineConfig::console`](crate::MachineConfig) and keep another
/// to read what the guest printed.
#[derive(Clone, Debug, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A writer that panicked mid-write leaves whole bytes behind: keep using them.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Everything written so far as text (invalid UTF-8 replaced with U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop the bytes written so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_buffer() {
        let buf = SharedBuf::new();
        let mut w: Box<dyn Write + Send> = Box::new(buf.clone());
        w.write_all(b"hello\n").unwrap();
        write!(w, "{}", 42).unwrap();
        w.flush().unwrap();
        assert_eq!(buf.contents(), b"hello\n42");
        assert_eq!(buf.text(), "hello\n42");
        assert_eq!(buf.len(), 8);
        buf.clear();
        assert!(buf.is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut buf = SharedBuf::new();
        buf.write_all(&[b'a', 0xff, b'b']).unwrap();
        assert_eq!(buf.text(), "a\u{fffd}b");
        assert_eq!(buf.contents(), vec![b'a', 0xff, b'b']);
    }
}
