//! The journal: every frame in and out of every station, in order. It is the durable
//! record the API's message history, durability guarantee and later replays rest on.

use crate::Millis;

/// Which way a frame travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the station to ocpulse.
    In,
    /// From ocpulse to the station.
    Out,
}

impl Direction {
    /// `"in"` or `"out"`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    /// Reads the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// The frame type name used for text that is not a readable OCPP-J frame.
pub const MALFORMED: &str = "MALFORMED";

/// The frame type of an entry that records something other than a frame (a station
/// connecting or disconnecting, a trigger ending); its `action` names the
/// event (`StationConnected`, `StationDisconnected`, `TriggerCompleted`, and the facts of
/// `crate::projection`). Keeping them in the journal gives every live event a durable,
/// ordered id (its `seq`), so a client that reconnects can be replayed what it missed.
pub const EVENT: &str = "EVENT";

/// The `EVENT` action journaled when a station's session starts, so the live event stream
/// (and the journal) shows connections in order with the frames around them.
pub const STATION_CONNECTED: &str = "StationConnected";

/// The `EVENT` action journaled when a station's session ends, with the reason.
pub const STATION_DISCONNECTED: &str = "StationDisconnected";

/// The `EVENT` action journaled when a connection is refused at the handshake (unknown
/// station, wrong credentials, downgrade, a certificate of another station), with the
/// refusal's code, so attacks are visible in the journal and the event stream.
pub const CONNECTION_REFUSED: &str = "ConnectionRefused";

/// The `EVENT` action of a security event the CSMS itself detected about a station (a
/// CSR in another station's name, ...). Payload: `{"type": ..., "techInfo": ...}`, the
/// fields of a SecurityEventNotification, so alert rules read both alike.
pub const SECURITY_EVENT: &str = "SecurityEvent";

/// The `EVENT` journaled each time a station's configuration is compared with a profile
/// that applies to it (after a read or an apply): `profileId`, `drifting`, the drifting
/// `keys`. The `configDrift` alert condition reads it.
pub const CONFIGURATION_CHECKED: &str = "ConfigurationChecked";

/// One journaled frame.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Assigned by the store on append (0 before); orders entries and pages the API.
    pub seq: i64,
    /// The station's identity.
    pub station_id: String,
    /// Which way it went.
    pub direction: Direction,
    /// `CALL`, `CALLRESULT`, `CALLERROR`, `MALFORMED` for unreadable text, or `EVENT`.
    pub frame_type: &'static str,
    /// The message id, when readable.
    pub message_id: Option<String>,
    /// The action; for answers, the action of the CALL they answer.
    pub action: Option<String>,
    /// The payload as JSON text (the whole raw text for a malformed frame).
    pub payload: String,
    /// When the frame was received or sent.
    pub at: Millis,
    /// A schema violation accepted under the lenient policy.
    pub violation: Option<String>,
    /// The trigger this entry belongs to: its TriggerMessage and answer, the messages it
    /// claimed, its events.
    pub trigger_id: Option<String>,
}

impl JournalEntry {
    /// A trigger's `EVENT` entry (`TriggerCompleted`), keyed by the trigger id as message
    /// and trigger id, so `?trigger=` selects it with the trigger's frames.
    pub fn trigger_event(
        station_id: &str,
        trigger_id: &str,
        name: &str,
        payload: String,
        at: Millis,
    ) -> Self {
        Self {
            seq: 0,
            station_id: station_id.to_owned(),
            direction: Direction::Out,
            frame_type: EVENT,
            message_id: Some(trigger_id.to_owned()),
            action: Some(name.to_owned()),
            payload,
            at,
            violation: None,
            trigger_id: Some(trigger_id.to_owned()),
        }
    }
}

/// What to read back from the journal, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalQuery {
    /// Only this station.
    pub station_id: String,
    /// Only this action.
    pub action: Option<String>,
    /// Only entries with a smaller `seq` (paging).
    pub before_seq: Option<i64>,
    /// Only entries earlier than this time.
    pub before_at: Option<Millis>,
    /// At most this many.
    pub limit: usize,
}

/// What to read from the journal oldest first, one page at a time: exports and reports walk
/// it with the `after_seq` cursor, so no read holds more than one page in memory however
/// large the result. Every filter is optional (the default reads every entry).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalScan {
    /// Only this station (all stations when `None`).
    pub station_id: Option<String>,
    /// Only these actions (any action when empty).
    pub actions: Vec<String>,
    /// Only CALLs the station sent (direction in, frame `CALL`): the messages it reported,
    /// without the CSMS's own calls, answers and events.
    pub station_calls_only: bool,
    /// Only entries with a larger `seq`: the paging cursor (0 reads from the start).
    pub after_seq: i64,
    /// Only entries up to and including this `seq`, so a long read is a snapshot and ends
    /// even while stations keep writing.
    pub until_seq: Option<i64>,
    /// Only entries at or after this time (received or sent).
    pub from_at: Option<Millis>,
    /// Only entries before this time.
    pub to_at: Option<Millis>,
    /// At most this many.
    pub limit: usize,
}
