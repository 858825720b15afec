//! The cluster's shared records and rules, without I/O: who holds a station's connection,
//! which nodes are alive, and how a station id becomes a key of the NATS key-value buckets
//! that hold both. The shell (`ocpulse::cluster`) reads and writes the buckets; what an
//! entry means, and which of two connections wins, is decided here.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Who holds a station's connection: the value of its key in the ownership bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ownership {
    /// The node holding the connection.
    pub node: String,
    /// That node's process (a node restarted under the same name is another instance, so
    /// ownerships left by its previous process are not taken for live ones).
    pub instance: String,
    /// The connection's generation on that node.
    pub generation: u64,
    /// When the connection opened (ms since the epoch).
    pub since: Millis,
    /// The negotiated subprotocol.
    pub protocol: String,
}

impl Ownership {
    /// Whether this connection replaces `other`: the one opened later wins (a station that
    /// reconnected is on its newest socket); on a tie, the higher node then generation, so
    /// every node decides the same.
    pub fn replaces(&self, other: &Self) -> bool {
        (self.since, &self.node, self.generation) > (other.since, &other.node, other.generation)
    }
}

/// A node's liveness record, refreshed while the node runs (the bucket expires it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    /// The node's name (`--node-id`).
    pub id: String,
    /// Its process: see [`Ownership::instance`].
    pub instance: String,
    /// When this process started.
    pub started_at: Millis,
    /// Its last refresh.
    pub heartbeat_at: Millis,
    /// Stations connected to it at that refresh.
    pub stations: usize,
    /// Whether it holds the cluster's lease on background work.
    pub leader: bool,
    /// Whether it is draining (taking no new stations).
    pub draining: bool,
    /// Whether its readiness checks passed at that refresh.
    pub ready: bool,
}

/// Whether `owner` is a live connection: its node has a fresh record from the same process.
pub fn is_live(owner: &Ownership, nodes: &[NodeRecord]) -> bool {
    nodes
        .iter()
        .any(|n| n.id == owner.node && n.instance == owner.instance)
}

/// A station id as a key of a NATS key-value bucket. Keys may hold only `A-Z a-z 0-9 - _ /
/// = .`, and `.` separates tokens; OCPP identities may hold more (`*`, `:`, `+`, `|`, `@`,
/// `.`), so every other byte is written `=XX` (hex) and `=` itself as `=3D`: the mapping is
/// one-to-one and readable for the common ids.
pub fn station_key(station_id: &str) -> String {
    let mut key = String::with_capacity(station_id.len());
    for b in station_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("={b:02X}"));
        }
    }
    key
}

/// The station id a key of [`station_key`] stands for; `None` for a key it never makes.
pub fn station_of_key(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = key.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A node name as given to `--node-id`: it names NATS subjects and keys, so it is one token
/// of letters, digits, `-` and `_`. Returns what is wrong, for the command line.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err("a node id has 1 to 64 characters".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "a node id may hold only letters, digits, '-' and '_' (it names NATS subjects); {c:?} is not allowed"
        ));
    }
    Ok(())
}

/// An API request one node hands to the node that holds the station it is about, over NATS
/// request/reply: the owner serves it as if it had come to it, so the caller gets the same
/// answer, byte for byte, wherever it asked. The asking node has already authenticated and
/// authorized it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, as received.
    pub uri: String,
    /// The headers that shape the answer (`content-type`, `x-requested-by`, ...).
    pub headers: Vec<(String, String)>,
    /// The body, as received.
    pub body: Vec<u8>,
    /// Who called, as the asking node's API established it (its own shape).
    pub caller: Option<serde_json::Value>,
    /// How many nodes handed it on before: a node that no longer holds the station hands
    /// it on once more (to where the station went), never twice, so no request circles.
    #[serde(default)]
    pub hops: u8,
}

/// The owner's answer to a [`ForwardedRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardedResponse {
    /// The HTTP status.
    pub status: u16,
    /// The answer's headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(node: &str, since: Millis, generation: u64) -> Ownership {
        Ownership {
            node: node.into(),
            instance: format!("{node}-i"),
            generation,
            since,
            protocol: "ocpp1.6".into(),
        }
    }

    #[test]
    fn the_later_connection_replaces_the_earlier_and_every_node_agrees_on_a_tie() {
        let old = owner("a", 1_000, 7);
        let new = owner("b", 2_000, 1);
        assert!(new.replaces(&old));
        assert!(!old.replaces(&new));
        let tie_a = owner("a", 5_000, 1);
        let tie_b = owner("b", 5_000, 1);
        assert!(tie_b.replaces(&tie_a) != tie_a.replaces(&tie_b));
        assert!(!tie_a.replaces(&tie_a));
    }

    #[test]
    fn an_owner_is_live_only_while_its_nodes_process_has_a_record() {
        let o = owner("a", 1, 1);
        let record = |instance: &str| NodeRecord {
            id: "a".into(),
            instance: instance.into(),
            started_at: 0,
            heartbeat_at: 0,
            stations: 1,
            leader: false,
            draining: false,
            ready: true,
        };
        assert!(is_live(&o, &[record("a-i")]));
        assert!(!is_live(&o, &[record("a-restarted")]), "another process");
        assert!(!is_live(&o, &[]), "the node's record expired");
    }

    #[test]
    fn station_keys_are_valid_bucket_keys_and_map_back_one_to_one() {
        for id in ["CP-1", "cp_2", "a.b", "x=y", "site:7|bay@3*+", "ü", "=41"] {
            let key = station_key(id);
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{key}"
            );
            assert_eq!(station_of_key(&key).as_deref(), Some(id), "{key}");
        }
        assert_eq!(station_key("CP-1"), "CP-1");
        assert_ne!(station_key("=41"), station_key("A"));
        assert_eq!(station_of_key("=4"), None);
        assert_eq!(station_of_key("=ZZ"), None);
    }

    #[test]
    fn node_ids_are_one_subject_token() {
        assert!(check_node_id("node-1_a").is_ok());
        for bad in ["", "a.b", "a b", "n*", "x>", &"n".repeat(65)] {
            assert!(check_node_id(bad).is_err(), "{bad:?}");
        }
    }
}
