//! `UPDATE=changed`: which installed modules an update covers. The addons
//! are hashed outside any state transaction; under the lock only the
//! stored checksums are read and compared, so that a pod with nothing
//! changed holds the lock for a few statements.

use crate::db::client::Transaction;

use super::gate::Ask;
use super::{Ctx, Next};
use crate::db::conn;
use crate::db::state::State;
use crate::exit::Failure;
use crate::odoo::addons::Addons;
use crate::odoo::checksums::{self, Known, Sums};
use crate::odoo::command as odoo;
use crate::pid1::supervisor::Supervisor;

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
    let wanted: Vec<String> = checksums::wanted(&known, only)
        .into_iter()
        .cloned()
        .collect();
    if !sums.covers(&wanted, &known.rules) {
        return Decision::Hash(known);
    }
    if known.installed.iter().any(|m| m == "base") && addons.find("base").is_none() {
        log::warn!("Odoo's own addons (base) are on no addons path odoo-init knows: their changes go unseen; set ADDONS_PATH to every addons directory, or UPDATE=all");
    }
    let changed = checksums::changed(&known, sums, addons, only);
    match (changed.is_empty(), force) {
        (true, true) => Decision::All,
        (true, false) => Decision::Nothing,
        (false, _) => Decision::Modules(changed),
    }
}

impl Ctx {
    /// `UPDATE=changed`: the installed modules (of `MODULES`, when set)
    /// whose files changed; none: no update runs and no busy state is written.
    pub(super) fn update_changed(&mut self, sup: &mut Supervisor) -> Result<Next, Failure> {
        let only = odoo::to_update(&self.cfg.odoo);
        self.hash_ahead(&only)?;
        let claimed = self.pass_gate(&mut sup.pause(), Ask::Update { only: &only })?;
        let Some(claimed) = claimed else {
            log::info!(
                "UPDATE=changed: no installed module changed since the checksums stored by the last update: no update"
            );
            return Ok(Next::Continue);
        };
        let argv = match &claimed.modules {
            Some(modules) => {
                log::info!("UPDATE=changed: updating {}", modules.join(","));
                odoo::update_modules(&self.cfg.odoo, self.extra.current(), modules)
            }
            None => odoo::update(&self.cfg.odoo, self.extra.current()),
        };
        self.run_claimed(sup, State::Updating, claimed.id, argv, &only)
    }

    /// Before the gate, with one attempt at the database and no lock: the
    /// checksums of what is installed now, so that the claim finds them
    /// made. Anything unavailable here is left to the gate.
    fn hash_ahead(&mut self, only: &[String]) -> Result<(), Failure> {
        if self.addons.as_ref().is_none_or(|a| a.dirs().is_empty()) {
            return Ok(());
        }
        let Ok(client) = self.session.connect() else {
            return Ok(());
        };
        let read = conn::bounded(client).and_then(|mut tx| {
            let known = checksums::read(&mut tx)?;
            tx.commit()?;
            Ok(known)
        });
        match read {
            Ok(known) => self.hash(&known, only),
            Err(e) => {
                self.session.lost(&e);
                Ok(())
            }
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
