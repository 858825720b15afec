//! How long the journal keeps what it holds: one period for every action and overrides per
//! action (MeterValues is most of a fleet's journal and is worth less with age than a
//! BootNotification). Pure: the clock is an input. A background task turns the policy into
//! [`PruneRule`]s and has the store delete them in small seq windows ([`JournalPrune`]),
//! so no step holds the writer for long.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Millis;

/// What is kept, and for how long. `None` keeps for ever (the default: nothing is deleted
/// unless the operator says so).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// How long any journal entry is kept, unless its action has its own period.
    pub journal: Option<Duration>,
    /// Periods of single actions (a CALL and the answers to it share the action), each
    /// overriding `journal`; `None` keeps that action for ever.
    pub per_action: BTreeMap<String, Option<Duration>>,
}

/// Which journal entries a rule covers, by action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionSet {
    /// Only entries of these actions.
    Only(Vec<String>),
    /// Every entry except those of these actions (entries without an action included).
    AllBut(Vec<String>),
}

impl ActionSet {
    /// Whether an entry with `action` is covered.
    pub fn covers(&self, action: Option<&str>) -> bool {
        match (self, action) {
            (Self::Only(list), Some(a)) => list.iter().any(|x| x == a),
            (Self::Only(_), None) => false,
            (Self::AllBut(list), Some(a)) => !list.iter().any(|x| x == a),
            (Self::AllBut(_), None) => true,
        }
    }

    /// The action names listed, whichever way they count.
    pub fn listed(&self) -> &[String] {
        match self {
            Self::Only(list) | Self::AllBut(list) => list,
        }
    }
}

/// Entries of `actions` older than `before` are due for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRule {
    /// Which entries.
    pub actions: ActionSet,
    /// Entries received or sent before this time (Unix ms) are due.
    pub before: Millis,
}

/// One step of pruning, done by the store in one short transaction: delete the entries of
/// `actions` with `after_seq < seq <= until_seq`. Windows are by seq, not by time, so a
/// step costs a range of the primary key whatever the journal's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPrune {
    /// Which entries.
    pub actions: ActionSet,
    /// Exclusive lower bound.
    pub after_seq: i64,
    /// Inclusive upper bound.
    pub until_seq: i64,
}

/// What the journal holds, for the storage report and the next prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// The oldest entry's seq (0 when empty).
    pub oldest_seq: i64,
    /// The oldest entry's time (Unix ms), if any.
    pub oldest_at: Option<Millis>,
    /// The newest entry's seq (0 when empty).
    pub newest_seq: i64,
    /// Bytes the store uses on disk for everything it keeps (the journal is most of it).
    pub bytes: u64,
}

fn millis(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RetentionPolicy {
    /// Whether anything is ever deleted.
    pub fn prunes(&self) -> bool {
        self.journal.is_some() || self.per_action.values().any(Option::is_some)
    }

    /// The rules due at `now`: one per action with its own period, then one for the rest.
    pub fn rules(&self, now: Millis) -> Vec<PruneRule> {
        let before = |d: Duration| now.saturating_sub(millis(d));
        let mut rules: Vec<PruneRule> = self
            .per_action
            .iter()
            .filter_map(|(action, period)| {
                period.map(|d| PruneRule {
                    actions: ActionSet::Only(vec![action.clone()]),
                    before: before(d),
                })
            })
            .collect();
        if let Some(d) = self.journal {
            rules.push(PruneRule {
                actions: ActionSet::AllBut(self.per_action.keys().cloned().collect()),
                before: before(d),
            });
        }
        rules
    }
}

impl RetentionPolicy {
    /// The actions kept longer than the journal as a whole (their own period is longer, or
    /// they are kept forever): a stored period of the journal holding one of them cannot
    /// be dropped whole when the journal's period ends.
    pub fn kept_longer(&self) -> Vec<String> {
        self.per_action
            .iter()
            .filter(|(_, period)| match (period, self.journal) {
                (None, _) => true,
                (Some(own), Some(journal)) => *own > journal,
                (Some(_), None) => true,
            })
            .map(|(action, _)| action.clone())
            .collect()
    }
}

/// The steps that delete `actions` from `after_seq` (exclusive) to `until_seq` (inclusive),
/// `step` seqs at a time.
pub fn windows(
    actions: &ActionSet,
    after_seq: i64,
    until_seq: i64,
    step: i64,
) -> impl Iterator<Item = JournalPrune> + '_ {
    let step = step.max(1);
    let mut from = after_seq;
    std::iter::from_fn(move || {
        (from < until_seq).then(|| {
            let to = from.saturating_add(step).min(until_seq);
            let window = JournalPrune {
                actions: actions.clone(),
                after_seq: from,
                until_seq: to,
            };
            from = to;
            window
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn actions_kept_longer_than_the_journal_keep_their_stored_days() {
        let policy = RetentionPolicy {
            journal: Some(DAY * 30),
            per_action: [
                ("MeterValues".to_owned(), Some(DAY * 7)),
                ("BootNotification".to_owned(), None),
                ("SecurityEventNotification".to_owned(), Some(DAY * 365)),
            ]
            .into(),
        };
        assert_eq!(
            policy.kept_longer(),
            vec!["BootNotification", "SecurityEventNotification"]
        );
    }

    #[test]
    fn nothing_is_pruned_by_default() {
        let policy = RetentionPolicy::default();
        assert!(!policy.prunes());
        assert!(policy.rules(1_000_000).is_empty());
    }

    #[test]
    fn an_action_with_its_own_period_is_left_out_of_the_journal_rule() {
        let policy = RetentionPolicy {
            journal: Some(DAY * 90),
            per_action: [
                ("MeterValues".to_owned(), Some(DAY * 7)),
                ("BootNotification".to_owned(), None),
            ]
            .into(),
        };
        let now = 100 * 86_400_000;
        let rules = policy.rules(now);
        assert_eq!(
            rules,
            vec![
                PruneRule {
                    actions: ActionSet::Only(vec!["MeterValues".into()]),
                    before: 93 * 86_400_000,
                },
                PruneRule {
                    actions: ActionSet::AllBut(vec![
                        "BootNotification".into(),
                        "MeterValues".into()
                    ]),
                    before: 10 * 86_400_000,
                },
            ]
        );
        assert!(rules[1].actions.covers(None));
        assert!(rules[1].actions.covers(Some("Heartbeat")));
        assert!(!rules[1].actions.covers(Some("BootNotification")));
        assert!(rules[0].actions.covers(Some("MeterValues")));
        assert!(!rules[0].actions.covers(None));
    }

    #[test]
    fn a_period_longer_than_time_itself_prunes_nothing_rather_than_overflowing() {
        let policy = RetentionPolicy {
            journal: Some(Duration::MAX),
            per_action: BTreeMap::new(),
        };
        assert!(policy.rules(5)[0].before <= 5);
    }

    #[test]
    fn windows_cover_the_range_once_in_steps() {
        let all = ActionSet::AllBut(vec![]);
        let steps: Vec<(i64, i64)> = windows(&all, 10, 35, 10)
            .map(|w| (w.after_seq, w.until_seq))
            .collect();
        assert_eq!(steps, [(10, 20), (20, 30), (30, 35)]);
        assert_eq!(windows(&all, 35, 35, 10).count(), 0);
        assert_eq!(windows(&all, 40, 35, 10).count(), 0);
    }
}
