//! Which IP addresses webhook deliveries may reach: pure rules, no I/O.
//!
//! A webhook URL is chosen by whoever may call the API, and the server POSTs to it from
//! inside the operator's network. Without a rule, a webhook is a request forgery tool
//! (SSRF): it reaches the server's own loopback services, the private network, and cloud
//! metadata endpoints (169.254.169.254). So deliveries only go to ordinary public
//! addresses; loopback, private (RFC 1918, fc00::/7), link-local, CGNAT, unspecified,
//! multicast, broadcast and reserved addresses, including their IPv4-mapped and
//! NAT64-embedded IPv6 forms, are refused unless the operator names a range with
//! `--webhook-allow CIDR`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is not an ordinary public one (and so refused unless allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// 127.0.0.0/8, ::1: the server itself.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), fc00::/7 and the old fec0::/10.
    Private,
    /// 169.254.0.0/16 (cloud metadata lives here), fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8 and `::`: on Linux a connect to them reaches the server itself.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598): someone's internal network.
    SharedCgnat,
    /// 240.0.0.0/4: reserved, never a public host.
    Reserved,
}

impl Special {
    /// The name error messages and the API use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::SharedCgnat => "shared (CGNAT)",
            Self::Reserved => "reserved",
        }
    }
}

/// What kind of special address `ip` is, or `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<Special> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Special> {
    let [a, b, ..] = ip.octets();
    if a == 0 {
        Some(Special::Unspecified)
    } else if ip.is_loopback() {
        Some(Special::Loopback)
    } else if ip.is_private() {
        Some(Special::Private)
    } else if ip.is_link_local() {
        Some(Special::LinkLocal)
    } else if a == 100 && (b & 0xc0) == 64 {
        Some(Special::SharedCgnat)
    } else if ip.is_broadcast() {
        Some(Special::Broadcast)
    } else if ip.is_multicast() {
        Some(Special::Multicast)
    } else if a >= 240 {
        Some(Special::Reserved)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), the
/// deprecated IPv4-compatible form (`::a.b.c.d`) and the NAT64 well-known prefix
/// (`64:ff9b::a.b.c.d`), each of which reaches the IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Special> {
    if ip.is_unspecified() {
        return Some(Special::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Special::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfec0 {
        Some(Special::Private)
    } else if (first & 0xffc0) == 0xfe80 {
        Some(Special::LinkLocal)
    } else if (first & 0xff00) == 0xff00 {
        Some(Special::Multicast)
    } else {
        None
    }
}

/// A special address that no `--webhook-allow` range names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The address.
    pub ip: IpAddr,
    /// Why it is special.
    pub kind: Special,
}

/// The rule deliveries follow: public addresses, plus the operator's allowed ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses and every address in `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// The operator's allowed ranges.
    pub fn allowed_ranges(&self) -> &[IpNet] {
        &self.allow
    }

    /// `Ok` when deliveries may reach `ip`. An IPv6 form of an IPv4 address is allowed
    /// by a range naming either form, so `127.0.0.0/8` also allows `::ffff:127.0.0.1`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(kind) = classify(ip) else {
            return Ok(());
        };
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let named = |a: IpAddr| self.allow.iter().any(|net| net.contains(&a));
        if named(ip) || v4.is_some_and(named) {
            Ok(())
        } else {
            Err(Refused { ip, kind })
        }
    }
}

/// Parses a `--webhook-allow` value: a CIDR range (`10.0.0.0/8`, `fd00::/8`) or one
/// address (`127.0.0.1`, a /32 or /128). Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!(
            "{text:?} is not a CIDR range or an IP address (e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn kind(s: &str) -> Option<&'static str> {
        classify(ip(s)).map(Special::name)
    }

    #[test]
    fn special_addresses_are_classified() {
        for (addr, want) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fd12:3456::1", "private"),
            ("fc00::1", "private"),
            ("fec0::1", "private"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("240.0.0.1", "reserved"),
            // IPv6 forms of IPv4 addresses are what they stand for.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            assert_eq!(kind(addr), Some(want), "{addr}");
        }
    }

    #[test]
    fn public_addresses_are_not_special() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.169.0.1",
            "2001:db8::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(kind(addr), None, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let deny = AddressPolicy::default();
        assert_eq!(
            deny.check(ip("127.0.0.1")),
            Err(Refused {
                ip: ip("127.0.0.1"),
                kind: Special::Loopback
            })
        );
        assert!(deny.check(ip("8.8.8.8")).is_ok());
        let policy = AddressPolicy::new(vec![
            parse_cidr("127.0.0.0/8").expect("cidr"),
            parse_cidr("fd00::/8").expect("cidr"),
            parse_cidr("10.9.8.7").expect("host"),
        ]);
        assert!(policy.check(ip("127.0.0.1")).is_ok());
        assert!(policy.check(ip("127.1.2.3")).is_ok());
        assert!(policy.check(ip("::ffff:127.0.0.1")).is_ok(), "mapped form");
        assert!(policy.check(ip("fd00::5")).is_ok());
        assert!(policy.check(ip("10.9.8.7")).is_ok());
        assert!(policy.check(ip("10.9.8.8")).is_err());
        assert!(policy.check(ip("::1")).is_err(), "127/8 does not name ::1");
        assert!(policy.check(ip("169.254.169.254")).is_err());
        assert!(policy.check(ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn cidr_values_parse_or_say_what_is_expected() {
        assert_eq!(
            parse_cidr("10.1.2.3/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(
            parse_cidr(" ::1 ").map(|n| n.to_string()),
            Ok("::1/128".into())
        );
        for bad in ["", "10.0.0.0/33", "localhost", "10.0.0/8", "::1/129"] {
            let err = parse_cidr(bad).expect_err(bad);
            assert!(err.contains("CIDR"), "{err}");
        }
    }
}
