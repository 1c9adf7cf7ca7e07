//! Name lookups that PID 1 never waits for on a thread. libc's resolver
//! (`getaddrinfo`: `/etc/hosts`, DNS with `resolv.conf`'s timeouts and
//! search domains) blocks its caller for as long as a silent DNS server
//! makes it, and cannot be cut short; the PostgreSQL client would run it
//! on a thread of its own, which a stop then waits for. So a host name is
//! looked up by a helper process ([`crate::helper`]: `odoo-init
//! resolve-host HOST PORT`, [`helper_main`]) that PID 1 waits for with
//! `poll`, within the connection attempt's deadline, ending it at a stop;
//! the client is then given the addresses. An address is used as it is,
//! with no helper.

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Instant;

use crate::helper::{Helper, NoAnswer, THIS_PROGRAM};
use crate::meanwhile::Meanwhile;

/// The hidden command a lookup helper runs: `odoo-init resolve-host HOST PORT`.
pub(crate) const RESOLVE_COMMAND: &str = "resolve-host";

/// The variables libc's resolver reads; the helper gets these and nothing
/// else of ours (the secrets stay in PID 1).
const RESOLVER_VARIABLES: [&str; 3] = ["LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"];

/// Why a name gave no address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// A stop is pending: the lookup was ended.
    Stop,
    /// The lookup did not end by the deadline: it was ended.
    Deadline,
    /// The resolver's answer (no such name, no DNS server ...), or no helper.
    Failed(String),
}

/// The addresses of `host`, in the resolver's order, each once: `host`
/// itself when it is an address; otherwise what a helper process looked
/// up by `deadline`.
pub(crate) fn addresses(
    host: &str,
    port: u16,
    meanwhile: &Meanwhile,
    deadline: Instant,
) -> Result<Vec<IpAddr>, Unresolved> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let env: Vec<(&str, OsString)> = RESOLVER_VARIABLES
        .iter()
        .filter_map(|name| Some((*name, std::env::var_os(name)?)))
        .collect();
    let args = [RESOLVE_COMMAND, host, &port.to_string()].map(OsString::from);
    let helper = Helper::start(Path::new(THIS_PROGRAM), args, &env, meanwhile)
        .map_err(|e| Unresolved::Failed(format!("cannot start the lookup of {host}: {e}")))?;
    let (text, _) = helper.output(deadline).map_err(|why| match why {
        NoAnswer::Stop => Unresolved::Stop,
        NoAnswer::Deadline => Unresolved::Deadline,
        NoAnswer::Broken => Unresolved::Failed(format!("the lookup of {host} broke off")),
    })?;
    parse(&text).map_err(|why| Unresolved::Failed(format!("cannot resolve {host}: {why}")))
}

/// A helper's answer: one address a line, or `!` and the resolver's error.
fn parse(text: &str) -> Result<Vec<IpAddr>, String> {
    if let Some(error) = text.strip_prefix('!') {
        return Err(error.trim().to_string());
    }
    let found: Vec<IpAddr> = text.lines().filter_map(|l| l.parse().ok()).collect();
    if found.is_empty() {
        return Err("no address".into());
    }
    Ok(found)
}

/// `odoo-init resolve-host HOST PORT`: the addresses libc's resolver gives,
/// one a line, each once; `!` and the error when it gives none.
pub(crate) fn helper_main(args: &[OsString]) -> i32 {
    let [host, port] = args else {
        log::error!("{RESOLVE_COMMAND}: HOST PORT expected");
        return crate::exit::USAGE;
    };
    let (Some(host), Some(port)) = (host.to_str(), port.to_str().and_then(|p| p.parse().ok()))
    else {
        log::error!("{RESOLVE_COMMAND}: HOST PORT expected");
        return crate::exit::USAGE;
    };
    let port: u16 = port;
    let text = match (host, port).to_socket_addrs() {
        Ok(found) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for ip in found.map(|a| a.ip()) {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            ips.iter().map(|ip| format!("{ip}\n")).collect()
        }
        Err(e) => format!("!{}\n", e.to_string().replace('\n', " ")),
    };
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(_) => crate::exit::OS_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_needs_no_lookup() {
        let none = Meanwhile::default();
        let soon = Instant::now();
        assert_eq!(
            addresses("127.0.0.1", 5432, &none, soon),
            Ok(vec!["127.0.0.1".parse::<IpAddr>().unwrap()])
        );
        assert_eq!(
            addresses("::1", 5432, &none, soon),
            Ok(vec!["::1".parse::<IpAddr>().unwrap()])
        );
    }

    #[test]
    fn a_helpers_answer_is_read_line_by_line() {
        let two = parse("10.0.0.1\n::1\n").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(
            parse("!failed to lookup address information\n"),
            Err("failed to lookup address information".to_string())
        );
        assert_eq!(parse(""), Err("no address".to_string()));
    }
}
