//! Reading files whose path someone else chose (a secret's `*_FILE`,
//! `ODOO_RC`, the restart arguments): never blocking on a FIFO or a device,
//! never reading without bound. PID 1 hangs on nothing it reads.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading without blocking (`O_NONBLOCK`: opening a FIFO
/// would otherwise wait for a writer) and checks, on the open file, that it
/// is a regular file. `flags` adds open flags (`O_NOFOLLOW`).
pub fn open_regular(path: &Path, flags: i32) -> io::Result<(File, fs::Metadata)> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory)",
        ));
    }
    Ok((file, meta))
}

/// Reads at most `cap` bytes; a longer file is refused, not cut.
pub fn read_capped(file: &mut File, cap: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    file.take(cap as u64 + 1).read_to_end(&mut data)?;
    if data.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} KiB", cap / 1024),
        ));
    }
    Ok(data)
}

/// A regular file's content, at most `cap` bytes, as text (invalid UTF-8 is
/// refused).
pub fn read_text(path: &Path, cap: usize) -> io::Result<String> {
    let (mut file, _) = open_regular(path, 0)?;
    let data = read_capped(&mut file, cap)?;
    String::from_utf8(data)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_and_large_files_without_blocking() {
        let dir = std::env::temp_dir().join(format!("odoo-init-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = read_text(&fifo, 10).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let big = dir.join("big");
        fs::write(&big, vec![b'x'; 2048]).unwrap();
        let err = read_text(&big, 1024).unwrap_err();
        assert!(err.to_string().contains("larger than 1 KiB"), "{err}");
        fs::write(&big, b"ok").unwrap();
        assert_eq!(read_text(&big, 2).unwrap(), "ok");
        fs::remove_dir_all(&dir).unwrap();
    }
}
