//! Reader for SingleStepTests MOO files (gzip-compressed or plain).

use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MooError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a MOO file ({why})")]
    Format { path: String, why: String },
}

/// Register order of the REGS bitmask.
pub const REG_NAMES: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

#[derive(Clone, Debug, Default)]
pub struct MooState {
    /// Registers present (by REG_NAMES index).
    pub regs: [Option<u16>; 14],
    pub ram: Vec<(u32, u8)>,
}

#[derive(Clone, Debug, Default)]
pub struct MooTest {
    pub index: u32,
    pub name: String,
    pub bytes: Vec<u8>,
    pub init: MooState,
    pub fina: MooState,
    /// (vector, physical address of the pushed FLAGS word)
    pub exception: Option<(u8, u32)>,
    pub hash: [u8; 20],
}

#[derive(Clone, Debug)]
pub struct MooFile {
    pub cpu: String,
    pub tests: Vec<MooTest>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Next chunk: (type, payload).
    fn chunk(&mut self) -> Option<([u8; 4], &'a [u8])> {
        let t = self.take(4)?;
        let len = self.u32()? as usize;
        let body = self.take(len)?;
        Some(([t[0], t[1], t[2], t[3]], body))
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

fn parse_state(body: &[u8]) -> Option<MooState> {
    let mut st = MooState::default();
    let mut c = Cursor { data: body, pos: 0 };
    while !c.done() {
        let (t, b) = c.chunk()?;
        let mut p = Cursor { data: b, pos: 0 };
        match &t {
            b"REGS" => {
                let mask = p.u16()?;
                for (i, r) in st.regs.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *r = Some(p.u16()?);
                    }
                }
            }
            b"RAM " => {
                let n = p.u32()?;
                for _ in 0..n {
                    let a = p.u32()?;
                    let v = p.u8()?;
                    st.ram.push((a, v));
                }
            }
            _ => {}
        }
    }
    Some(st)
}

fn parse_test(body: &[u8]) -> Option<MooTest> {
    let mut c = Cursor { data: body, pos: 0 };
    let mut t = MooTest {
        index: c.u32()?,
        ..Default::default()
    };
    while !c.done() {
        let (ty, b) = c.chunk()?;
        let mut p = Cursor { data: b, pos: 0 };
        match &ty {
            b"NAME" => {
                let n = p.u32()? as usize;
                t.name = String::from_utf8_lossy(p.take(n)?).into_owned();
            }
            b"BYTS" => {
                let n = p.u32()? as usize;
                t.bytes = p.take(n)?.to_vec();
            }
            b"INIT" => t.init = parse_state(b)?,
            b"FINA" => t.fina = parse_state(b)?,
            b"EXCP" => t.exception = Some((p.u8()?, p.u32()?)),
            b"HASH" => t.hash.copy_from_slice(p.take(20)?),
            _ => {}
        }
    }
    Some(t)
}

/// Parse MOO bytes (already decompressed).
pub fn parse(data: &[u8], path: &str) -> Result<MooFile, MooError> {
    let bad = |why: &str| MooError::Format {
        path: path.to_string(),
        why: why.to_string(),
    };
    let mut c = Cursor { data, pos: 0 };
    let (t, head) = c.chunk().ok_or_else(|| bad("truncated header"))?;
    if &t != b"MOO " || head.len() < 12 {
        return Err(bad("missing MOO header"));
    }
    let cpu = String::from_utf8_lossy(&head[8..12]).trim().to_string();
    let mut tests = Vec::new();
    while !c.done() {
        let (t, body) = c.chunk().ok_or_else(|| bad("truncated chunk"))?;
        if &t == b"TEST" {
            tests.push(parse_test(body).ok_or_else(|| bad("malformed TEST chunk"))?);
        }
    }
    Ok(MooFile { cpu, tests })
}

/// Read a `.MOO` or `.MOO.gz` file.
pub fn load(path: &Path) -> Result<MooFile, MooError> {
    let p = path.display().to_string();
    let raw = std::fs::read(path).map_err(|source| MooError::Io {
        path: p.clone(),
        source,
    })?;
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| MooError::Io {
                path: p.clone(),
                source,
            })?;
        out
    } else {
        raw
    };
    parse(&data, &p)
}
