//! The waiting pod's own watch of an owner's heartbeat: the lease counts
//! only the silence this pod saw while the database answered.

use std::time::{Duration, Instant};

use crate::db::verdict::Latest;

/// What a waiting pod has itself seen of the latest busy row: since when its
/// heartbeat stayed the same in polls that the database answered. A new row,
/// a new beat, a lost connection or a gap between polls (this pod stalled)
/// starts the watch again.
#[derive(Default)]
pub(super) struct Watch {
    /// The row id and heartbeat seen, and since when.
    seen: Option<((i64, Option<String>), Instant)>,
    last_poll: Option<Instant>,
}

/// Longer than this between two answered polls, and the silence in between
/// was not watched.
const WATCH_GAP: Duration = Duration::from_secs(3);

impl Watch {
    /// Records this poll of `latest`; how long its heartbeat has been watched unchanged.
    pub(super) fn see(&mut self, latest: &Latest) -> Duration {
        self.see_at(latest, Instant::now())
    }

    fn see_at(&mut self, latest: &Latest, now: Instant) -> Duration {
        let key = (latest.id, latest.heartbeat.clone());
        let continuous = self
            .last_poll
            .is_some_and(|t| now.saturating_duration_since(t) <= WATCH_GAP);
        self.last_poll = Some(now);
        match &self.seen {
            Some((seen, since)) if continuous && *seen == key => now - *since,
            _ => {
                self.seen = Some((key, now));
                Duration::ZERO
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, beat: &str) -> Latest {
        Latest {
            id,
            state: "Updating".into(),
            write_date: String::new(),
            age: Duration::ZERO,
            heartbeat: Some(beat.into()),
            lease: None,
            failed: None,
            owner: None,
        }
    }

    #[test]
    fn a_silent_heartbeat_is_watched_across_answered_polls() {
        let mut watch = Watch::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(watch.see_at(&row(7, "a"), t0), s(0));
        assert_eq!(watch.see_at(&row(7, "a"), t0 + s(1)), s(1));
        assert_eq!(watch.see_at(&row(7, "a"), t0 + s(3)), s(3));
    }

    #[test]
    fn a_new_beat_a_new_row_or_a_gap_starts_the_watch_again() {
        let s = Duration::from_secs;
        let t0 = Instant::now();
        let mut watch = Watch::default();
        watch.see_at(&row(7, "a"), t0);
        assert_eq!(watch.see_at(&row(7, "b"), t0 + s(1)), s(0), "new beat");
        assert_eq!(watch.see_at(&row(8, "b"), t0 + s(2)), s(0), "new row");
        assert_eq!(watch.see_at(&row(8, "b"), t0 + s(3)), s(1));
        // This pod stalled (or could not reach the database) for longer than the gap.
        assert_eq!(watch.see_at(&row(8, "b"), t0 + s(7)), s(0), "gap");
        assert_eq!(watch.see_at(&row(8, "b"), t0 + s(8)), s(1));
    }
}
