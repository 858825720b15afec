//! Where a webhook may be delivered: the address policy (`address_policy`) applied to
//! real URLs, once when a webhook is registered and again at every delivery.
//!
//! At delivery the check is part of the connection itself: deliveries resolve host names
//! through [`GuardedResolver`], which drops refused addresses before the HTTP client sees
//! them, so the client connects only to addresses that were checked (a DNS answer that
//! changes between a check and the connect cannot slip an internal address in). URLs
//! with an IP literal never reach a resolver; `literal_refusal` checks those before
//! anything is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address_policy::{AddressPolicy, Refused};

/// How long registering a webhook waits for its host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The error a delivery's connection fails with when its host resolves only to refused
/// addresses; `delivery` finds it in the error chain and logs "refused by policy".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedByPolicy;

impl std::fmt::Display for RefusedByPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the webhook target's addresses are refused by the webhook address policy")
    }
}

impl std::error::Error for RefusedByPolicy {}

/// `localhost` and `*.localhost` are loopback by definition (RFC 6761); they are never
/// sent to a DNS server.
fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Names reserved for documentation and testing (RFC 2606, RFC 6761: `.example`,
/// `.invalid`, `.test`, `example.com/net/org`) never resolve to a receiver: answered
/// without asking a DNS server.
fn is_reserved_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    [".example", ".invalid", ".test"]
        .iter()
        .any(|tld| host.ends_with(tld) || host == tld[1..])
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

const LOCALHOST: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// The addresses of a host name: loopback for `localhost` names, otherwise the system
/// resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
async fn lookup(host: &str) -> std::io::Result<Vec<IpAddr>> {
    if is_localhost(host) {
        return Ok(LOCALHOST.to_vec());
    }
    if is_reserved_name(host) {
        return Ok(Vec::new());
    }
    let found = tokio::net::lookup_host((host, 0)).await?;
    Ok(found.map(|a| a.ip()).collect())
}

/// The HTTP client's resolver for deliveries: resolves, then keeps only the addresses
/// the policy allows; with none left the connection fails with [`RefusedByPolicy`] and
/// nothing is sent.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    /// A resolver that applies `policy`.
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = lookup(&host).await?;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|ip| policy.check(*ip).is_ok())
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(RefusedByPolicy) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The URL's host as an IP address when it is an IP literal. The URL parser has already
/// turned every IPv4 spelling of an http(s) host (`2130706433`, `0x7f.1`) into dotted
/// form, and IPv6 literals come in brackets.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// The refusal of a URL whose host is an IP literal (checked before sending, since no
/// resolver sees it); `None` for allowed literals and for host names.
pub fn literal_refusal(url: &Url, policy: &AddressPolicy) -> Option<Refused> {
    policy.check(literal_ip(url)?).err()
}

/// Why a webhook URL was refused at registration: the API's 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    /// Stable error code.
    pub code: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The kind of address that was refused (`loopback`, `private`, ...), if one was.
    pub kind: Option<&'static str>,
}

const ALLOWED: &str = "webhooks are delivered only to public addresses, and to ranges the operator allows with --webhook-allow CIDR (e.g. --webhook-allow 10.20.0.0/16)";

/// Checks a webhook URL (already syntactically valid) at registration: an IP literal
/// against the policy; a host name resolved through the system resolver, every address
/// it resolves to against the policy. Deliveries check again (see the module doc).
pub async fn check_target(url: &Url, policy: &AddressPolicy) -> Result<(), TargetError> {
    let refused = |what: String, r: Refused| TargetError {
        code: "webhook_target_refused",
        message: format!("{what} is a {} address; {ALLOWED}", r.kind.name()),
        kind: Some(r.kind.name()),
    };
    if let Some(ip) = literal_ip(url) {
        return match policy.check(ip) {
            Err(r) => Err(refused(format!("url host {}", r.ip), r)),
            Ok(()) => Ok(()),
        };
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(TargetError {
            code: "invalid_webhook",
            message: "url has no host".into(),
            kind: None,
        });
    };
    let found = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup(host)).await {
        Ok(Ok(found)) if !found.is_empty() => found,
        Ok(Ok(_) | Err(_)) | Err(_) => {
            return Err(TargetError {
                code: "webhook_target_unresolvable",
                message: format!(
                    "url host {host:?} does not resolve to an address; give a host name that resolves, or an IP address ({ALLOWED})"
                ),
                kind: None,
            });
        }
    };
    // Deliveries connect only to the allowed addresses of a name, so a name is refused
    // when none of its addresses is allowed. The address itself is not echoed: that
    // would turn the API into a way to read the server's internal DNS.
    let mut first_refusal = None;
    for ip in found {
        match policy.check(ip) {
            Ok(()) => return Ok(()),
            Err(r) => {
                first_refusal.get_or_insert(r);
            }
        }
    }
    match first_refusal {
        Some(r) => Err(refused(
            format!("url host {host:?} resolves to an address that"),
            r,
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::address_policy::parse_cidr;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    fn loopback_allowed() -> AddressPolicy {
        AddressPolicy::new(vec![parse_cidr("127.0.0.0/8").expect("cidr")])
    }

    #[test]
    fn literal_hosts_are_checked_in_every_spelling_the_url_parser_accepts() {
        let deny = AddressPolicy::default();
        for u in [
            "http://127.0.0.1:8080/x",
            "http://2130706433/x", // 127.0.0.1 as one number
            "http://0x7f.1/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/x",
        ] {
            assert!(literal_refusal(&url(u), &deny).is_some(), "{u}");
        }
        assert!(literal_refusal(&url("http://8.8.8.8/x"), &deny).is_none());
        assert!(literal_refusal(&url("http://receiver.example/x"), &deny).is_none());
        assert!(literal_refusal(&url("http://127.0.0.1:9/x"), &loopback_allowed()).is_none());
    }

    #[test]
    fn reserved_names_are_known_without_a_lookup() {
        for h in [
            "receiver.example",
            "a.invalid",
            "x.test",
            "example.com",
            "hooks.example.org.",
        ] {
            assert!(is_reserved_name(h), "{h}");
        }
        for h in ["examples.com", "receiver.example.net.evil", "ocpulse.io"] {
            assert!(!is_reserved_name(h), "{h}");
        }
    }

    #[test]
    fn localhost_names_are_loopback_without_a_lookup() {
        assert!(
            is_localhost("localhost") && is_localhost("LOCALHOST.") && is_localhost("a.localhost")
        );
        assert!(!is_localhost("localhost.example") && !is_localhost("notlocalhost"));
    }

    #[tokio::test]
    async fn registration_refuses_internal_targets_and_says_what_is_allowed() {
        let deny = AddressPolicy::default();
        // IP literals and `localhost` only: nothing here leaves the machine.
        for u in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://localhost:9/x",
            "http://169.254.169.254/x",
        ] {
            let err = check_target(&url(u), &deny).await.expect_err(u);
            assert_eq!(err.code, "webhook_target_refused", "{u}");
            assert!(err.message.contains("--webhook-allow"), "{}", err.message);
        }
        assert_eq!(
            check_target(&url("http://127.0.0.1:9/x"), &deny)
                .await
                .map_err(|e| e.kind),
            Err(Some("loopback"))
        );
        assert!(
            check_target(&url("http://127.0.0.1:9/x"), &loopback_allowed())
                .await
                .is_ok()
        );
        // `localhost` also names ::1, which 127.0.0.0/8 does not allow; deliveries would
        // connect to 127.0.0.1 only, so the name is accepted.
        assert!(
            check_target(&url("http://localhost:9/x"), &loopback_allowed())
                .await
                .is_ok()
        );
        let v6_only = AddressPolicy::new(vec![parse_cidr("::1").expect("cidr")]);
        assert!(
            check_target(&url("http://127.0.0.1:9/x"), &v6_only)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_delivery_resolver_keeps_only_allowed_addresses() {
        let resolve = |policy: AddressPolicy| {
            GuardedResolver::new(Arc::new(policy)).resolve("localhost".parse().expect("name"))
        };
        let err = resolve(AddressPolicy::default())
            .await
            .err()
            .expect("refused");
        assert!(err.downcast_ref::<RefusedByPolicy>().is_some(), "{err}");
        let addrs: Vec<SocketAddr> = resolve(loopback_allowed())
            .await
            .expect("allowed")
            .collect();
        assert_eq!(
            addrs,
            [SocketAddr::from(([127, 0, 0, 1], 0))],
            "::1 filtered out"
        );
    }
}
