use std::sync::OnceLock;

use ocpp_rpc::{PayloadKind, ProtocolVersion, SchemaRegistry};
use serde_json::json;

use super::local_list::{self, UpdateType};
use super::*;
use crate::answers::{Answer, AnswerContext, answer};

const NOW: Millis = 1_750_000_000_000;
const HOUR: Millis = 3_600_000;

fn schemas() -> &'static SchemaRegistry {
    static R: OnceLock<SchemaRegistry> = OnceLock::new();
    R.get_or_init(|| SchemaRegistry::load().expect("schemas"))
}

fn entry(token: &str, status: TokenStatus) -> IdTokenEntry {
    IdTokenEntry {
        id_token: token.into(),
        token_type: DEFAULT_TOKEN_TYPE.into(),
        status,
        expiry: None,
        group_id: None,
        created_at: NOW - HOUR,
        updated_at: NOW - HOUR,
    }
}

fn registry() -> IdTokenRegistry {
    IdTokenRegistry::new([
        IdTokenEntry {
            expiry: Some(NOW + HOUR),
            group_id: Some("FLEET-A".into()),
            ..entry("04A2B3C4", TokenStatus::Accepted)
        },
        entry("BLOCKED1", TokenStatus::Blocked),
        IdTokenEntry {
            expiry: Some(NOW - 1),
            ..entry("OLDCARD", TokenStatus::Accepted)
        },
    ])
}

/// The answer to `action` with `payload`, as the session builds it.
fn answered(
    version: ProtocolVersion,
    action: &str,
    payload: &Value,
    policy: Policy,
) -> serde_json::Value {
    let id_token = presented(version, action, payload).verdict(&registry(), policy, NOW);
    let ctx = AnswerContext {
        now: crate::rfc3339(NOW),
        heartbeat_interval: 60,
        transaction_id: Some(5),
        id_token,
    };
    let Answer::Result(p) = answer(version, action, &ctx) else {
        panic!("{action} has no answer")
    };
    schemas()
        .validate(version, action, PayloadKind::Response, &p)
        .unwrap_or_else(|e| panic!("{version} {action}: {e}\n{p}"));
    p
}

#[test]
fn the_registry_decides_status_expiry_and_group() {
    let r = registry();
    let ok = decide(r.find("04a2b3c4").as_ref(), Policy::Registry, NOW);
    assert_eq!(ok.status, TokenStatus::Accepted, "case-insensitive lookup");
    assert_eq!(ok.expiry, Some(NOW + HOUR));
    assert_eq!(ok.group_id.as_deref(), Some("FLEET-A"));
    let blocked = decide(r.find("BLOCKED1").as_ref(), Policy::AcceptAll, NOW);
    assert_eq!(
        blocked.status,
        TokenStatus::Blocked,
        "a registered token answers its status under accept-all too"
    );
    assert_eq!(
        decide(r.find("OLDCARD").as_ref(), Policy::Registry, NOW).status,
        TokenStatus::Expired
    );
    assert_eq!(
        decide(None, Policy::Registry, NOW).status,
        TokenStatus::Invalid
    );
    assert_eq!(
        decide(None, Policy::AcceptAll, NOW).status,
        TokenStatus::Accepted
    );
    // An Accepted token is Accepted up to its expiry, Expired from it on.
    let card = IdTokenEntry {
        expiry: Some(NOW),
        ..entry("X", TokenStatus::Accepted)
    };
    assert_eq!(
        decide(Some(&card), Policy::Registry, NOW - 1).status,
        TokenStatus::Accepted
    );
    assert_eq!(
        decide(Some(&card), Policy::Registry, NOW).status,
        TokenStatus::Expired
    );
    // Blocking wins over expiry.
    let both = IdTokenEntry {
        expiry: Some(NOW - 1),
        ..entry("Y", TokenStatus::Blocked)
    };
    assert_eq!(
        decide(Some(&both), Policy::Registry, NOW).status,
        TokenStatus::Blocked
    );
}

#[test]
fn v16_authorize_start_and_stop_carry_the_id_tag_info() {
    let v = ProtocolVersion::V16;
    let p = answered(
        v,
        "Authorize",
        &json!({"idTag": "04a2b3c4"}),
        Policy::Registry,
    );
    assert_eq!(
        p,
        json!({"idTagInfo": {"status": "Accepted", "expiryDate": crate::rfc3339(NOW + HOUR), "parentIdTag": "FLEET-A"}})
    );
    let p = answered(
        v,
        "Authorize",
        &json!({"idTag": "BLOCKED1"}),
        Policy::Registry,
    );
    assert_eq!(p, json!({"idTagInfo": {"status": "Blocked"}}));
    let start = json!({"connectorId": 1, "idTag": "BLOCKED1", "meterStart": 0, "timestamp": "2025-01-01T00:00:00Z"});
    let p = answered(v, "StartTransaction", &start, Policy::AcceptAll);
    assert_eq!(
        p,
        json!({"idTagInfo": {"status": "Blocked"}, "transactionId": 5})
    );
    let start = json!({"connectorId": 1, "idTag": "NOBODY", "meterStart": 0, "timestamp": "2025-01-01T00:00:00Z"});
    assert_eq!(
        answered(v, "StartTransaction", &start, Policy::Registry)["idTagInfo"]["status"],
        "Invalid"
    );
    assert_eq!(
        answered(v, "StartTransaction", &start, Policy::AcceptAll)["idTagInfo"]["status"],
        "Accepted"
    );
    let stop = json!({"transactionId": 5, "meterStop": 10, "timestamp": "2025-01-01T01:00:00Z"});
    assert_eq!(
        answered(v, "StopTransaction", &stop, Policy::Registry),
        json!({}),
        "no idTag, no idTagInfo"
    );
    let mut stop = stop;
    stop["idTag"] = json!("OLDCARD");
    assert_eq!(
        answered(v, "StopTransaction", &stop, Policy::Registry),
        json!({"idTagInfo": {"status": "Expired", "expiryDate": crate::rfc3339(NOW - 1)}})
    );
}

#[test]
fn v201_authorize_and_transaction_event_carry_the_id_token_info() {
    for v in [ProtocolVersion::V201, ProtocolVersion::V21] {
        let auth = json!({"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}});
        assert_eq!(
            answered(v, "Authorize", &auth, Policy::Registry),
            json!({"idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": crate::rfc3339(NOW + HOUR), "groupIdToken": {"idToken": "FLEET-A", "type": "Central"}}})
        );
        let auth = json!({"idToken": {"idToken": "unknown", "type": "ISO14443"}});
        assert_eq!(
            answered(v, "Authorize", &auth, Policy::Registry),
            json!({"idTokenInfo": {"status": "Invalid"}})
        );
        let mut event = json!({"eventType": "Started", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "t1"}});
        assert_eq!(
            answered(v, "TransactionEvent", &event, Policy::Registry),
            json!({}),
            "an event without idToken gets no idTokenInfo"
        );
        event["idToken"] = json!({"idToken": "BLOCKED1", "type": "ISO14443"});
        assert_eq!(
            answered(v, "TransactionEvent", &event, Policy::AcceptAll),
            json!({"idTokenInfo": {"status": "Blocked"}})
        );
    }
}

#[test]
fn a_call_that_must_present_a_token_and_has_none_is_invalid_never_accepted() {
    let ctx = AnswerContext {
        now: crate::rfc3339(NOW),
        heartbeat_interval: 60,
        transaction_id: Some(1),
        id_token: Presented::Required(None).verdict(&registry(), Policy::AcceptAll, NOW),
    };
    let Answer::Result(p) = answer(ProtocolVersion::V16, "Authorize", &ctx) else {
        panic!()
    };
    assert_eq!(p["idTagInfo"]["status"], "Invalid");
    assert_eq!(
        presented(ProtocolVersion::V16, "Heartbeat", &json!({})),
        Presented::NotAuthorizing
    );
}

#[test]
fn a_long_group_is_left_out_of_a_16_answer_so_it_passes_its_schema() {
    let verdict = Verdict {
        status: TokenStatus::Accepted,
        expiry: None,
        group_id: Some("G".repeat(30)),
    };
    assert_eq!(verdict.id_tag_info(), json!({"status": "Accepted"}));
    assert_eq!(
        verdict.id_token_info()["groupIdToken"]["idToken"],
        "G".repeat(30)
    );
}

#[test]
fn tokens_are_checked_and_keyed_case_insensitively() {
    assert!(check_token("04A2B3C4").is_ok());
    assert!(check_token("").is_err());
    assert!(check_token(&"A".repeat(37)).is_err());
    assert!(check_token("a/b").is_err());
    assert!(check_token("a b").is_err());
    assert_eq!(key("abC"), "ABC");
    let r = registry();
    assert!(r.remove("blocked1").is_some());
    assert!(r.find("BLOCKED1").is_none());
    assert_eq!(r.len(), 2);
    assert_eq!("registry".parse::<Policy>(), Ok(Policy::Registry));
    assert!("open".parse::<Policy>().is_err());
}

#[test]
fn local_lists_have_each_versions_shape_and_pass_their_schema() {
    let r = registry();
    let items: Vec<(String, Option<IdTokenEntry>)> = r
        .all()
        .into_iter()
        .map(|e| (e.id_token.clone(), Some(e)))
        .chain([("GONE".to_owned(), None), ("L".repeat(30), None)])
        .collect();
    for version in ProtocolVersion::ALL {
        for update in [UpdateType::Full, UpdateType::Differential] {
            let list = local_list::build(version, update, 7, &items, NOW);
            schemas()
                .validate(
                    version,
                    "SendLocalList",
                    PayloadKind::Request,
                    &list.payload,
                )
                .unwrap_or_else(|e| panic!("{version} {update:?}: {e}\n{}", list.payload));
            assert_eq!(list.entries, 3, "{version} {update:?}");
            assert_eq!(local_list::sent_version(&list.payload), Some(7));
        }
    }
    let v16 = local_list::build(
        ProtocolVersion::V16,
        UpdateType::Differential,
        2,
        &items,
        NOW,
    );
    assert_eq!(
        v16.removals, 1,
        "GONE is removed; the 30-character one cannot be a 1.6 idTag"
    );
    assert_eq!(v16.skipped.len(), 1);
    let list = v16.payload["localAuthorizationList"]
        .as_array()
        .expect("list");
    assert!(list.contains(&json!({"idTag": "OLDCARD", "idTagInfo": {"status": "Expired", "expiryDate": crate::rfc3339(NOW - 1)}})));
    assert!(list.contains(&json!({"idTag": "GONE"})));
    let v201 = local_list::build(ProtocolVersion::V201, UpdateType::Full, 3, &items, NOW);
    assert_eq!(v201.removals, 0);
    assert_eq!(
        v201.skipped.len(),
        2,
        "unknown tokens are left out of a Full list"
    );
    assert_eq!(v201.payload["versionNumber"], 3);
    let list = v201.payload["localAuthorizationList"]
        .as_array()
        .expect("list");
    assert!(list.contains(&json!({"idToken": {"idToken": "BLOCKED1", "type": "ISO14443"}, "idTokenInfo": {"status": "Blocked"}})));
    let empty = local_list::build(ProtocolVersion::V201, UpdateType::Full, 4, &[], NOW);
    assert_eq!(
        empty.payload,
        json!({"versionNumber": 4, "updateType": "Full"})
    );
    assert_eq!(local_list::next_version(None), 1);
    assert_eq!(local_list::next_version(Some(-1)), 1);
    assert_eq!(local_list::next_version(Some(4)), 5);
    assert_eq!(
        local_list::reported_version(&json!({"listVersion": 9})),
        Some(9)
    );
}
