//! Odoo's users as odoo-init touches them: the administrator's password
//! (`ADMIN_PASSWORD`) set on a new database, stored as Odoo stores it,
//! passlib's `pbkdf2_sha512` (`$pbkdf2-sha512$ROUNDS$SALT$HASH`, salt and
//! hash in passlib's base64 with `.` for `+` and no padding), with the
//! rounds Odoo 16 to 18 ask for; Odoo 15 verifies it the same way.

use std::num::NonZeroU32;

use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};
use tokio_postgres::types::Type;

use crate::db::client::Client;
use crate::db::conn;

/// Odoo's `MIN_ROUNDS` for `pbkdf2_sha512` (odoo/addons/base/models/res_users.py).
const ROUNDS: u32 = 600_000;
const SALT_LEN: usize = 16;

/// `password` hashed as Odoo stores a user's password; `None` when no
/// random salt could be had.
pub(crate) fn hashed(password: &str) -> Option<String> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new().fill(&mut salt).ok()?;
    Some(hashed_with(password, &salt, NonZeroU32::new(ROUNDS)?))
}

fn hashed_with(password: &str, salt: &[u8], rounds: NonZeroU32) -> String {
    let mut out = [0u8; 64];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA512,
        rounds,
        salt,
        password.as_bytes(),
        &mut out,
    );
    format!("$pbkdf2-sha512${rounds}${}${}", ab64(salt), ab64(&out))
}

/// passlib's "adapted base64": the standard alphabet with `.` for `+`,
/// no padding.
fn ab64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Sets the password of Odoo's `admin` user to `hash` (from [`hashed`]);
/// false when the database has no such user.
pub(crate) fn set_admin_password(
    client: &mut Client,
    hash: &str,
) -> Result<bool, tokio_postgres::Error> {
    let mut tx = conn::bounded(client)?;
    let set = tx.query_typed(
        "UPDATE res_users SET password = $1 WHERE login = 'admin' RETURNING id",
        &[(&hash, Type::VARCHAR)],
    )?;
    tx.commit()?;
    Ok(!set.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form passlib writes (tests/admin_password.rs checks a hash
    /// against passlib itself).
    #[test]
    fn the_format_is_passlibs() {
        assert_eq!(ab64(b"\xfb\xff"), "./8");
        assert_eq!(ab64(b"abc"), "YWJj");
        let rounds = NonZeroU32::new(1000).unwrap();
        let hash = hashed_with("password", b"0123456789abcdef", rounds);
        assert!(
            hash.starts_with("$pbkdf2-sha512$1000$MDEyMzQ1Njc4OWFiY2RlZg$"),
            "{hash}"
        );
        assert_eq!(hash.rsplit('$').next().unwrap().len(), 86);
    }
}
