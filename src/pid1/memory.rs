//! Giving back the pages of start-up code. PID 1 lives as long as the
//! container, but most of its program (configuration, TLS, SQL, hashing)
//! runs only before Odoo starts. Those pages stay mapped, and count as the
//! container's memory, until something unmaps them: once the child runs,
//! PID 1 drops its own read-only file pages from its page tables. The page
//! cache keeps them; the few the idle loop touches come back on their next
//! use as minor faults. No timer, no thread: one pass per start of Odoo.

use std::fs;

/// Drops this process's read-only, file-backed pages of its own program
/// from its resident set. Only mappings that hold no private (copied)
/// page are touched: there `MADV_DONTNEED` cannot lose a write.
pub(crate) fn give_back_startup_pages() {
    let Ok(exe) = fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut released = 0usize;
    for (range, anonymous) in read_only_mappings(&smaps, &exe.to_string_lossy()) {
        if anonymous != 0 {
            continue;
        }
        let (start, end) = range;
        // SAFETY: the range is a whole mapping of our own, read-only and
        // file-backed with no private page: dropping it loses nothing, the
        // next access faults the same bytes back from the file.
        let done =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if done == 0 {
            released += end - start;
        }
    }
    log::debug!("gave back up to {} kB of start-up pages", released / 1024);
}

/// The read-only mappings of `path` in `smaps`: their address range and
/// their `Anonymous` kB (pages copied on write).
fn read_only_mappings(smaps: &str, path: &str) -> Vec<((usize, usize), usize)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-').and_then(|(a, b)| {
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        }) {
            let perms = words.next().unwrap_or("");
            let name = line.split_whitespace().nth(5).unwrap_or("");
            current = (name == path && !perms.contains('w')).then_some((start, end));
        } else if let (Some(range), "Anonymous:") = (current, first) {
            let kb = words
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            found.push((range, kb));
            current = None;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_mappings_of_the_program_are_listed() {
        let smaps = "\
00400000-00500000 r--p 00000000 08:01 12 /usr/bin/odoo-init
Size: 1024 kB
Anonymous: 0 kB
00500000-00900000 r-xp 00100000 08:01 12 /usr/bin/odoo-init
Anonymous: 0 kB
00900000-00a00000 rw-p 00500000 08:01 12 /usr/bin/odoo-init
Anonymous: 12 kB
00a00000-00b00000 r--p 00600000 08:01 12 /usr/bin/odoo-init
Anonymous: 8 kB
7f0000000000-7f0000001000 r--p 00000000 08:01 13 /usr/lib/other
Anonymous: 0 kB
";
        assert_eq!(
            read_only_mappings(smaps, "/usr/bin/odoo-init"),
            vec![
                ((0x400000, 0x500000), 0),
                ((0x500000, 0x900000), 0),
                ((0xa00000, 0xb00000), 8)
            ]
        );
    }
}
