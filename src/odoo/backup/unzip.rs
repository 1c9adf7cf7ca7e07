//! Reading an Odoo backup zip (`MODE=Restore`): the central directory
//! (ZIP64 too), then an entry's bytes, stored or deflated as Python's
//! `zipfile` writes them, streamed to a writer with the entry's CRC-32 and
//! size checked at the end, so that a truncated or damaged archive is an
//! error, never a short restore.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZFlush, MZStatus};

use super::zip::Crc;

/// One file of the archive, as its central directory describes it.
pub(crate) struct Entry {
    pub(crate) name: String,
    method: u16,
    crc: u32,
    packed: u64,
    pub(crate) size: u64,
    header: u64,
}

impl Entry {
    pub(crate) fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// An archive open for reading.
pub(crate) struct Archive {
    file: File,
    pub(crate) entries: Vec<Entry>,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a whole zip: {what}"),
    )
}

fn u16_at(b: &[u8], at: usize) -> io::Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| bad("a record is cut short"))
}

fn u32_at(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| bad("a record is cut short"))
}

fn u64_at(b: &[u8], at: usize) -> io::Result<u64> {
    let lo = u64::from(u32_at(b, at)?);
    let hi = u64::from(u32_at(b, at + 4)?);
    Ok(lo | hi << 32)
}

/// Where a record with signature `sig` starts in `tail`, searching back.
fn find_back(tail: &[u8], sig: u32) -> Option<usize> {
    let sig = sig.to_le_bytes();
    (0..tail.len().saturating_sub(3))
        .rev()
        .find(|&i| tail[i..i + 4] == sig)
}

impl Archive {
    /// Opens `path` and reads its central directory. A file that ends
    /// before its end record (a truncated copy) is refused here.
    pub(crate) fn open(path: &Path) -> io::Result<Archive> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        // The end record is in the last 22 bytes plus a comment of at most 64 KiB.
        let tail_len = len.min(22 + 65_535 + 20);
        file.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        file.read_exact(&mut tail)?;
        let end = find_back(&tail, 0x0605_4b50).ok_or_else(|| bad("no end record"))?;
        let mut count = u64::from(u16_at(&tail, end + 10)?);
        let mut cd_size = u64::from(u32_at(&tail, end + 12)?);
        let mut cd_at = u64::from(u32_at(&tail, end + 16)?);
        // ZIP64: the locator right before the end record names the real one.
        if end >= 20 && u32_at(&tail, end - 20)? == 0x0706_4b50 {
            let at = u64_at(&tail, end - 20 + 8)?;
            let mut rec = [0u8; 56];
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut rec)?;
            if u32_at(&rec, 0)? != 0x0606_4b50 {
                return Err(bad("the ZIP64 end record is not where its locator says"));
            }
            count = u64_at(&rec, 32)?;
            cd_size = u64_at(&rec, 40)?;
            cd_at = u64_at(&rec, 48)?;
        }
        if cd_at.checked_add(cd_size).is_none_or(|e| e > len) {
            return Err(bad("the central directory lies past the end of the file"));
        }
        let mut cd = vec![0u8; cd_size as usize];
        file.seek(SeekFrom::Start(cd_at))?;
        file.read_exact(&mut cd)?;
        let mut entries = Vec::new();
        let mut at = 0usize;
        for _ in 0..count {
            if u32_at(&cd, at)? != 0x0201_4b50 {
                return Err(bad("a central directory entry is damaged"));
            }
            let (name_len, extra_len, comment_len) = (
                usize::from(u16_at(&cd, at + 28)?),
                usize::from(u16_at(&cd, at + 30)?),
                usize::from(u16_at(&cd, at + 32)?),
            );
            let name_at = at + 46;
            let name = cd
                .get(name_at..name_at + name_len)
                .ok_or_else(|| bad("a name is cut short"))?;
            let mut entry = Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                method: u16_at(&cd, at + 10)?,
                crc: u32_at(&cd, at + 16)?,
                packed: u64::from(u32_at(&cd, at + 20)?),
                size: u64::from(u32_at(&cd, at + 24)?),
                header: u64::from(u32_at(&cd, at + 42)?),
            };
            let extra = cd
                .get(name_at + name_len..name_at + name_len + extra_len)
                .ok_or_else(|| bad("an extra field is cut short"))?;
            zip64_sizes(&mut entry, extra)?;
            entries.push(entry);
            at = name_at + name_len + extra_len + comment_len;
        }
        Ok(Archive { file, entries })
    }

    /// The entry named `name`, if the archive has it.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    /// Writes the bytes of entry `index` to `out`, checking its size and
    /// CRC-32 at the end.
    pub(crate) fn copy_to(&mut self, index: usize, out: &mut dyn Write) -> io::Result<u64> {
        let entry = self
            .entries
            .get(index)
            .ok_or_else(|| bad("no such entry"))?;
        let (name, method, crc, packed, size) = (
            entry.name.clone(),
            entry.method,
            entry.crc,
            entry.packed,
            entry.size,
        );
        let mut local = [0u8; 30];
        self.file.seek(SeekFrom::Start(entry.header))?;
        self.file.read_exact(&mut local)?;
        if u32_at(&local, 0)? != 0x0403_4b50 {
            return Err(bad(&format!("{name}: its header is damaged")));
        }
        let skip = u64::from(u16_at(&local, 26)?) + u64::from(u16_at(&local, 28)?);
        self.file.seek(SeekFrom::Current(skip as i64))?;
        let mut input = (&mut self.file).take(packed);
        let mut check = Crc::new();
        let written = match method {
            0 => copy_stored(&mut input, out, &mut check)?,
            8 => copy_inflated(&mut input, out, &mut check)?,
            other => {
                return Err(bad(&format!(
                    "{name}: compression method {other} (only stored and deflated are read)"
                )))
            }
        };
        if written != size || check.value() != crc {
            return Err(bad(&format!(
                "{name}: {written} bytes read of {size}, or its checksum differs"
            )));
        }
        Ok(written)
    }
}

/// The ZIP64 extra field's sizes and offset, for those the entry's record
/// left at 0xFFFFFFFF (in this order: size, packed size, header offset).
fn zip64_sizes(entry: &mut Entry, mut extra: &[u8]) -> io::Result<()> {
    const FULL: u64 = 0xFFFF_FFFF;
    while extra.len() >= 4 {
        let (tag, len) = (u16_at(extra, 0)?, usize::from(u16_at(extra, 2)?));
        let body = extra
            .get(4..4 + len)
            .ok_or_else(|| bad("an extra field is cut short"))?;
        if tag == 1 {
            let mut at = 0;
            for field in [&mut entry.size, &mut entry.packed, &mut entry.header] {
                if *field == FULL {
                    *field = u64_at(body, at)?;
                    at += 8;
                }
            }
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

fn copy_stored(input: &mut dyn Read, out: &mut dyn Write, crc: &mut Crc) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        crc.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn copy_inflated(input: &mut dyn Read, out: &mut dyn Write, crc: &mut Crc) -> io::Result<u64> {
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let (mut packed, mut plain) = (vec![0u8; 64 * 1024], vec![0u8; 256 * 1024]);
    let (mut start, mut end, mut total) = (0usize, 0usize, 0u64);
    loop {
        if start == end {
            start = 0;
            end = input.read(&mut packed)?;
        }
        let flush = if end == 0 {
            MZFlush::Finish
        } else {
            MZFlush::None
        };
        let step = inflate(&mut state, &packed[start..end], &mut plain, flush);
        start += step.bytes_consumed;
        crc.update(&plain[..step.bytes_written]);
        out.write_all(&plain[..step.bytes_written])?;
        total += step.bytes_written as u64;
        match step.status {
            Ok(MZStatus::StreamEnd) => return Ok(total),
            Ok(_) if end == 0 && step.bytes_written == 0 => {
                return Err(bad("a deflated entry ends before its end"))
            }
            Ok(_) => {}
            // A full output buffer with input left is not an error: go on.
            Err(miniz_oxide::MZError::Buf) if step.bytes_written > 0 || start < end => {}
            Err(e) => return Err(bad(&format!("a deflated entry is damaged ({e:?})"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip written by our writer reads back entry by entry.
    #[test]
    fn reads_what_the_writer_wrote() {
        let dir = std::env::temp_dir().join(format!("unzip-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, zip) = (dir.join("a"), dir.join("t.zip"));
        std::fs::write(&a, b"hello dump").unwrap();
        let mut w = super::super::zip::Writer::create(&zip).unwrap();
        w.add("dump.sql", &a).unwrap();
        w.add("filestore/ab/abc", &a).unwrap();
        w.finish().unwrap();
        let mut archive = Archive::open(&zip).unwrap();
        let i = archive.find("filestore/ab/abc").unwrap();
        let mut out = Vec::new();
        archive.copy_to(i, &mut out).unwrap();
        assert_eq!(out, b"hello dump");
        // Cut short: refused at open.
        let bytes = std::fs::read(&zip).unwrap();
        std::fs::write(&zip, &bytes[..bytes.len() - 30]).unwrap();
        assert!(Archive::open(&zip).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
