//! Asking a running Odoo whether it answers HTTP, for `odoo-init probe`:
//! where it listens (from its own command line, then its config file, as
//! Odoo reads them) and one short request on loopback: `GET /web/health`
//! (the `web` addon's route since Odoo 15, which never looks at the
//! database), else the JSON-RPC call `common.version` (served without the
//! `web` addon too).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::args::value_of;

/// Odoo's default `http_port`.
const DEFAULT_PORT: u16 = 8069;
/// The most of an answer that is read: a status line and a small body.
const ANSWER_MAX: usize = 64 * 1024;

/// Where Odoo listens, as the probe reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The config file Odoo reads: `-c`/`--config` on its command line.
pub fn config_option(argv: &[String]) -> Option<&str> {
    value_of(argv.get(1..).unwrap_or_default(), "--config")
}

/// Where the Odoo started with `argv` listens, its config file's values
/// being `rc`; None when it serves no HTTP (`--no-http`, `http_enable = False`).
pub fn endpoint(argv: &[String], rc: &HashMap<String, String>) -> Result<Option<Endpoint>, String> {
    let set = |key: &str| rc.get(key).filter(|v| v.as_str() != "False");
    if argv.iter().skip(1).any(|a| a == "--no-http")
        || rc
            .get("http_enable")
            .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    {
        return Ok(None);
    }
    let args = argv.get(1..).unwrap_or_default();
    let port = match value_of(args, "--http-port").or(set("http_port").map(String::as_str)) {
        None => DEFAULT_PORT,
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("Odoo's HTTP port {p:?} is not a port number"))?,
    };
    let interface = value_of(args, "--http-interface")
        .or(set("http_interface").map(String::as_str))
        .unwrap_or("");
    // Odoo listening on every address is asked on loopback.
    let host = match interface {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    Ok(Some(Endpoint {
        host: host.to_string(),
        port,
    }))
}

/// Asks Odoo at `at` whether it serves, within `timeout` in all. Ok: what
/// answered; Err: why it does not count as serving.
pub fn ask(at: &Endpoint, timeout: Duration) -> Result<&'static str, String> {
    let until = Instant::now() + timeout;
    let (status, body) = request(at, until, "GET /web/health", "")?;
    match status {
        200 if body.contains("pass") => Ok("GET /web/health"),
        // No `web` addon: Odoo's own JSON-RPC route says whether it serves.
        404 => {
            let call = r#"{"jsonrpc":"2.0","method":"call","params":{"service":"common","method":"version","args":[]},"id":1}"#;
            match request(at, until, "POST /jsonrpc", call)? {
                (200, body) if body.contains("\"result\"") => Ok("JSON-RPC common.version"),
                (200, _) => Err("JSON-RPC common.version answered without a result".into()),
                (status, _) => Err(format!("HTTP status {status} to JSON-RPC common.version")),
            }
        }
        200 => Err("GET /web/health answered 200 without \"pass\"".into()),
        status => Err(format!("HTTP status {status} to GET /web/health")),
    }
}

/// One HTTP/1.1 request (`Connection: close`); the status and the body's start.
fn request(at: &Endpoint, until: Instant, head: &str, body: &str) -> Result<(u16, String), String> {
    let left = || {
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer from {at} in time ({head})"))
    };
    let address = (at.host.as_str(), at.port)
        .to_socket_addrs()
        .map_err(|e| format!("{at}: {e}"))?
        .next()
        .ok_or_else(|| format!("{at}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&address, left()?).map_err(|e| format!("{at}: {e}"))?;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer from {at} in time ({head})")
        }
        _ => format!("{at}: {e}"),
    };
    stream.set_write_timeout(Some(left()?)).map_err(io)?;
    let kind = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        stream,
        "{head} HTTP/1.1\r\nHost: {at}\r\nUser-Agent: odoo-init-probe\r\n{kind}Connection: close\r\n\r\n{body}"
    )
    .map_err(io)?;
    // Until the peer closes (Connection: close), the whole body is in,
    // the cap, or the deadline.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !has_whole_body(&answer) && answer.len() < ANSWER_MAX {
        stream.set_read_timeout(Some(left()?)).map_err(io)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{at} answered {head} with no HTTP status line"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

/// The answer holds its headers and as many body bytes as its
/// `Content-Length` says (a server that keeps the connection open is not
/// waited for).
fn has_whole_body(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .is_some_and(|len| body.len() >= len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        std::iter::once("odoo")
            .chain(args.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn the_endpoint_follows_odoos_options_then_its_config_file() {
        let rc: HashMap<String, String> = [
            ("http_port".to_string(), "9000".to_string()),
            ("http_interface".to_string(), "10.1.2.3".to_string()),
        ]
        .into();
        let none = HashMap::new();
        let at = |args: &[&str], rc| endpoint(&argv(args), rc).unwrap();
        assert_eq!(
            at(&[], &none),
            Some(Endpoint {
                host: "127.0.0.1".into(),
                port: 8069
            })
        );
        assert_eq!(at(&[], &rc).unwrap().port, 9000);
        assert_eq!(at(&[], &rc).unwrap().host, "10.1.2.3");
        assert_eq!(at(&["-p", "8070"], &rc).unwrap().port, 8070);
        assert_eq!(at(&["-p8071"], &rc).unwrap().port, 8071);
        assert_eq!(at(&["--http-port=8072"], &rc).unwrap().port, 8072);
        assert_eq!(
            at(&["--http-port", "1", "--http-port", "8073"], &rc)
                .unwrap()
                .port,
            8073
        );
        assert_eq!(
            at(&["--http-interface", "::"], &none).unwrap().to_string(),
            "[::1]:8069"
        );
        assert_eq!(at(&["--no-http"], &none), None);
        let off: HashMap<String, String> =
            [("http_enable".to_string(), "False".to_string())].into();
        assert_eq!(at(&[], &off), None);
        assert!(endpoint(&argv(&["-p", "http"]), &none).is_err());
        assert_eq!(
            config_option(&argv(&["-c", "/etc/o.conf"])),
            Some("/etc/o.conf")
        );
        assert_eq!(config_option(&argv(&["--config=/x"])), Some("/x"));
    }
}
