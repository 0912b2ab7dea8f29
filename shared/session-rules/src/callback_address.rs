//! Where a business's callback URL may point: the public internet only.
//!
//! `notify` POSTs events to the URL a business registered. A URL naming an address inside our
//! own network (the instance metadata service at 169.254.169.254, a private VPC address, the
//! loopback) would make it a proxy into places the business cannot reach itself. So a callback
//! URL is refused when it is registered if its host is such an address, and `notify` refuses to
//! connect to such an address whatever a DNS name resolves to (the check and the connection use
//! the same resolution).
//!
//! The host is read as WHATWG URL parsers (and so reqwest, through the `url` crate) read it:
//! `https://2130706433/`, `https://0x7f.1/`, `https://0177.0.0.1/` and `https://127.1/` are all
//! 127.0.0.1, and `[::ffff:127.0.0.1]` is 127.0.0.1 in IPv6 clothing. An address is public only
//! if it is none of the special-purpose ranges of RFC 6890 and the IANA registries (IPv4), and
//! for IPv6 inside global unicast (2000::/3) and outside its special ranges; an IPv6 address
//! that carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64's well-known prefix, 6to4) is
//! judged by the IPv4 address it carries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a public unicast address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Unspecified,
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 100.64/10 (carrier-grade NAT).
    SharedAddressSpace,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// fc00::/7 (and the deprecated site-local fec0::/10).
    UniqueLocal,
    Multicast,
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// Everything else set aside: 0/8, 192.0.0/24, 192.88.99/24, 240/4, IPv6 outside
    /// 2000::/3, 2001::/23, 64:ff9b:1::/48, 100::/64, 5f00::/16.
    Reserved,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Unspecified => "unspecified",
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::SharedAddressSpace => "shared address space (carrier-grade NAT)",
            AddressKind::LinkLocal => "link-local",
            AddressKind::UniqueLocal => "unique-local",
            AddressKind::Multicast => "multicast",
            AddressKind::Broadcast => "broadcast",
            AddressKind::Documentation => "documentation",
            AddressKind::Benchmarking => "benchmarking",
            AddressKind::Reserved => "reserved",
        }
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `None` for a public unicast address; otherwise what it is.
pub fn special_purpose(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn special_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    use AddressKind::*;
    const RANGES: &[([u8; 4], u32, AddressKind)] = &[
        ([0, 0, 0, 0], 32, Unspecified),
        ([0, 0, 0, 0], 8, Reserved),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, kind)| *kind)
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == net & mask
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d` (deprecated; `::` and `::1` are themselves), NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::/48`. A connection to one of these reaches (or may reach) that IPv4 host.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_v6(ip, 0xffff_0000_0000, 96) || in_v6(ip, 0x0064_ff9b << 96, 96) {
        return Some(low);
    }
    if in_v6(ip, 0, 96) && bits > 1 {
        return Some(low);
    }
    if in_v6(ip, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

fn special_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    use AddressKind::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if let Some(v4) = embedded_ipv4(ip) {
        // 6to4 relays and NAT64 gateways reach the IPv4 host: judge that host.
        return special_v4(v4);
    }
    const RANGES: &[(u128, u32, AddressKind)] = &[
        (0xff00 << 112, 8, Multicast),
        (0xfe80 << 112, 10, LinkLocal),
        (0xfec0 << 112, 10, UniqueLocal),
        (0xfc00 << 112, 7, UniqueLocal),
        (0x2001_0db8 << 96, 32, Documentation),
        (0x3fff << 112, 20, Documentation),
        (0x2001_0002 << 96, 48, Benchmarking),
        // IETF protocol assignments: Teredo, ORCHID, AMT, ...
        (0x2001 << 112, 23, Reserved),
        (0x0064_ff9b_0001 << 80, 48, Reserved),
        (0x0100 << 112, 64, Reserved),
        (0x5f00 << 112, 16, Reserved),
    ];
    if let Some((_, _, kind)) = RANGES
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(*kind);
    }
    // Only 2000::/3 is allocated for global unicast; the rest is unassigned or special.
    (!in_v6(ip, 0x2000 << 112, 3)).then_some(Reserved)
}

/// Which addresses a callback may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackAddresses {
    /// Public unicast addresses only: the default, and the only setting in AWS.
    #[default]
    PublicOnly,
    /// Also the loopback (the local stack's own callback sink). An explicit setting.
    AlsoLoopback,
}

impl CallbackAddresses {
    /// `Err` with what the address is, when a callback must not reach it.
    pub fn check(self, ip: IpAddr) -> Result<(), AddressKind> {
        match special_purpose(ip) {
            None => Ok(()),
            Some(AddressKind::Loopback) if self == CallbackAddresses::AlsoLoopback => Ok(()),
            Some(kind) => Err(kind),
        }
    }
}

/// The host of a callback URL, as a WHATWG URL parser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackHost {
    /// A DNS name (lower-case, IDNA-encoded): checked when it is resolved.
    Name(String),
    /// An address in any spelling the parser accepts.
    Ip(IpAddr),
}

/// The URL's host; `Err` when it has none or is not a URL.
pub fn callback_host(url: &str) -> Result<CallbackHost, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.host() {
        Some(url::Host::Domain(name)) => Ok(CallbackHost::Name(name.to_owned())),
        Some(url::Host::Ipv4(ip)) => Ok(CallbackHost::Ip(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => Ok(CallbackHost::Ip(IpAddr::V6(ip))),
        None => Err("the URL has no host".into()),
    }
}

/// Whether a callback URL's host may be registered: an address literal must be public (or
/// loopback where allowed), and `localhost` (and names below it, which resolvers answer with
/// the loopback) counts as the loopback. Other names are checked when `notify` resolves them.
pub fn check_callback_url(url: &str, allowed: CallbackAddresses) -> Result<(), String> {
    let refused = |host: &str, kind: AddressKind| {
        format!("the host {host} is a {kind} address; callbacks go to public addresses only")
    };
    match callback_host(url)? {
        CallbackHost::Ip(ip) => allowed
            .check(ip)
            .map_err(|kind| refused(&ip.to_string(), kind)),
        CallbackHost::Name(name) => {
            let name = name.trim_end_matches('.');
            let loopback_name = name == "localhost" || name.ends_with(".localhost");
            if loopback_name && allowed != CallbackAddresses::AlsoLoopback {
                Err(refused(name, AddressKind::Loopback))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(url: &str) -> Result<(), String> {
        check_callback_url(url, CallbackAddresses::PublicOnly)
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        for url in [
            "https://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1:8443/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[64:ff9b::10.0.0.1]/",
            "https://[2002:7f00:1::]/",
            "https://2130706433:22/",
            "https://0x7f.1/",
            "https://0x7F000001/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://127.0.1/",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://0/",
            "https://[::]/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fc00::1]/",
            "https://[fe80::1]/",
            "https://[fec0::1]/",
            "https://[ff02::1]/",
            "https://224.0.0.1/",
            "https://239.255.255.250/",
            "https://255.255.255.255/",
            "https://240.0.0.1/",
            "https://192.0.2.1/",
            "https://198.51.100.7/",
            "https://203.0.113.9/",
            "https://198.18.0.1/",
            "https://192.0.0.170/",
            "https://[2001:db8::1]/",
            "https://[3fff::1]/",
            "https://[2001:2::1]/",
            "https://[2001::1]/",
            "https://[64:ff9b:1::1]/",
            "https://[100::1]/",
            "https://[4000::1]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://%31%32%37.0.0.1/",
            "https://127。0。0。1/",
        ] {
            assert!(kind(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn public_hosts_and_names_pass() {
        for url in [
            "https://hooks.example.com/vbm",
            "https://8.8.8.8/",
            "https://1.1.1.1:8443/x",
            "https://[2606:4700:4700::1111]/",
            "https://[::ffff:8.8.8.8]/",
            "https://[64:ff9b::808:808]/",
            "https://172.32.0.1/",
            "https://100.128.0.1/",
            "https://localhost.example.com/",
        ] {
            assert_eq!(kind(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn loopback_only_where_allowed() {
        let local = CallbackAddresses::AlsoLoopback;
        for url in [
            "http://127.0.0.1:9000/",
            "http://[::1]/",
            "http://localhost/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(check_callback_url(url, local), Ok(()), "{url}");
            assert!(kind(url).is_err(), "{url}");
        }
        for url in ["http://10.0.0.1/", "http://169.254.169.254/"] {
            assert!(check_callback_url(url, local).is_err(), "{url}");
        }
    }

    #[test]
    fn refusals_say_what_the_address_is() {
        let err = kind("https://0x7f.1/").unwrap_err();
        assert!(
            err.contains("127.0.0.1") && err.contains("loopback"),
            "{err}"
        );
        let err = kind("https://[fd00:ec2::254]/").unwrap_err();
        assert!(err.contains("unique-local"), "{err}");
    }

    proptest! {
        /// Every spelling of an IPv4 address a WHATWG parser takes is judged as the address.
        #[test]
        fn every_ipv4_spelling_is_judged_as_the_address(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            let [a, b, c, d] = ip.octets();
            let expected = CallbackAddresses::PublicOnly.check(IpAddr::V4(ip)).is_ok();
            let mapped = ip.to_ipv6_mapped();
            for host in [
                format!("{ip}"),
                format!("{bits}"),
                format!("{bits:#x}"),
                format!("0{bits:o}"),
                format!("{a}.{}", u32::from_be_bytes([0, b, c, d])),
                format!("{a}.{b}.{}", u16::from_be_bytes([c, d])),
                format!("{a:#x}.0{b:o}.{c}.{d:#X}"),
                format!("[{mapped}]"),
                format!("[::ffff:{a:x}{b:02x}:{c:x}{d:02x}]"),
                format!("[64:ff9b::{ip}]"),
            ] {
                let url = format!("https://{host}/hook");
                if !host.starts_with('[') {
                    prop_assert_eq!(callback_host(&url), Ok(CallbackHost::Ip(IpAddr::V4(ip))), "{}", url);
                }
                prop_assert_eq!(kind(&url).is_ok(), expected, "{}", url);
            }
        }

        /// An IPv6 address carrying an IPv4 one is judged as that IPv4 address.
        #[test]
        fn embedded_ipv4_is_judged_as_ipv4(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            let expected = special_v4(ip);
            prop_assert_eq!(special_purpose(IpAddr::V6(ip.to_ipv6_mapped())), expected);
            let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(bits));
            prop_assert_eq!(special_purpose(IpAddr::V6(nat64)), expected);
        }

        /// Outside global unicast (2000::/3) nothing is public.
        #[test]
        fn only_global_unicast_ipv6_can_be_public(bits in any::<u128>()) {
            let ip = Ipv6Addr::from(bits);
            if special_purpose(IpAddr::V6(ip)).is_none() {
                prop_assert!(in_v6(ip, 0x2000 << 112, 3) || embedded_ipv4(ip).is_some());
            }
        }
    }
}
