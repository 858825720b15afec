//! Trigger correlation: deciding which of a station's later CALLs are the message(s) a
//! TriggerMessage asked for.
//!
//! OCPP has no correlation field: the triggered message is a new CALL with the station's
//! own id (1.6 §5.17, 2.0.1 F06.FR.04). ocpulse links it by *(action, target, time)*: a
//! CALL of the expected action whose connector/EVSE matches the target, arriving after the
//! TriggerMessage was sent and before the caller's deadline. A message sent "because of
//! normal operations" in that window satisfies the request too (1.6 §5.17 allows it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The connector (1.6) or EVSE (2.0.1, optionally with its connector) a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    /// 1.6 connectorId, or 2.0.1 evse id.
    pub id: i64,
    /// 2.0.1 connectorId within the EVSE, where the message carries one.
    pub connector: Option<i64>,
}

impl TargetKey {
    /// A 1.6 connector, or a 2.0.1 EVSE as a whole.
    pub fn of(id: i64) -> Self {
        Self {
            id,
            connector: None,
        }
    }

    /// A 2.0.1 connector of an EVSE.
    pub fn evse_connector(id: i64, connector: i64) -> Self {
        Self {
            id,
            connector: Some(connector),
        }
    }

    /// Whether a message about `self` satisfies a request for `wanted`.
    pub fn satisfies(self, wanted: TargetKey) -> bool {
        self.id == wanted.id && (wanted.connector.is_none() || self.connector == wanted.connector)
    }
}

/// How many messages a trigger waits for, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The target is irrelevant to the message (Heartbeat, BootNotification, status
    /// notifications of firmware/logs, certificates): the first message completes it.
    One,
    /// One connector/EVSE: the first message about it completes the trigger.
    Target(TargetKey),
    /// Every connector/EVSE: one message per expected target. With no known targets the
    /// trigger completes after the first message and a quiet period with no more.
    All(BTreeSet<TargetKey>),
    /// 2.0.1 TransactionEvent with no EVSE: one `Updated` event per transaction the CSMS
    /// knows running (F06.FR.07); with none known there is nothing to wait for.
    Transactions(BTreeSet<String>),
    /// The station's answer is all there is to wait for: a 2.1 `CustomTrigger` asks for a
    /// vendor-defined message that nothing in OCPP names, so no station CALL can be told to
    /// answer it and none is claimed (it is journaled and answered like any other).
    AnswerOnly,
}

/// What a trigger waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The action of the CALL the station will send (e.g. `SignCertificate` for
    /// `SignChargingStationCertificate`); for [`Scope::AnswerOnly`] the requested message.
    pub action: &'static str,
    /// Which and how many.
    pub scope: Scope,
}

/// Whether a station CALL says it was sent because of a trigger. OCPP has such a marker
/// only on some messages: `sampledValue.context = "Trigger"` (1.6 and 2.x meter values) and
/// 2.x `TransactionEvent.triggerReason = "Trigger"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Marker {
    /// Marked as triggered.
    Triggered,
    /// The message kind has a marker and this one says something else (a periodic sample,
    /// a transaction's own event): routine traffic.
    Routine,
    /// The message kind has no marker (Heartbeat, StatusNotification, BootNotification...).
    Unmarkable,
}

/// What is known of a station's habit of marking triggered messages, learned from its
/// answers to earlier triggers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Marking {
    /// Not seen yet: an unmarked message is taken, but a marked one arriving soon after is
    /// preferred to it.
    #[default]
    Unknown,
    /// It marks triggered messages: unmarked ones are routine and never taken.
    Marks,
    /// It sent unmarked messages in answer to a trigger: marker fields say nothing.
    DoesNotMark,
}

/// Why a message was taken as (part of) a trigger's answer; kept in the trigger record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchReason {
    /// It carries OCPP's trigger marker.
    Marker,
    /// It is about the connector/EVSE asked for.
    Target,
    /// It is about a transaction the trigger waited for.
    Transaction,
    /// The first message of the expected action after the trigger (OCPP has nothing finer
    /// for it).
    FirstAfterAccept,
}

/// What the matcher needs to know of one station CALL, read from it once by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<'a> {
    /// Its action.
    pub action: &'a str,
    /// The connector/EVSE it is about, where it names one.
    pub target: Option<TargetKey>,
    /// Its trigger marker.
    pub marker: Marker,
    /// The transaction it is about (2.x TransactionEvent).
    pub transaction_id: Option<&'a str>,
    /// It reports a change (a status transition, a transaction starting or ending): that
    /// explains it as routine when it is not what the trigger asked for.
    pub reports_change: bool,
}

/// The matcher's decision about one offered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It answers the trigger. `replaces` is the index (among this collector's claims) of an
    /// unmarked message it supersedes, which is no longer counted.
    Claim {
        /// Why.
        reason: MatchReason,
        /// The superseded claim.
        replaces: Option<usize>,
    },
    /// The expected action for another target, and nothing but a wrong target explains it.
    NearMiss,
    /// Not related to this trigger.
    Ignore,
}

/// One claimed message as the collector counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    key: Option<ClaimKey>,
    marker: Marker,
    live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ClaimKey {
    Target(TargetKey),
    Transaction(String),
}

/// Collects the messages that answer one trigger; its owner offers it every station CALL
/// it acknowledges and keeps the ones it claims.
#[derive(Debug, Clone)]
pub struct Collector {
    expectation: Expectation,
    quiet: Duration,
    marking: Marking,
    claims: Vec<Claim>,
    last_match: Option<Instant>,
}

impl Collector {
    /// A collector for `expectation` at a station whose marking habit is `marking`; `quiet`
    /// is how long an open-ended `All` waits for another message before it counts as
    /// complete, and how long an unmarked answer waits for a marked one while the habit is
    /// unknown.
    pub fn new(expectation: Expectation, quiet: Duration, marking: Marking) -> Self {
        Self {
            expectation,
            quiet,
            marking,
            claims: Vec::new(),
            last_match: None,
        }
    }

    /// The expectation being collected.
    pub fn expectation(&self) -> &Expectation {
        &self.expectation
    }

    /// Decides about one station CALL. A complete collector claims nothing more.
    pub fn offer(&mut self, offer: &Offer<'_>, now: Instant) -> Verdict {
        if offer.action != self.expectation.action {
            return Verdict::Ignore;
        }
        if offer.marker == Marker::Routine && self.marking == Marking::Marks {
            return Verdict::Ignore;
        }
        let key = match &self.expectation.scope {
            Scope::AnswerOnly => return Verdict::Ignore,
            Scope::One => None,
            Scope::Target(wanted) => match offer.target {
                Some(t) if !t.satisfies(*wanted) => return self.near_miss(offer),
                Some(_) => Some(ClaimKey::Target(*wanted)),
                None => None,
            },
            Scope::All(expected) => match offer.target {
                Some(t) if expected.is_empty() => Some(ClaimKey::Target(t)),
                Some(t) => match expected.iter().find(|e| t.satisfies(**e)) {
                    Some(e) => Some(ClaimKey::Target(*e)),
                    // A target the CSMS did not know: its layout was incomplete. Taken only
                    // when nothing says it is routine; it completes nothing.
                    None if offer.marker != Marker::Routine && !offer.reports_change => {
                        Some(ClaimKey::Target(t))
                    }
                    None => return Verdict::Ignore,
                },
                None => None,
            },
            Scope::Transactions(ids) => match offer.transaction_id {
                Some(id) if ids.contains(id) => {
                    // A transaction's own Started/Ended is not a trigger's `Updated`.
                    if offer.marker != Marker::Triggered && offer.reports_change {
                        return Verdict::Ignore;
                    }
                    Some(ClaimKey::Transaction(id.to_owned()))
                }
                _ => return Verdict::Ignore,
            },
        };
        let replaces = match self.live_claim(key.as_ref()) {
            // A marked message supersedes an unmarked one for the same thing; anything else
            // already answered is a repeat (a later periodic sample), not the answer.
            Some(i)
                if offer.marker == Marker::Triggered
                    && self.claims[i].marker == Marker::Routine =>
            {
                Some(i)
            }
            Some(_) => return Verdict::Ignore,
            None if self.is_complete(now) => return Verdict::Ignore,
            None => None,
        };
        if let Some(i) = replaces {
            self.claims[i].live = false;
        }
        let reason = match (offer.marker, &key) {
            (Marker::Triggered, _) => MatchReason::Marker,
            (_, Some(ClaimKey::Transaction(_))) => MatchReason::Transaction,
            (_, Some(ClaimKey::Target(_))) => MatchReason::Target,
            (_, None) => MatchReason::FirstAfterAccept,
        };
        self.claims.push(Claim {
            key,
            marker: offer.marker,
            live: true,
        });
        self.last_match = Some(now);
        Verdict::Claim { reason, replaces }
    }

    fn near_miss(&self, offer: &Offer<'_>) -> Verdict {
        let explained = offer.reports_change || offer.marker == Marker::Routine;
        if explained {
            Verdict::Ignore
        } else {
            Verdict::NearMiss
        }
    }

    /// The live claim for `key` (for keyless scopes: any live claim).
    fn live_claim(&self, key: Option<&ClaimKey>) -> Option<usize> {
        self.claims
            .iter()
            .position(|c| c.live && (key.is_none() || c.key.as_ref() == key))
    }

    /// Whether every expected message has arrived (and, while the station's marking habit
    /// is unknown, an unmarked answer has had its quiet period for a marked one to follow).
    pub fn is_complete(&self, now: Instant) -> bool {
        let live = || self.claims.iter().filter(|c| c.live);
        let answered = match &self.expectation.scope {
            Scope::AnswerOnly => true,
            Scope::One | Scope::Target(_) => live().next().is_some(),
            Scope::All(expected) if expected.is_empty() => {
                self.last_match.is_some_and(|at| now >= at + self.quiet)
            }
            Scope::All(expected) => expected
                .iter()
                .all(|e| live().any(|c| c.key == Some(ClaimKey::Target(*e)))),
            Scope::Transactions(ids) => ids.iter().all(|id| {
                live().any(|c| c.key.as_ref() == Some(&ClaimKey::Transaction(id.clone())))
            }),
        };
        answered && !self.awaiting_marked(now)
    }

    /// Whether nothing at all is expected (an untargeted TransactionEvent with no known
    /// transaction, a 2.1 CustomTrigger): complete as soon as the station accepts.
    pub fn expects_nothing(&self) -> bool {
        match &self.expectation.scope {
            Scope::Transactions(ids) => ids.is_empty(),
            Scope::AnswerOnly => true,
            _ => false,
        }
    }

    fn awaiting_marked(&self, now: Instant) -> bool {
        self.marking == Marking::Unknown
            && self
                .claims
                .iter()
                .any(|c| c.live && c.marker == Marker::Routine)
            && self.last_match.is_some_and(|at| now < at + self.quiet)
    }

    /// When the collector may become complete with nothing else arriving (a quiet period
    /// ending).
    pub fn wake_at(&self) -> Option<Instant> {
        let open_ended = matches!(&self.expectation.scope, Scope::All(e) if e.is_empty());
        let waits_for_marked = self.marking == Marking::Unknown
            && self
                .claims
                .iter()
                .any(|c| c.live && c.marker == Marker::Routine);
        (open_ended || waits_for_marked)
            .then_some(self.last_match)
            .flatten()
            .map(|at| at + self.quiet)
    }

    /// What this trigger taught about the station's marking habit: a marked answer means
    /// it marks; only unmarked answers of markable kinds mean it does not.
    pub fn learned(&self) -> Option<Marking> {
        let live = self.claims.iter().filter(|c| c.live);
        if live.clone().any(|c| c.marker == Marker::Triggered) {
            Some(Marking::Marks)
        } else if live.clone().any(|c| c.marker == Marker::Routine) {
            Some(Marking::DoesNotMark)
        } else {
            None
        }
    }

    /// How many messages are counted (superseded ones are not).
    pub fn matched(&self) -> usize {
        self.claims.iter().filter(|c| c.live).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_millis(500);

    fn offer(action: &str, target: Option<TargetKey>, marker: Marker) -> Offer<'_> {
        Offer {
            action,
            target,
            marker,
            transaction_id: None,
            reports_change: false,
        }
    }

    fn claimed(v: Verdict) -> bool {
        matches!(v, Verdict::Claim { .. })
    }

    fn collector(action: &'static str, scope: Scope, marking: Marking) -> Collector {
        Collector::new(Expectation { action, scope }, Q, marking)
    }

    const NONE: Marker = Marker::Unmarkable;

    /// A MeterValues trigger for connector 1.
    fn meter_trigger(marking: Marking) -> Collector {
        collector("MeterValues", Scope::Target(TargetKey::of(1)), marking)
    }

    /// Offers a MeterValues of `connector` marked `marker`.
    fn meter(c: &mut Collector, connector: i64, marker: Marker, at: Instant) -> Verdict {
        c.offer(
            &offer("MeterValues", Some(TargetKey::of(connector)), marker),
            at,
        )
    }

    #[test]
    fn targeted_trigger_takes_only_the_matching_connector() {
        let now = Instant::now();
        let mut c = collector(
            "StatusNotification",
            Scope::Target(TargetKey::of(1)),
            Marking::Unknown,
        );
        assert_eq!(
            c.offer(
                &offer("StatusNotification", Some(TargetKey::of(2)), NONE),
                now
            ),
            Verdict::NearMiss,
            "wrong connector, nothing else explains it"
        );
        assert_eq!(
            c.offer(&offer("MeterValues", Some(TargetKey::of(1)), NONE), now),
            Verdict::Ignore
        );
        assert!(!c.is_complete(now));
        assert_eq!(
            c.offer(
                &offer("StatusNotification", Some(TargetKey::of(1)), NONE),
                now
            ),
            Verdict::Claim {
                reason: MatchReason::Target,
                replaces: None
            }
        );
        assert!(c.is_complete(now));
        assert_eq!(
            c.offer(
                &offer("StatusNotification", Some(TargetKey::of(1)), NONE),
                now
            ),
            Verdict::Ignore,
            "complete takes nothing more"
        );
    }

    #[test]
    fn a_status_change_for_another_connector_is_routine_not_a_wrong_target() {
        let now = Instant::now();
        let mut c = collector(
            "StatusNotification",
            Scope::Target(TargetKey::of(1)),
            Marking::Unknown,
        );
        let mut change = offer("StatusNotification", Some(TargetKey::of(2)), NONE);
        change.reports_change = true;
        assert_eq!(c.offer(&change, now), Verdict::Ignore);
    }

    #[test]
    fn a_periodic_sample_for_another_connector_is_not_a_wrong_target() {
        let now = Instant::now();
        let mut c = meter_trigger(Marking::Unknown);
        assert_eq!(meter(&mut c, 2, Marker::Routine, now), Verdict::Ignore);
        assert_eq!(
            meter(&mut c, 2, Marker::Triggered, now),
            Verdict::NearMiss,
            "a marked message for another connector is a real wrong target"
        );
    }

    #[test]
    fn a_station_known_to_mark_never_has_routine_messages_taken() {
        let now = Instant::now();
        let mut c = meter_trigger(Marking::Marks);
        assert_eq!(meter(&mut c, 1, Marker::Routine, now), Verdict::Ignore);
        assert_eq!(
            meter(&mut c, 1, Marker::Triggered, now),
            Verdict::Claim {
                reason: MatchReason::Marker,
                replaces: None
            }
        );
        assert!(c.is_complete(now));
        assert_eq!(c.learned(), Some(Marking::Marks));
    }

    #[test]
    fn while_the_habit_is_unknown_a_marked_message_supersedes_an_unmarked_one() {
        let now = Instant::now();
        let mut c = meter_trigger(Marking::Unknown);
        assert!(claimed(meter(&mut c, 1, Marker::Routine, now)));
        assert!(
            !c.is_complete(now),
            "an unmarked answer waits a quiet period for a marked one"
        );
        assert_eq!(c.wake_at(), Some(now + Q));
        assert_eq!(
            meter(&mut c, 1, Marker::Triggered, now + Q / 2),
            Verdict::Claim {
                reason: MatchReason::Marker,
                replaces: Some(0)
            }
        );
        assert!(c.is_complete(now + Q / 2));
        assert_eq!(c.matched(), 1);
        assert_eq!(c.learned(), Some(Marking::Marks));
    }

    #[test]
    fn a_station_that_does_not_mark_is_answered_by_target_and_learned() {
        let now = Instant::now();
        let mut c = meter_trigger(Marking::Unknown);
        assert_eq!(
            meter(&mut c, 1, Marker::Routine, now),
            Verdict::Claim {
                reason: MatchReason::Target,
                replaces: None
            }
        );
        assert!(c.is_complete(now + Q));
        assert_eq!(c.learned(), Some(Marking::DoesNotMark));
        let mut known = meter_trigger(Marking::DoesNotMark);
        assert!(claimed(meter(&mut known, 1, Marker::Routine, now)));
        assert!(
            known.is_complete(now),
            "no quiet period once the habit is known"
        );
    }

    #[test]
    fn v201_status_trigger_requires_the_same_evse_and_connector_f06_fr_13() {
        let now = Instant::now();
        let wanted = TargetKey::evse_connector(1, 2);
        let mut c = collector(
            "StatusNotification",
            Scope::Target(wanted),
            Marking::Unknown,
        );
        assert!(!claimed(c.offer(
            &offer(
                "StatusNotification",
                Some(TargetKey::evse_connector(1, 1)),
                NONE
            ),
            now
        )));
        assert!(claimed(c.offer(
            &offer(
                "StatusNotification",
                Some(TargetKey::evse_connector(1, 2)),
                NONE
            ),
            now
        )));
    }

    #[test]
    fn untargeted_trigger_waits_for_every_known_connector_16_5_17() {
        let now = Instant::now();
        let expected: BTreeSet<_> = [0, 1, 2].into_iter().map(TargetKey::of).collect();
        let mut c = collector("StatusNotification", Scope::All(expected), Marking::Unknown);
        for id in [0, 1] {
            assert!(claimed(c.offer(
                &offer("StatusNotification", Some(TargetKey::of(id)), NONE),
                now
            )));
            assert!(!c.is_complete(now));
        }
        assert_eq!(
            c.offer(
                &offer("StatusNotification", Some(TargetKey::of(1)), NONE),
                now
            ),
            Verdict::Ignore,
            "a second message for an answered connector is not part of the answer"
        );
        assert!(claimed(c.offer(
            &offer("StatusNotification", Some(TargetKey::of(2)), NONE),
            now
        )));
        assert!(c.is_complete(now));
        assert_eq!(c.matched(), 3);
    }

    #[test]
    fn untargeted_trigger_with_unknown_layout_completes_after_a_quiet_period() {
        let now = Instant::now();
        let mut c = collector("MeterValues", Scope::All(BTreeSet::new()), Marking::Marks);
        assert!(!c.is_complete(now + Q * 10), "nothing arrived yet");
        assert!(claimed(meter(&mut c, 1, Marker::Triggered, now)));
        assert_eq!(c.wake_at(), Some(now + Q));
        assert!(!c.is_complete(now + Q / 2));
        assert!(claimed(meter(&mut c, 2, Marker::Triggered, now + Q / 2)));
        assert!(!c.is_complete(now + Q));
        assert!(c.is_complete(now + Q / 2 + Q));
    }

    #[test]
    fn untargeted_transaction_event_waits_for_each_known_transaction_f06_fr_07() {
        let now = Instant::now();
        let ids: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
        let mut c = collector(
            "TransactionEvent",
            Scope::Transactions(ids),
            Marking::Unknown,
        );
        let tx = |id, marker, change| Offer {
            action: "TransactionEvent",
            target: None,
            marker,
            transaction_id: Some(id),
            reports_change: change,
        };
        assert_eq!(
            c.offer(&tx("c", Marker::Routine, true), now),
            Verdict::Ignore,
            "a new transaction"
        );
        assert_eq!(
            c.offer(&tx("a", Marker::Routine, true), now),
            Verdict::Ignore,
            "a's own Ended"
        );
        assert_eq!(
            c.offer(&tx("a", Marker::Triggered, false), now),
            Verdict::Claim {
                reason: MatchReason::Marker,
                replaces: None
            }
        );
        assert!(!c.is_complete(now));
        assert_eq!(
            c.offer(&tx("a", Marker::Routine, false), now),
            Verdict::Ignore,
            "a periodic update"
        );
        assert!(claimed(c.offer(&tx("b", Marker::Triggered, false), now)));
        assert!(c.is_complete(now));
        let none = collector(
            "TransactionEvent",
            Scope::Transactions(BTreeSet::new()),
            Marking::Unknown,
        );
        assert!(none.expects_nothing());
    }

    #[test]
    fn target_is_irrelevant_for_messages_without_one_16_5_17() {
        let now = Instant::now();
        let mut c = collector("Heartbeat", Scope::One, Marking::Unknown);
        assert_eq!(
            c.offer(&offer("Heartbeat", None, NONE), now),
            Verdict::Claim {
                reason: MatchReason::FirstAfterAccept,
                replaces: None
            }
        );
        assert!(c.is_complete(now));
    }
}
