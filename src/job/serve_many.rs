//! `LIST_DB=True` with `RunOnly` (and the `AndRun` modes once their steps
//! ran on each database, `many.rs`): Odoo serves the chosen databases once
//! each one's gate lets it (ready, or reset by the gate's rule), looked at
//! again at every start and restart. A database whose update failed and
//! waits for a person is left out of Odoo's `dbfilter` for the run
//! (`ON_FAILED_DATABASE=leave-out`, the default: the others are served)
//! or waited for as one database's pods wait (`wait`). What is served and
//! left out is logged and kept in the status record (bounded).

use std::ffi::OsString;

use super::gate::Ask;
use super::many;
use super::{end, Ctx, Prepared};
use crate::db::state::Seen;
use crate::db::verdict;
use crate::exit::Failure;
use crate::pid1::launch::{Abort, ChildSpec, Launcher, Pause};
use crate::plan::Gate;

/// Chooses the databases, then serves them: Odoo started (and restarted)
/// once each chosen database's gate lets it; the exit code.
pub(super) fn serve(prepared: &mut Prepared, extra: Vec<OsString>) -> i32 {
    let chosen = match many::choose(prepared, true) {
        Ok(chosen) => chosen,
        Err(failure) => return end(&mut prepared.sup, failure),
    };
    let cfg = prepared.cfg.clone();
    let each = chosen
        .iter()
        .map(|db| {
            let one = many::for_database(&cfg, db);
            Ctx::new(prepared, one, Gate::Respect, extra.clone(), None, None)
        })
        .collect();
    // The gates are ServeMany's: the serving context has none of its own.
    let serving = Ctx::new(prepared, cfg.clone(), Gate::None, extra, None, None);
    let mut launcher = ServeMany::new(serving, each, cfg.leave_out_failed);
    prepared.sup.serve(&mut launcher, cfg.supervisor.on_exit)
}

/// The run phase over many databases: the serving context (no gate, no
/// `-d`) and one context per chosen database, for its gate.
struct ServeMany {
    serving: Ctx,
    each: Vec<Ctx>,
    leave_out: bool,
    /// The databases served by the last start, as one group of a regular
    /// expression, when some were left out.
    filter: Option<String>,
}

impl ServeMany {
    fn new(serving: Ctx, each: Vec<Ctx>, leave_out: bool) -> ServeMany {
        ServeMany {
            serving,
            each,
            leave_out,
            filter: None,
        }
    }

    /// Each database's gate in turn; the databases served and left out.
    fn pass(&mut self, pause: &mut Pause) -> Result<(Vec<String>, Vec<String>), Failure> {
        let (mut served, mut left_out) = (Vec::new(), Vec::new());
        let ask = match self.leave_out {
            true => Ask::LookUnlessFailed,
            false => Ask::Look,
        };
        for ctx in &mut self.each {
            let db = ctx.cfg.db.name().to_string();
            let passed = gate(ctx, pause, &ask, &db)?;
            // Serving holds no connection to the databases it looked at.
            ctx.session.close();
            match passed {
                Ok(()) => served.push(db),
                Err(why) => {
                    log::warn!("LIST_DB: {db} is left out of this run: {why}");
                    left_out.push(db);
                }
            }
        }
        if served.is_empty() && !left_out.is_empty() {
            return Err(Failure::StepFailed(format!(
                "LIST_DB: every chosen database is left out ({}): nothing to serve",
                left_out.join(", ")
            )));
        }
        Ok((served, left_out))
    }

    /// `spec` with the filter of the run, when databases are left out.
    fn filtered(&self, mut spec: ChildSpec) -> ChildSpec {
        if let Some(served) = &self.filter {
            let own = own_filter(&spec.argv).or(self.serving.cfg.rc_dbfilter.as_deref());
            // Last on the line: it wins over a --db-filter given before it,
            // which it keeps inside (routing by host, `%d`, goes on).
            let arg = format!("--db-filter={}", only(served, own));
            spec.argv.push(arg.clone().into());
            spec.shown.push(arg);
        }
        spec
    }
}

/// The last `--db-filter` of Odoo's arguments (Odoo takes the last).
fn own_filter(argv: &[OsString]) -> Option<&str> {
    let mut found = None;
    let mut words = argv.iter().filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        if let Some(value) = word.strip_prefix("--db-filter=") {
            found = Some(value);
        } else if word == "--db-filter" {
            found = words.next();
        }
    }
    found.filter(|f| !f.is_empty())
}

/// A dbfilter that matches only `served` and, within them, what `own`
/// (the deployment's own dbfilter, `%h`/`%d` and all) matches: Odoo
/// matches it with `re.match`, so a lookahead at the start narrows
/// without changing what `own` means.
fn only(served: &str, own: Option<&str>) -> String {
    match own {
        Some(own) => format!("^(?={served}$)(?:{own})"),
        None => format!("^{served}$"),
    }
}

/// One database's gate, only looking; `Err(why)`: it is not served (a
/// database odoo-init cannot gate, such as one never adopted).
fn gate(
    ctx: &mut Ctx,
    pause: &mut Pause,
    ask: &Ask,
    db: &str,
) -> Result<Result<(), String>, Failure> {
    match ctx.pass_gate(pause, *ask) {
        Ok(_) => Ok(Ok(())),
        Err(Failure::GateReset(why)) => {
            log::warn!("LIST_DB: {db}: {why}");
            // A `Reset` written (a silent owner, a state past `TIMEOUT`)
            // opens the gate, as for a restarted pod; a wait for a missing
            // database that ended in vain does not.
            Ok(if ready_now(ctx) { Ok(()) } else { Err(why) })
        }
        Err(failure @ (Failure::Stopped | Failure::Db(_) | Failure::Os(_))) => Err(failure),
        Err(other) => Ok(Err(other.message().to_string())),
    }
}

/// Whether `ctx`'s latest row is ready now (one attempt, one query).
fn ready_now(ctx: &mut Ctx) -> bool {
    let Ok(client) = ctx.session.connect() else {
        return false;
    };
    matches!(ctx.store.peek(client), Ok(Seen::Latest(l)) if verdict::is_ready(&l.state))
}

/// `(a|b)`: `names` as one group of a Python regular expression.
fn exactly(names: &[String]) -> String {
    let escaped: Vec<String> = names
        .iter()
        .map(|n| {
            n.chars()
                .map(|c| match c.is_ascii_alphanumeric() || c == '_' {
                    true => c.to_string(),
                    false => format!("\\{c}"),
                })
                .collect()
        })
        .collect();
    format!("(?:{})", escaped.join("|"))
}

impl Launcher for ServeMany {
    fn command(&mut self, pause: &mut Pause) -> Result<ChildSpec, Abort> {
        let (served, left_out) = match self.pass(pause) {
            Ok(both) => both,
            Err(failure) => {
                failure.say();
                return Err(Abort::Failed(
                    failure.code_stopped_as(pause.stopped_status()),
                ));
            }
        };
        log::info!(
            "LIST_DB: serving {} database(s){}",
            served.len(),
            match left_out.is_empty() {
                true => String::new(),
                false => format!(", {} left out: {}", left_out.len(), left_out.join(", ")),
            }
        );
        pause.status().databases(served.len(), &left_out);
        self.filter = (!left_out.is_empty()).then(|| exactly(&served));
        let spec = self.serving.command(pause)?;
        Ok(self.filtered(spec))
    }

    fn arguments_refused(&mut self) -> Option<ChildSpec> {
        let spec = self.serving.arguments_refused()?;
        Some(self.filtered(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_matches_exactly_the_names() {
        let names = vec!["shop_a".to_string(), "shop-b.2".to_string()];
        let served = exactly(&names);
        assert_eq!(only(&served, None), r"^(?:shop_a|shop\-b\.2)$");
        assert_eq!(
            only(&served, Some("^%d$")),
            r"^(?=(?:shop_a|shop\-b\.2)$)(?:^%d$)"
        );
        let argv: Vec<OsString> = ["odoo", "--db-filter", "a", "--db-filter=^%d$"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(own_filter(&argv), Some("^%d$"));
    }
}
