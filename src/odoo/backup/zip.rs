//! Odoo's backup zip (`dump.sql`, `filestore/...`, `manifest.json`), as
//! its database manager and `dump_db` write it and `restore_db` reads it
//! (Python's `zipfile`). Entries are stored (not compressed: the dump is
//! text that compresses well, but a filestore is mostly images and PDFs
//! already compressed, and storing keeps the writer small), each with the
//! ZIP64 fields, so that a dump of any size and any number of files fit.
//! Each entry's header is written first with its checksum and sizes left
//! blank, its data streamed through the checksum, then the header patched.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Stands for a size or offset held in the ZIP64 fields.
const IN_ZIP64: u32 = 0xFFFF_FFFF;
/// "made by" Unix, format 4.5 (ZIP64); "needed" 4.5.
const MADE_BY: u16 = 0x032D;
const NEEDED: u16 = 45;
/// Names are UTF-8.
const UTF8: u16 = 1 << 11;

/// One entry written, for the central directory.
struct Entry {
    name: Vec<u8>,
    crc: u32,
    size: u64,
    offset: u64,
    mode: u32,
}

/// A zip file being written.
pub(crate) struct Writer {
    out: File,
    entries: Vec<Entry>,
}

impl Writer {
    pub(crate) fn create(path: &Path) -> io::Result<Writer> {
        Ok(Writer {
            out: File::create(path)?,
            entries: Vec::new(),
        })
    }

    /// Adds `name` (a `/`-separated path in the zip) with the content of
    /// the file `from`, stored.
    pub(crate) fn add(&mut self, name: &str, from: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut src = File::open(from)?;
        let mode = src.metadata()?.permissions().mode();
        let offset = self.out.stream_position()?;
        let name = name.as_bytes().to_vec();
        self.local_header(&name, 0, 0)?;
        let mut crc = Crc::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            self.out.write_all(&buf[..n])?;
            size += n as u64;
        }
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(offset))?;
        self.local_header(&name, crc.value(), size)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.entries.push(Entry {
            name,
            crc: crc.value(),
            size,
            offset,
            mode,
        });
        Ok(())
    }

    fn local_header(&mut self, name: &[u8], crc: u32, size: u64) -> io::Result<()> {
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend(0x0403_4b50u32.to_le_bytes());
        h.extend(NEEDED.to_le_bytes());
        h.extend(UTF8.to_le_bytes());
        h.extend(0u16.to_le_bytes()); // stored
        h.extend(0u16.to_le_bytes()); // time
        h.extend(0x0021u16.to_le_bytes()); // date: 1980-01-01
        h.extend(crc.to_le_bytes());
        h.extend(IN_ZIP64.to_le_bytes());
        h.extend(IN_ZIP64.to_le_bytes());
        h.extend((name.len() as u16).to_le_bytes());
        h.extend(20u16.to_le_bytes());
        h.extend(name);
        h.extend(1u16.to_le_bytes()); // the ZIP64 field: both sizes
        h.extend(16u16.to_le_bytes());
        h.extend(size.to_le_bytes());
        h.extend(size.to_le_bytes());
        self.out.write_all(&h)
    }

    /// The central directory and its ends; the file synced.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let start = self.out.stream_position()?;
        let mut cd = Vec::new();
        for e in &self.entries {
            cd.extend(0x0201_4b50u32.to_le_bytes());
            cd.extend(MADE_BY.to_le_bytes());
            cd.extend(NEEDED.to_le_bytes());
            cd.extend(UTF8.to_le_bytes());
            cd.extend(0u16.to_le_bytes());
            cd.extend(0u16.to_le_bytes());
            cd.extend(0x0021u16.to_le_bytes());
            cd.extend(e.crc.to_le_bytes());
            cd.extend(IN_ZIP64.to_le_bytes());
            cd.extend(IN_ZIP64.to_le_bytes());
            cd.extend((e.name.len() as u16).to_le_bytes());
            cd.extend(28u16.to_le_bytes());
            cd.extend(0u16.to_le_bytes()); // comment
            cd.extend(0u16.to_le_bytes()); // disk
            cd.extend(0u16.to_le_bytes()); // internal attributes
            cd.extend((e.mode << 16).to_le_bytes());
            cd.extend(IN_ZIP64.to_le_bytes());
            cd.extend(&e.name);
            cd.extend(1u16.to_le_bytes());
            cd.extend(24u16.to_le_bytes());
            cd.extend(e.size.to_le_bytes());
            cd.extend(e.size.to_le_bytes());
            cd.extend(e.offset.to_le_bytes());
        }
        let count = self.entries.len() as u64;
        let end64 = start + cd.len() as u64;
        cd.extend(0x0606_4b50u32.to_le_bytes());
        cd.extend(44u64.to_le_bytes());
        cd.extend(MADE_BY.to_le_bytes());
        cd.extend(NEEDED.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(count.to_le_bytes());
        cd.extend(count.to_le_bytes());
        cd.extend((end64 - start).to_le_bytes());
        cd.extend(start.to_le_bytes());
        cd.extend(0x0706_4b50u32.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(end64.to_le_bytes());
        cd.extend(1u32.to_le_bytes());
        cd.extend(0x0605_4b50u32.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        cd.extend(0xFFFFu16.to_le_bytes());
        cd.extend(0xFFFFu16.to_le_bytes());
        cd.extend(IN_ZIP64.to_le_bytes());
        cd.extend(IN_ZIP64.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        self.out.write_all(&cd)?;
        self.out.sync_all()
    }
}

/// CRC-32 (IEEE), as zip files carry it.
pub(super) struct Crc {
    table: [u32; 256],
    value: u32,
}

impl Crc {
    pub(super) fn new() -> Crc {
        let mut table = [0u32; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        Crc {
            table,
            value: 0xFFFF_FFFF,
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.value =
                self.table[((self.value ^ u32::from(b)) & 0xFF) as usize] ^ (self.value >> 8);
        }
    }

    pub(super) fn value(&self) -> u32 {
        self.value ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::Crc;

    #[test]
    fn the_checksum_is_crc32() {
        let mut crc = Crc::new();
        crc.update(b"123456789");
        assert_eq!(crc.value(), 0xCBF4_3926);
    }
}
