//! The HTTP side of the stand-in, as far as a probe sees Odoo's: it listens
//! on `--http-interface`:`--http-port` (`-p`; else `http_port` of the config
//! file; else 8069), unless `--no-http` or `--stop-after-init`, and answers
//!
//! - `GET /web/health`: `200 {"status": "pass"}`, as the `web` addon's
//!   route does since Odoo 15 (it never looks at the database);
//! - `POST /jsonrpc` with `common.version`: the version dictionary, as
//!   Odoo's `/jsonrpc` route does (also without the `web` addon);
//! - anything else: 404.
//!
//! Threaded mode serves from a thread of the server process; prefork mode
//! binds in the master, which never serves, and every worker accepts on the
//! inherited socket (Odoo's prefork layout). A port already taken is
//! logged and the server runs on without HTTP, as Odoo's threaded server
//! does when its HTTP thread cannot bind.
//!
//! Controls: `STANDIN_NO_WEB=1` behaves like an Odoo without the `web`
//! addon (`/web/health` is 404); `STANDIN_HTTP_STALL=PATH`: while PATH
//! exists, requests are read and never answered (a hung Odoo).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Where Odoo would listen, from its options.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    pub port: Option<String>,
    pub interface: Option<String>,
    pub disabled: bool,
}

/// The listening socket, or None (with an event saying why) when HTTP is
/// off or the address cannot be bound.
pub fn listen(opts: &HttpOptions, role: &str) -> Option<TcpListener> {
    if opts.disabled {
        return None;
    }
    let port = opts.port.as_deref().unwrap_or("8069");
    let host = match opts.interface.as_deref() {
        None | Some("") => "0.0.0.0",
        Some(h) => h,
    };
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match TcpListener::bind(&address) {
        Ok(listener) => {
            crate::event(role, &format!("http listening on {address}"));
            Some(listener)
        }
        Err(e) => {
            crate::event(role, &format!("http not served: {address}: {e}"));
            None
        }
    }
}

/// Serves `listener` from a thread of this process, one request at a time.
pub fn serve_in_background(listener: &TcpListener) {
    let Ok(listener) = listener.try_clone() else {
        return;
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => answer(stream),
                // Shut down by `close`.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return,
                Err(_) => {}
            }
        }
    });
}

fn answer(stream: TcpStream) {
    // A client that sends nothing does not hold the server for long.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0).min(1 << 20);
                }
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Some(path) = std::env::var_os("STANDIN_HTTP_STALL") {
        // Hung: the request was taken, no answer comes while the file exists.
        while std::path::Path::new(&path).exists() {
            std::thread::sleep(Duration::from_millis(50)); // a hang, not synchronisation
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let body = String::from_utf8_lossy(&body);
    let no_web = std::env::var("STANDIN_NO_WEB").is_ok_and(|v| v == "1");
    let (status, json) = match (method, path) {
        ("GET", "/web/health") if !no_web => ("200 OK", r#"{"status": "pass"}"#.to_string()),
        ("POST", "/jsonrpc") if body.contains("\"common\"") && body.contains("\"version\"") => (
            "200 OK",
            format!(
                r#"{{"jsonrpc": "2.0", "id": {}, "result": {{"server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""], "server_serie": "17.0", "protocol_version": 1}}}}"#,
                request_id(&body)
            ),
        ),
        _ => ("404 NOT FOUND", r#"{"error": "not found"}"#.to_string()),
    };
    let _ = write!(
        writer,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
}

/// The JSON-RPC request's `id` (a number, or null), echoed as Odoo does.
fn request_id(body: &str) -> String {
    body.split_once("\"id\"")
        .and_then(|(_, rest)| rest.trim_start().strip_prefix(':'))
        .map(|rest| {
            rest.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "null".into())
}

/// Stops accepting (Odoo shuts its HTTP server down when a graceful stop
/// begins): new connections are refused, the serving thread ends.
pub fn close(listener: Option<&TcpListener>) {
    if let Some(l) = listener {
        // SAFETY: shutdown on a socket this process owns; no memory involved.
        unsafe { libc::shutdown(std::os::fd::AsRawFd::as_raw_fd(l), libc::SHUT_RDWR) };
    }
}
