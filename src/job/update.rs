//! `UPDATE=changed`: which installed modules an update covers. The addons
//! are hashed outside any state transaction. A pod whose image changed
//! nothing, with no step running, sees so before the gate and takes no
//! lock; otherwise, under the lock, only the stored checksums are read and
//! compared, so that the lock is held for a few statements.

use crate::db::client::Transaction;

use super::Ctx;
use crate::db::conn;
use crate::db::state::Seen;
use crate::db::verdict;
use crate::exit::Failure;
use crate::odoo::addons::Addons;
use crate::odoo::checksums::{self, Known, Sums};

/// What an update covers, decided under the lock.
#[derive(Debug)]
pub(super) enum Decision {
    /// The sums do not cover what is installed (another pod installed
    /// meanwhile, or the rules changed): hash outside the lock, look again.
    Hash(Known),
    /// Nothing changed: no update, no busy state.
    Nothing,
    /// Every installed module (or `MODULES`), as `UPDATE=all`.
    All,
    /// These modules changed (maybe none, when only a module of `MODULES`
    /// is missing: the claimed step installs it).
    Modules(Vec<String>),
}

/// Reads the stored checksums in the locked transaction `tx` and decides.
pub(super) fn decide(
    tx: &mut Transaction,
    addons: Option<&Addons>,
    sums: &Sums,
    only: &[String],
    force: bool,
) -> Result<Decision, tokio_postgres::Error> {
    let Some(addons) = addons.filter(|a| !a.dirs().is_empty()) else {
        return Ok(Decision::All);
    };
    let known = checksums::read(tx)?;
    Ok(choose(known, addons, sums, only, force))
}

/// The decision from what the database says (`known`) and the sums hashed
/// before. Nothing stored yet: everything, once (as `UPDATE=all`), and
/// then the checksums are stored. A Force mode updates all the same when
/// nothing changed: the operator's explicit retry.
fn choose(known: Known, addons: &Addons, sums: &Sums, only: &[String], force: bool) -> Decision {
    if known.stored.is_empty() {
        log::info!("UPDATE=changed: no module checksums stored yet: updating as UPDATE=all once, then storing them");
        return Decision::All;
    }
    let missing = checksums::missing(&known, only);
    let Some(found) = compared(&known, addons, sums, only) else {
        return Decision::Hash(known);
    };
    found.say();
    match (found.changed.is_empty() && missing.is_empty(), force) {
        (true, true) => Decision::All,
        (true, false) => Decision::Nothing,
        (false, _) => Decision::Modules(found.changed),
    }
}

/// The comparison of stored and hashed checksums; `None` when the sums do
/// not cover what is installed (hash first) or nothing is stored.
fn compared(
    known: &Known,
    addons: &Addons,
    sums: &Sums,
    only: &[String],
) -> Option<checksums::Comparison> {
    let wanted: Vec<String> = checksums::wanted(known, only)
        .into_iter()
        .cloned()
        .collect();
    if known.stored.is_empty() || !sums.covers(&wanted, &known.rules) {
        return None;
    }
    Some(checksums::compare(known, sums, addons, only))
}

impl Ctx {
    /// Before the gate, with one attempt at the database and no lock: the
    /// checksums of what is installed now, so that the claim finds them
    /// made. True when that already decides: the latest state is ready and
    /// no module changed, so the locked look would write nothing and open
    /// the gate (a pod of an unchanged image passes without queueing for
    /// the lock; one that read just before another pod's claim is as if it
    /// had passed just before it). Anything unavailable here is left to the gate.
    pub(super) fn look_ahead(&mut self, only: &[String]) -> Result<bool, Failure> {
        if self.addons.as_ref().is_none_or(|a| a.dirs().is_empty()) {
            return Ok(false);
        }
        let Ok(client) = self.session.connect() else {
            return Ok(false);
        };
        let read = self.store.peek(client).and_then(|seen| {
            let mut tx = conn::bounded(client)?;
            let known = checksums::read(&mut tx)?;
            tx.commit()?;
            Ok((seen, known))
        });
        let (seen, known) = match read {
            Ok(both) => both,
            Err(e) => {
                self.session.lost(&e);
                return Ok(false);
            }
        };
        self.hash(&known, only)?;
        let ready = matches!(&seen, Seen::Latest(l) if verdict::is_ready(&l.state));
        if !ready || self.gate == crate::plan::Gate::Ignore {
            return Ok(false);
        }
        let Some(addons) = &self.addons else {
            return Ok(false);
        };
        if !checksums::missing(&known, only).is_empty() {
            return Ok(false);
        }
        match compared(&known, addons, &self.sums, only) {
            Some(found) if found.changed.is_empty() => {
                found.say();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Hashes what `known` says is installed (of `only`) and the sums lack.
    pub(super) fn hash(&mut self, known: &Known, only: &[String]) -> Result<(), Failure> {
        let Some(addons) = &self.addons else {
            return Ok(());
        };
        let wanted: Vec<String> = checksums::wanted(known, only)
            .into_iter()
            .cloned()
            .collect();
        self.sums
            .add(addons, &wanted, &known.rules)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::Interrupted => Failure::Stopped,
                _ => Failure::Usage(format!("cannot compute the checksum of an addon: {e}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::addons::{Rules, DEFAULT_EXCLUDE};
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// An addons directory with modules `a` and `b`, removed when dropped.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let dir = std::env::temp_dir().join(format!("odoo-init-{name}-{}", std::process::id()));
            for module in ["a", "b"] {
                let m = dir.join(module);
                std::fs::create_dir_all(&m).unwrap();
                std::fs::write(m.join("__manifest__.py"), format!("{{'name': '{module}'}}"))
                    .unwrap();
            }
            Tree(dir)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rules() -> Rules {
        Rules::new(DEFAULT_EXCLUDE, &[])
    }

    fn known(stored: &[(&str, Option<String>)]) -> Known {
        Known {
            installed: vec!["a".into(), "b".into()],
            stored: stored
                .iter()
                .map(|(m, s)| (m.to_string(), s.clone()))
                .collect::<HashMap<_, _>>(),
            rules: rules(),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_update_covers_what_changed_and_hashes_nothing_under_the_lock() {
        let tree = Tree::new("choose");
        let addons = Addons::new(vec![tree.0.clone()]);
        let mut sums = Sums::default();
        let sum = |m: &str| crate::odoo::addons::checksum(&tree.0.join(m), &rules()).unwrap();
        let current = [("a", Some(sum("a"))), ("b", Some(sum("b")))];

        // Nothing stored yet: everything, once.
        assert!(matches!(
            choose(known(&[]), &addons, &sums, &[], false),
            Decision::All
        ));
        // Sums not made yet: hashed outside the lock first.
        assert!(matches!(
            choose(known(&current), &addons, &sums, &[], false),
            Decision::Hash(_)
        ));
        sums.add(&addons, &names(&["a", "b"]), &rules()).unwrap();
        // Nothing changed: no update, unless a Force mode asks for one.
        assert!(matches!(
            choose(known(&current), &addons, &sums, &[], false),
            Decision::Nothing
        ));
        assert!(matches!(
            choose(known(&current), &addons, &sums, &[], true),
            Decision::All
        ));
        // `b` changed: only `b`; with MODULES=a, nothing.
        let stale = [("a", Some(sum("a"))), ("b", Some("0".repeat(40)))];
        match choose(known(&stale), &addons, &sums, &[], false) {
            Decision::Modules(m) => assert_eq!(m, names(&["b"])),
            other => panic!("{other:?}"),
        }
        let only_a = names(&["a"]);
        assert!(matches!(
            choose(known(&stale), &addons, &sums, &only_a, false),
            Decision::Nothing
        ));
        // Other rules (another active language): the sums no longer hold.
        let mut other = known(&stale);
        other.rules = Rules::new(DEFAULT_EXCLUDE, &["fr_FR".to_string()]);
        assert!(matches!(
            choose(other, &addons, &sums, &[], false),
            Decision::Hash(_)
        ));
    }
}
