//! `odoo-init state`: the state history as `psql` prints it, and
//! `--changed`, the installed modules whose files changed since the stored
//! checksums. Both read only, with one connection made from the prepared
//! context (`MODE` not needed).

use crate::db::client::Client;

use crate::db::conn::{self, ConnectError};
use crate::db::history::{self, History};
use crate::db::state;
use crate::exit::Failure;
use crate::job::Prepared;
use crate::odoo::checksums;

/// One connection to the prepared context's database (one attempt: a
/// command a person typed says at once what is wrong).
pub(super) fn connection(prepared: &Prepared) -> Result<Client, Failure> {
    connect(&prepared.target())
}

fn connect(target: &conn::Target) -> Result<Client, Failure> {
    target
        .connect_once(std::time::Instant::now() + conn::CONNECT_TIMEOUT)
        .map_err(|e| match e {
            conn::Attempt::Stopped => Failure::Stopped,
            e => Failure::Db(format!("{}: {}", target.describe(), ConnectError::from(e))),
        })
}

/// `odoo-init state --changed`: the installed modules whose checksum
/// differs from the stored one, one a line (what `UPDATE=changed` would
/// update now). Reads only.
pub(super) fn changed_modules(prepared: &mut Prepared) -> Result<String, Failure> {
    let mut client = connection(prepared)?;
    let addons = prepared.addons(&[])?;
    let known = conn::bounded(&mut client)
        .and_then(|mut tx| checksums::read(&mut tx))
        .map_err(|e| {
            Failure::Db(format!(
                "reading the stored checksums: {}",
                conn::message(&e)
            ))
        })?;
    // What MODULES lists and the database lacks: the next update installs it.
    let missing = checksums::missing(&known, &crate::odoo::command::to_update(&prepared.cfg.odoo));
    let changed = if known.stored.is_empty() {
        log::info!("no checksums stored yet: every installed module counts as changed");
        known.installed.clone()
    } else {
        let wanted: Vec<String> = known.installed.clone();
        let mut sums = super::checksums::image_sums(&prepared.cfg)?;
        sums.add(&addons, &wanted, &known.rules)
            .map_err(|e| Failure::Usage(format!("cannot compute the checksum of an addon: {e}")))?;
        let found = checksums::compare(&known, &sums, &addons, &[]);
        found.say();
        found.changed
    };
    let mut text: String = changed.iter().map(|m| format!("{m}\n")).collect();
    text.extend(missing.iter().map(|m| format!("{m} (to install)\n")));
    Ok(text)
}

/// `odoo-init state [--limit N]`: the history as text.
pub(super) fn history(prepared: &mut Prepared, limit: Option<i64>) -> Result<String, Failure> {
    let mut client = connection(prepared)?;
    match history::read(&mut client, limit) {
        Ok(Some(rows)) => Ok(format_history(&rows)),
        Ok(None) => {
            let table = state::TABLE;
            Err(Failure::Db(format!(
                "no table {table} in {}",
                prepared.target().describe()
            )))
        }
        Err(e) => Err(Failure::Db(format!(
            "reading {}: {}",
            state::TABLE,
            conn::message(&e)
        ))),
    }
}

/// `odoo-init state --all`: each database `LIST_DB` chooses with its
/// latest row, one a line, as `psql` prints a table.
pub(super) fn every_database(prepared: &mut Prepared) -> Result<String, Failure> {
    let mut table = History {
        columns: vec!["database", "id", "state", "write_date"],
        rows: Vec::new(),
    };
    for (db, target) in crate::job::chosen_databases(prepared)? {
        let mut client = connect(&target)?;
        let latest = history::read(&mut client, Some(1))
            .map_err(|e| Failure::Db(format!("reading {db}: {}", conn::message(&e))))?;
        let cell = |h: &History, name: &str| {
            let at = h.columns.iter().position(|c| *c == name);
            at.and_then(|i| h.rows.last().and_then(|r| r.get(i)).cloned())
        };
        let row = match latest {
            Some(h) if !h.rows.is_empty() => ["id", "state", "write_date"]
                .iter()
                .map(|c| cell(&h, c).unwrap_or_default())
                .collect(),
            Some(_) => vec![String::new(), "(no row)".into(), String::new()],
            None => vec![String::new(), "(no state table)".into(), String::new()],
        };
        table.rows.push([vec![db], row].concat());
    }
    Ok(format_history(&table))
}

/// Columns shown right-aligned, as `psql` shows numbers.
const NUMERIC: [&str; 3] = ["id", "pid", "exit_status"];

/// Formats the history like `psql` does (the seed's example).
fn format_history(history: &History) -> String {
    let widths: Vec<usize> = history
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let cells = history
                .rows
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()));
            cells.max().unwrap_or(0).max(name.len())
        })
        .collect();
    let center = |s: &str, w: usize| {
        let left = (w - s.len()) / 2;
        format!("{}{s}{}", " ".repeat(left), " ".repeat(w - s.len() - left))
    };
    let header: Vec<String> = history
        .columns
        .iter()
        .zip(&widths)
        .map(|(name, &w)| center(name, w))
        .collect();
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    let mut out = format!(" {} \n-{}-\n", header.join(" | "), rule.join("-+-"));
    for row in &history.rows {
        let cells: Vec<String> = history
            .columns
            .iter()
            .zip(&widths)
            .zip(row)
            .map(|((name, &w), cell)| {
                if NUMERIC.contains(name) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(&format!(" {}\n", cells.join(" | ").trim_end()));
    }
    let n = history.rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_looks_like_psql() {
        let history = History {
            columns: vec!["id", "state", "write_date"],
            rows: vec![
                vec![
                    "1".into(),
                    "Creating".into(),
                    "2024-03-13 09:45:37.431489+00".into(),
                ],
                vec![
                    "17".into(),
                    "Force Ready".into(),
                    "2024-03-14 08:01:04.483985+00".into(),
                ],
            ],
        };
        let text = format_history(&history);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            " id |    state    |          write_date           "
        );
        assert_eq!(
            lines[1],
            "----+-------------+-------------------------------"
        );
        assert_eq!(
            lines[2],
            "  1 | Creating    | 2024-03-13 09:45:37.431489+00"
        );
        assert_eq!(lines[4], "(2 rows)");
    }
}
