//! A raw disk image behind a drive: sector reads and writes on the host file, each
//! sector written with one positioned write (so a kill leaves a sector old or new, never
//! torn), or, in snapshot mode, into an in-memory copy-on-write overlay that is dropped
//! with the machine (the image is never written).
//!
//! Every method takes `&self`, so drives can share a disk (`Arc<Disk>`) and device state
//! that holds one stays `Clone` (debugger checkpoints copy device state; a disk's
//! contents are outside it, as a real disk's are).
//!
//! For machine snapshots a disk knows its file, can hand out and take back its overlay
//! (`overlay_blocks`, `load_overlay`), and can switch a writable image to an overlay
//! (`freeze`), so that the image a snapshot refers to stays as it was.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Written blocks by block index.
type Blocks = HashMap<u64, Vec<u8>>;

/// Hard disk sectors.
pub const SECTOR: usize = 512;

/// A disk image.
pub struct Disk {
    file: File,
    /// The image's file, as given to `open`.
    path: PathBuf,
    size: u64,
    /// Snapshot mode: written blocks by block index (blocks of `block` bytes). `None`
    /// inside: writes go to the file (a `freeze` switches to an overlay).
    overlay: Mutex<Option<Blocks>>,
    block: usize,
    read_only: bool,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk")
            .field("size", &self.size)
            .field("snapshot", &self.has_overlay())
            .finish()
    }
}

impl Disk {
    /// Open `path` as an image of `block`-byte blocks (512 for a hard disk, 2048 for a
    /// CD-ROM, which is read only and may end in a partial block, ignored). The error is
    /// one line, naming the file.
    pub fn open(
        path: &Path,
        block: usize,
        read_only: bool,
        snapshot: bool,
    ) -> Result<Disk, String> {
        let name = path.display();
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot open disk image {name}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("disk image {name} is a directory"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only && !snapshot)
            .open(path)
            .map_err(|e| format!("cannot open disk image {name}: {e}"))?;
        let size = file
            .metadata()
            .map_err(|e| format!("cannot open disk image {name}: {e}"))?
            .len();
        if size < block as u64 {
            return Err(format!(
                "disk image {name} is empty (less than one {block}-byte sector)"
            ));
        }
        if !read_only && !size.is_multiple_of(block as u64) {
            return Err(format!(
                "disk image {name} is {size} bytes, not a whole number of {block}-byte sectors"
            ));
        }
        Ok(Disk {
            file,
            path: path.to_path_buf(),
            size,
            overlay: Mutex::new(snapshot.then(HashMap::new)),
            block,
            read_only,
        })
    }

    /// The image's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> usize {
        self.block
    }

    /// Read only (a CD-ROM)?
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    fn overlay(&self) -> io::Result<std::sync::MutexGuard<'_, Option<Blocks>>> {
        self.overlay
            .lock()
            .map_err(|_| io::Error::other("snapshot overlay poisoned"))
    }

    /// Do writes go to an in-memory overlay (the image is never written)?
    pub fn has_overlay(&self) -> bool {
        self.overlay().is_ok_and(|o| o.is_some())
    }

    /// From now on keep writes in an overlay and leave the file as it is (data written so
    /// far is pushed to the file first). Nothing changes for a read-only disk or one that
    /// already has an overlay.
    pub fn freeze(&self) -> io::Result<()> {
        let mut o = self.overlay()?;
        if o.is_none() && !self.read_only {
            self.file.sync_data()?;
            *o = Some(HashMap::new());
        }
        Ok(())
    }

    /// The overlay's blocks in block order (empty without an overlay).
    pub fn overlay_blocks(&self) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let o = self.overlay()?;
        let mut v: Vec<_> = o
            .iter()
            .flat_map(|m| m.iter().map(|(&n, b)| (n, b.clone())))
            .collect();
        v.sort_unstable_by_key(|&(n, _)| n);
        Ok(v)
    }

    /// Replace the overlay with `blocks` (switching to overlay mode). Every block must lie
    /// on the disk and be one block long.
    pub fn load_overlay(&self, blocks: Vec<(u64, Vec<u8>)>) -> io::Result<()> {
        if blocks
            .iter()
            .any(|(n, b)| *n >= self.blocks() || b.len() != self.block)
        {
            return Err(io::Error::other(
                "an overlay block lies beyond the disk or has the wrong size",
            ));
        }
        *self.overlay()? = Some(blocks.into_iter().collect());
        Ok(())
    }

    /// Read the whole image file (not the overlay) through `f`, in pieces, in order.
    pub fn read_base(&self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        while at < self.size {
            let n = (self.size - at).min(buf.len() as u64) as usize;
            self.file.read_exact_at(&mut buf[..n], at)?;
            f(&buf[..n]);
            at += n as u64;
        }
        Ok(())
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of blocks.
    pub fn blocks(&self) -> u64 {
        self.size / self.block as u64
    }

    /// Read block `n` into `buf` (`buf.len()` is the block size).
    pub fn read_block(&self, n: u64, buf: &mut [u8]) -> io::Result<()> {
        if n >= self.blocks() {
            return Err(io::Error::other("block beyond the end of the disk"));
        }
        if let Some(o) = &*self.overlay()? {
            if let Some(b) = o.get(&n) {
                buf.copy_from_slice(b);
                return Ok(());
            }
        }
        self.file.read_exact_at(buf, n * self.block as u64)
    }

    /// Write block `n` from `buf`, with one positioned write.
    pub fn write_block(&self, n: u64, buf: &[u8]) -> io::Result<()> {
        if n >= self.blocks() || self.read_only {
            return Err(io::Error::other("cannot write this block"));
        }
        if let Some(o) = &mut *self.overlay()? {
            o.insert(n, buf.to_vec());
            return Ok(());
        }
        self.file.write_all_at(buf, n * self.block as u64)
    }

    /// Push written data to the disk (FLUSH CACHE, exit).
    pub fn flush(&self) -> io::Result<()> {
        if self.has_overlay() || self.read_only {
            return Ok(());
        }
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("ox86-disk-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn read_write_and_snapshot() {
        let p = temp("rw", &[7u8; 1024]);
        let d = Disk::open(&p, SECTOR, false, false).unwrap();
        assert_eq!(d.blocks(), 2);
        let mut b = [0u8; SECTOR];
        d.write_block(1, &[9u8; SECTOR]).unwrap();
        d.read_block(1, &mut b).unwrap();
        assert_eq!(b, [9u8; SECTOR]);
        assert!(d.read_block(2, &mut b).is_err());
        d.flush().unwrap();
        let s = Disk::open(&p, SECTOR, false, true).unwrap();
        s.write_block(0, &[1u8; SECTOR]).unwrap();
        s.read_block(0, &mut b).unwrap();
        assert_eq!(b, [1u8; SECTOR]);
        let on_disk = std::fs::read(&p).unwrap();
        assert_eq!(&on_disk[..SECTOR], &[7u8; SECTOR]);
        assert_eq!(&on_disk[SECTOR..], &[9u8; SECTOR]);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn freeze_keeps_the_image_and_overlays_round_trip() {
        let p = temp("freeze", &[3u8; 1024]);
        let d = Disk::open(&p, SECTOR, false, false).unwrap();
        d.write_block(0, &[4u8; SECTOR]).unwrap();
        assert!(!d.has_overlay());
        d.freeze().unwrap();
        assert!(d.has_overlay());
        d.write_block(1, &[5u8; SECTOR]).unwrap();
        let on_disk = std::fs::read(&p).unwrap();
        assert_eq!(&on_disk[..SECTOR], &[4u8; SECTOR]);
        assert_eq!(&on_disk[SECTOR..], &[3u8; SECTOR]);
        let blocks = d.overlay_blocks().unwrap();
        assert_eq!(blocks, vec![(1, vec![5u8; SECTOR])]);
        let e = Disk::open(&p, SECTOR, false, true).unwrap();
        e.load_overlay(blocks).unwrap();
        let mut b = [0u8; SECTOR];
        e.read_block(1, &mut b).unwrap();
        assert_eq!(b, [5u8; SECTOR]);
        assert!(e.load_overlay(vec![(2, vec![0; SECTOR])]).is_err());
        assert!(e.load_overlay(vec![(0, vec![0; 3])]).is_err());
        let mut whole = Vec::new();
        e.read_base(|c| whole.extend_from_slice(c)).unwrap();
        assert_eq!(whole, on_disk);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn bad_images() {
        let odd = temp("odd", &[0u8; 513]);
        let e = Disk::open(&odd, SECTOR, false, false).unwrap_err();
        assert!(e.contains("513 bytes"), "{e}");
        let empty = temp("empty", &[]);
        let e = Disk::open(&empty, SECTOR, false, false).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let dir = std::env::temp_dir();
        assert!(Disk::open(&dir, SECTOR, false, false)
            .unwrap_err()
            .contains("directory"));
        let missing = dir.join("ox86-no-such-disk");
        assert!(Disk::open(&missing, SECTOR, false, false)
            .unwrap_err()
            .contains("cannot open"));
        std::fs::remove_file(&odd).unwrap();
        std::fs::remove_file(&empty).unwrap();
    }
}
