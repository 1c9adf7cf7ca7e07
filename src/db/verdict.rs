//! The gate's verdict on the latest row: proceed, wait, or write `Reset`
//! for a silent owner. Pure: it reads nothing, so every rule is tested
//! without a database.

use std::time::Duration;

/// The states after which a pod may go on.
pub(crate) fn is_ready(state: &str) -> bool {
    matches!(state, "Ready" | "Reset" | "Force Ready")
}

/// The newest row. Times are the database's (UTC text), ages by its clock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Latest {
    pub id: i64,
    pub state: String,
    pub write_date: String,
    pub age: Duration,
    /// The owner's last heartbeat (UTC text); `None` for rows without one.
    pub heartbeat: Option<String>,
    /// The owner's `STATE_LEASE`, recorded with its claim.
    pub lease: Option<Duration>,
    /// The exit status of a step that failed (recorded by its owner).
    pub failed: Option<i32>,
    pub owner: Option<String>,
}

/// What a waiting pod should do about the latest state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Proceed,
    /// Wait; what for.
    Wait(String),
    /// Write `Reset` and exit non-zero; why.
    Reset(String),
}

/// The gate's rule for a busy state. `watched`: how long this pod has itself
/// seen the row's heartbeat unchanged while the database answered it (time in
/// which it could not reach the database does not count). `lease`: this pod's
/// `STATE_LEASE`, used only for rows that do not carry their owner's.
///
/// - a step that failed: its owner is alive and said so; wait for a person
///   (`ForceUpdateOnly`, `ForceReadyState`), `Reset` only after `TIMEOUT`;
/// - a heartbeat: the owner is gone once it stayed unchanged for the owner's
///   lease; a long step that is alive keeps its claim;
/// - no heartbeat (the old shell implementation): `Reset` after `TIMEOUT`.
pub(crate) fn judge(
    latest: &Latest,
    watched: Duration,
    timeout: Duration,
    lease: Duration,
) -> Verdict {
    if is_ready(&latest.state) {
        return Verdict::Proceed;
    }
    let row = format!(
        "'{}' (row {}, written {}, by {})",
        latest.state,
        latest.id,
        latest.write_date,
        latest.owner.as_deref().unwrap_or("the old implementation")
    );
    let timed_out = latest.age > timeout;
    let too_long = || {
        Verdict::Reset(format!(
            "{row} has lasted {:.0}s, longer than TIMEOUT ({:.0}s)",
            latest.age.as_secs_f64(),
            timeout.as_secs_f64()
        ))
    };
    if let Some(status) = latest.failed {
        if timed_out {
            return too_long();
        }
        return Verdict::Wait(format!(
            "the step of {row} failed with status {status} at {}: the database may be half-done; \
             fix the cause, then run MODE=ForceUpdateOnly or ForceReadyState (a waiting pod \
             writes Reset only after TIMEOUT, {:.0}s)",
            latest.heartbeat.as_deref().unwrap_or("an unknown time"),
            timeout.as_secs_f64()
        ));
    }
    match &latest.heartbeat {
        Some(beat) => {
            let lease = latest.lease.unwrap_or(lease);
            if watched >= lease {
                Verdict::Reset(format!(
                    "the owner of {row} sent no heartbeat for {:.0}s while the database answered \
                     (last {beat}; its lease {:.0}s)",
                    watched.as_secs_f64(),
                    lease.as_secs_f64()
                ))
            } else {
                Verdict::Wait(format!(
                    "state {row}; its owner's heartbeat {beat}, its lease {:.0}s",
                    lease.as_secs_f64()
                ))
            }
        }
        None if timed_out => too_long(),
        None => Verdict::Wait(format!(
            "state {row}; without a heartbeat it is reset after TIMEOUT ({:.0}s)",
            timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(state: &str, age: u64, beat: bool) -> Latest {
        Latest {
            id: 7,
            state: state.into(),
            write_date: String::new(),
            age: Duration::from_secs(age),
            heartbeat: beat.then(|| "2024-03-13 09:45:37.431489+00".to_string()),
            lease: None,
            failed: None,
            owner: Some("pod-a:42".into()),
        }
    }

    const T: Duration = Duration::from_secs(1800);
    const L: Duration = Duration::from_secs(60);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_gate_opens_on_ready_reset_and_force_ready() {
        for s in ["Ready", "Reset", "Force Ready"] {
            assert_eq!(
                judge(&latest(s, 99999, false), secs(0), T, L),
                Verdict::Proceed
            );
        }
    }

    #[test]
    fn busy_states_without_heartbeat_wait_until_timeout() {
        assert!(matches!(
            judge(&latest("Updating", 10, false), secs(0), T, L),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            judge(&latest("Updating", 1801, false), secs(0), T, L),
            Verdict::Reset(_)
        ));
    }

    #[test]
    fn a_heartbeat_is_judged_by_what_this_pod_watched_and_the_owners_lease() {
        // A live heartbeat keeps a long step's claim, whatever the row's age.
        let mut row = latest("Updating", 5000, true);
        assert!(matches!(judge(&row, secs(59), T, L), Verdict::Wait(_)));
        assert!(matches!(judge(&row, secs(60), T, L), Verdict::Reset(_)));
        // The owner's lease travels with its claim: a waiter with a short
        // STATE_LEASE does not reset an owner that beats less often.
        row.lease = Some(secs(120));
        assert!(matches!(
            judge(&row, secs(90), T, secs(10)),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            judge(&row, secs(120), T, secs(10)),
            Verdict::Reset(_)
        ));
    }

    #[test]
    fn a_failed_step_waits_for_a_person_or_timeout_not_the_lease() {
        let mut row = latest("Updating", 300, true);
        row.failed = Some(1);
        match judge(&row, secs(3600), T, L) {
            Verdict::Wait(why) => {
                assert!(why.contains("failed with status 1"), "{why}");
                assert!(why.contains("ForceUpdateOnly"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        row.age = secs(1801);
        assert!(matches!(judge(&row, secs(0), T, L), Verdict::Reset(_)));
    }
}
