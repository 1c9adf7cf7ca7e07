//! The mode plan: which steps `MODE` runs, in order. Pure data, so it can be
//! tested without a database or a process.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    InstallOnly,
    RunOnly,
    UpdateOnly,
    InstallAndRun,
    UpdateAndRun,
    ForceRunOnly,
    ForceUpdateOnly,
    ForceReadyState,
    Init,
    Restore,
}

impl Mode {
    pub const ALL: [Mode; 10] = [
        Mode::InstallOnly,
        Mode::RunOnly,
        Mode::UpdateOnly,
        Mode::InstallAndRun,
        Mode::UpdateAndRun,
        Mode::ForceRunOnly,
        Mode::ForceUpdateOnly,
        Mode::ForceReadyState,
        Mode::Init,
        Mode::Restore,
    ];

    /// Case-insensitive, as `MODE` is typed by people.
    pub fn parse(value: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(value.trim()))
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::InstallOnly => "InstallOnly",
            Mode::RunOnly => "RunOnly",
            Mode::UpdateOnly => "UpdateOnly",
            Mode::InstallAndRun => "InstallAndRun",
            Mode::UpdateAndRun => "UpdateAndRun",
            Mode::ForceRunOnly => "ForceRunOnly",
            Mode::ForceUpdateOnly => "ForceUpdateOnly",
            Mode::ForceReadyState => "ForceReadyState",
            Mode::Init => "Init",
            Mode::Restore => "Restore",
        }
    }

    /// The operator's explicit word to go on whatever the state says.
    pub fn is_forced(self) -> bool {
        matches!(
            self,
            Mode::ForceRunOnly | Mode::ForceUpdateOnly | Mode::ForceReadyState
        )
    }

    /// The modes that work without one database (`LIST_DB=True`): RunOnly
    /// serves the chosen databases, UpdateOnly and InstallOnly run their
    /// steps on each in turn (the `AndRun` forms then serve them), Init
    /// does nothing. The Force modes and Restore name one database.
    pub fn allows_list_db(self) -> bool {
        matches!(
            self,
            Mode::RunOnly
                | Mode::Init
                | Mode::UpdateOnly
                | Mode::InstallOnly
                | Mode::UpdateAndRun
                | Mode::InstallAndRun
        )
    }

    pub fn names() -> String {
        Mode::ALL.map(Mode::name).join(", ")
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing a mode does, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `Init`: as the admin role, create the role and the database; the plan
    /// ends here (exit 0) when the database already existed.
    Provision,
    /// Install `MODULES` + `SERVER_WIDE_MODULES` (busy state `Creating`).
    Install,
    /// Update the installed modules (busy state `Updating`).
    Update,
    /// The maintenance script (busy state `Maintenance`).
    Maintenance,
    /// `Restore`: `RESTORE_FROM` into a database of its own name, then
    /// put in place as `DB_NAME` (after `Provision`, which ends the plan
    /// when `DB_NAME` exists).
    Restore,
    /// Write `Force Ready`.
    ForceReady,
    /// Start Odoo and supervise it until the end.
    Run,
}

/// Whether the steps pass the state gate (claim a busy state under the lock,
/// wait while another pod holds one) or ignore the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Respect,
    /// Force modes: no waiting, no claim check; busy states are still written.
    Ignore,
    /// `LIST_DB=True`: no single database, so no state at all.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub gate: Gate,
}

impl Plan {
    pub fn for_mode(mode: Mode, list_db: bool) -> Plan {
        use Step::*;
        let (steps, gate) = match mode {
            Mode::InstallOnly => (vec![Install, Maintenance], Gate::Respect),
            Mode::RunOnly if list_db => (vec![Run], Gate::None),
            Mode::RunOnly => (vec![Run], Gate::Respect),
            Mode::UpdateOnly => (vec![Update, Maintenance], Gate::Respect),
            Mode::InstallAndRun => (vec![Install, Maintenance, Run], Gate::Respect),
            Mode::UpdateAndRun => (vec![Update, Maintenance, Run], Gate::Respect),
            Mode::ForceRunOnly => (vec![Run], Gate::Ignore),
            Mode::ForceUpdateOnly => (vec![Update], Gate::Ignore),
            Mode::ForceReadyState => (vec![ForceReady], Gate::Ignore),
            Mode::Init if list_db => (vec![], Gate::None),
            Mode::Init => (vec![Provision, Install, Maintenance], Gate::Respect),
            Mode::Restore => (vec![Provision, Restore, Maintenance], Gate::Respect),
        };
        Plan { steps, gate }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::*;

    #[test]
    fn modes_parse_in_any_case_and_round_trip() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.name()), Some(m));
            assert_eq!(Mode::parse(&m.name().to_uppercase()), Some(m));
        }
        assert_eq!(Mode::parse("runonly"), Some(Mode::RunOnly));
        assert_eq!(Mode::parse("Run"), None);
        assert_eq!(Mode::parse(""), None);
    }

    #[test]
    fn every_mode_has_the_steps_of_the_spec() {
        let steps = |m, l| Plan::for_mode(m, l).steps;
        assert_eq!(steps(Mode::InstallOnly, false), [Install, Maintenance]);
        assert_eq!(steps(Mode::RunOnly, false), [Run]);
        assert_eq!(steps(Mode::UpdateOnly, false), [Update, Maintenance]);
        assert_eq!(
            steps(Mode::InstallAndRun, false),
            [Install, Maintenance, Run]
        );
        assert_eq!(steps(Mode::UpdateAndRun, false), [Update, Maintenance, Run]);
        assert_eq!(steps(Mode::ForceRunOnly, false), [Run]);
        assert_eq!(steps(Mode::ForceUpdateOnly, false), [Update]);
        assert_eq!(steps(Mode::ForceReadyState, false), [ForceReady]);
        assert_eq!(steps(Mode::Init, false), [Provision, Install, Maintenance]);
        assert!(steps(Mode::Init, true).is_empty());
        assert_eq!(
            steps(Mode::Restore, false),
            [Provision, Restore, Maintenance]
        );
    }

    #[test]
    fn gates() {
        assert_eq!(Plan::for_mode(Mode::RunOnly, true).gate, Gate::None);
        assert_eq!(Plan::for_mode(Mode::RunOnly, false).gate, Gate::Respect);
        assert_eq!(Plan::for_mode(Mode::ForceRunOnly, false).gate, Gate::Ignore);
        assert_eq!(
            Plan::for_mode(Mode::ForceUpdateOnly, false).gate,
            Gate::Ignore
        );
    }

    #[test]
    fn the_modes_that_take_list_db() {
        let allowed: Vec<Mode> = Mode::ALL
            .into_iter()
            .filter(|m| m.allows_list_db())
            .collect();
        assert_eq!(
            allowed,
            [
                Mode::InstallOnly,
                Mode::RunOnly,
                Mode::UpdateOnly,
                Mode::InstallAndRun,
                Mode::UpdateAndRun,
                Mode::Init
            ]
        );
    }
}
