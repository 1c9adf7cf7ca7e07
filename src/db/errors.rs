//! What a failed statement or connection says: the server's own message,
//! and whether the connection is lost (made again) or a lock was in the
//! way (looked at again), as opposed to a real answer.

use std::error::Error as _;

use tokio_postgres::error::SqlState;

/// The server's own message where there is one, else the client's.
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// True when the error is the connection's, not the statement's: the
/// connection is closed, broke (I/O, protocol), or the server or a pooler
/// ended it (class 08 connection exception, 57P01-57P03 shutdown/starting).
/// Such a connection is made again; any other error is a real answer.
pub fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    // The client's own errors: only these are about the connection; a
    // parameter or column of an unexpected type is not.
    let io = e
        .source()
        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
    let text = e.to_string();
    e.is_closed()
        || io
        || text.starts_with("error communicating with the server")
        || text.starts_with("unexpected message from server")
        || text.starts_with("error parsing response from server")
        || text.starts_with("timeout waiting for server")
}

/// A statement gave up waiting (`lock_timeout`, `statement_timeout`): the
/// connection is fine, a lock someone else holds is in the way.
pub fn is_lock_wait(e: &tokio_postgres::Error) -> bool {
    [SqlState::LOCK_NOT_AVAILABLE, SqlState::QUERY_CANCELED]
        .iter()
        .any(|c| e.code() == Some(c))
}
