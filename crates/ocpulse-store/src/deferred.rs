//! Station states from batches nobody waits for, written later in company.
//!
//! A trigger ends with a batch nobody waits for (its record, its last event and the
//! station's updated capabilities), and under load that batch rides in the *next* station's
//! waited commit. Writing that station's state there costs a serialization, an upsert and a
//! page of the log for one capability counter, and the station's next acknowledged CALL
//! writes the same row again moments later. So a waited commit defers such states: they are
//! written by the station's next waited commit, by the next commit nobody waits for (the
//! writer is idle then), or once they are [`STATE_LINGER`] old, whichever comes first.
//!
//! A state a waited batch brings is always written in that batch's transaction: what is
//! acknowledged to a station is never behind the state it produced.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocpulse_core::store::SharedStation;

/// The longest a deferred state waits while commits keep coming; also how much of the
/// state nobody waited for a killed process can lose (capability counters, not messages).
pub(crate) const STATE_LINGER: Duration = Duration::from_secs(1);

/// One batch as the deferral sees it: the station it changed, and whether someone waits.
pub(crate) struct BatchStation<'a> {
    /// The station state the batch changed, if any.
    pub station: Option<&'a SharedStation>,
    /// Someone waits for this batch's durability.
    pub waited: bool,
}

/// The states deferred so far, by address (each `Arc` is held here, so addresses are
/// unique), with when each was first deferred.
#[derive(Default)]
pub(crate) struct DeferredStates {
    pending: HashMap<usize, (SharedStation, Instant)>,
    /// Keys in the order they were deferred, so the due ones are found at the front without
    /// visiting every pending state at each commit (a fleet of 10,000 defers thousands). An
    /// entry whose state was written since (or deferred again later) is stale and skipped.
    order: VecDeque<(Instant, usize)>,
}

fn key(station: &SharedStation) -> usize {
    Arc::as_ptr(station) as usize
}

/// The states a group writes, each once, in first-seen order.
#[derive(Default)]
struct WriteSet {
    states: Vec<SharedStation>,
    seen: HashSet<usize>,
}

impl WriteSet {
    fn add(&mut self, station: &SharedStation) {
        if self.seen.insert(key(station)) {
            self.states.push(Arc::clone(station));
        }
    }
}

impl DeferredStates {
    /// Whether any state waits to be written.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Which states the group about to be committed writes, each once, in first-seen
    /// order; the states it does not write are remembered. `flush` writes every deferred
    /// state (the writer is idle, or stopping).
    pub fn plan(
        &mut self,
        group: &[BatchStation<'_>],
        now: Instant,
        flush: bool,
    ) -> Vec<SharedStation> {
        let anyone_waits = group.iter().any(|b| b.waited);
        let mut write = WriteSet::default();
        for b in group {
            let Some(station) = b.station else { continue };
            if b.waited || !anyone_waits {
                write.add(station);
            } else if let Entry::Vacant(e) = self.pending.entry(key(station)) {
                e.insert((Arc::clone(station), now));
                self.order.push_back((now, key(station)));
            }
        }
        if flush || !anyone_waits {
            for (station, _) in self.pending.values() {
                write.add(station);
            }
        } else {
            for &(since, k) in &self.order {
                if now.saturating_duration_since(since) < STATE_LINGER {
                    break;
                }
                if let Some((station, deferred_at)) = self.pending.get(&k)
                    && *deferred_at == since
                {
                    write.add(station);
                }
            }
        }
        write.states
    }

    /// Forgets the states a committed group wrote (called only after the commit
    /// succeeded, so a failed commit leaves them deferred).
    pub fn written(&mut self, states: &[SharedStation]) {
        for s in states {
            self.pending.remove(&key(s));
        }
        while let Some(&(since, k)) = self.order.front() {
            let live = self
                .pending
                .get(&k)
                .is_some_and(|(_, deferred_at)| *deferred_at == since);
            if live {
                break;
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use ocpulse_core::state::StationState;

    use super::*;

    fn station(id: &str) -> SharedStation {
        Arc::new(Mutex::new(StationState::new(id)))
    }

    fn ids(states: &[SharedStation]) -> Vec<String> {
        states.iter().map(|s| s.lock().id.clone()).collect()
    }

    fn waited(s: &SharedStation) -> BatchStation<'_> {
        BatchStation {
            station: Some(s),
            waited: true,
        }
    }

    fn unwaited(s: &SharedStation) -> BatchStation<'_> {
        BatchStation {
            station: Some(s),
            waited: false,
        }
    }

    /// Commits a group where `a` is awaited and `b` is not beside it, so `b` is deferred.
    fn defer_b_beside_a(
        d: &mut DeferredStates,
        a: &SharedStation,
        b: &SharedStation,
        now: Instant,
    ) {
        let w = d.plan(&[waited(a), unwaited(b)], now, false);
        assert_eq!(ids(&w), vec![a.lock().id.clone()]);
        d.written(&w);
    }

    #[test]
    fn a_waited_batch_writes_its_state_and_defers_the_unwaited_ones_beside_it() {
        let (a, b) = (station("A"), station("B"));
        let mut d = DeferredStates::default();
        let now = Instant::now();
        assert_eq!(
            ids(&d.plan(&[waited(&a), unwaited(&b)], now, false)),
            vec!["A"]
        );
        assert!(!d.is_empty(), "B waits for later");
    }

    #[test]
    fn a_deferred_state_is_written_by_its_stations_next_waited_batch() {
        let (other, b) = (station("O"), station("B"));
        let mut d = DeferredStates::default();
        let now = Instant::now();
        defer_b_beside_a(&mut d, &other, &b, now);
        let w = d.plan(&[waited(&b)], now, false);
        assert_eq!(ids(&w), vec!["B"], "written once");
        d.written(&w);
        assert!(d.is_empty());
    }

    #[test]
    fn a_group_nobody_waits_for_writes_every_deferred_state() {
        let (a, b) = (station("A"), station("B"));
        let mut d = DeferredStates::default();
        let now = Instant::now();
        defer_b_beside_a(&mut d, &a, &b, now);
        let idle = [BatchStation {
            station: None,
            waited: false,
        }];
        let w = d.plan(&idle, now, false);
        assert_eq!(ids(&w), vec!["B"]);
        d.written(&w);
        assert!(d.is_empty());
    }

    #[test]
    fn deferred_states_are_written_once_they_are_state_linger_old_even_under_load() {
        let (a, b) = (station("A"), station("B"));
        let mut d = DeferredStates::default();
        let t0 = Instant::now();
        defer_b_beside_a(&mut d, &a, &b, t0);
        let w = d.plan(&[waited(&a)], t0 + STATE_LINGER / 2, false);
        assert_eq!(ids(&w), vec!["A"], "B is not due yet");
        d.written(&w);
        let w = d.plan(&[waited(&a)], t0 + STATE_LINGER, false);
        assert_eq!(ids(&w), vec!["A", "B"]);
        d.written(&w);
        assert!(d.is_empty());
    }

    #[test]
    fn a_state_deferred_again_after_it_was_written_waits_its_own_linger() {
        let (a, b, c) = (station("A"), station("B"), station("C"));
        let mut d = DeferredStates::default();
        let t0 = Instant::now();
        defer_b_beside_a(&mut d, &a, &c, t0); // C: due at t0 + STATE_LINGER
        defer_b_beside_a(&mut d, &a, &b, t0);
        let w = d.plan(&[waited(&b)], t0, false);
        d.written(&w); // B written; its first deferral is now stale
        defer_b_beside_a(&mut d, &a, &b, t0 + STATE_LINGER / 2);
        let w = d.plan(&[waited(&a)], t0 + STATE_LINGER, false);
        assert_eq!(
            ids(&w),
            vec!["A", "C"],
            "B was deferred again only half a linger ago"
        );
        d.written(&w);
        let w = d.plan(&[waited(&a)], t0 + STATE_LINGER * 3 / 2, false);
        assert_eq!(ids(&w), vec!["A", "B"]);
        d.written(&w);
        assert!(d.is_empty());
    }

    #[test]
    fn thousands_of_due_states_are_each_written_once() {
        let a = station("A");
        let fleet: Vec<SharedStation> = (0..5_000).map(|i| station(&format!("S{i}"))).collect();
        let mut d = DeferredStates::default();
        let t0 = Instant::now();
        for s in &fleet {
            let w = d.plan(&[waited(&a), unwaited(s), unwaited(s)], t0, false);
            d.written(&w);
        }
        let w = d.plan(&[waited(&a)], t0 + STATE_LINGER, false);
        assert_eq!(
            w.len(),
            1 + fleet.len(),
            "A and every deferred state, once each"
        );
        d.written(&w);
        assert!(d.is_empty());
    }

    #[test]
    fn a_failed_commit_leaves_states_deferred_and_flush_writes_them() {
        let (a, b) = (station("A"), station("B"));
        let mut d = DeferredStates::default();
        let now = Instant::now();
        let _not_committed = d.plan(&[waited(&a), unwaited(&b)], now, false);
        let w = d.plan(&[], now, true);
        assert_eq!(ids(&w), vec!["B"]);
    }
}
