//! The SSRF guard: which destinations a webhook may reach.
//!
//! A webhook URL is supplied by whoever can create webhooks, and the engine makes requests
//! from inside the operator's network. Without a guard, `http://169.254.169.254/` (cloud
//! credentials) or `http://10.0.0.5:6379/` would be one `POST /v1/webhooks` away.
//!
//! - [`NetworkPolicy::check_ip`] refuses every address that is not public unicast: private,
//!   loopback, link-local, unspecified, multicast, broadcast, carrier-grade NAT, benchmarking,
//!   documentation and reserved ranges, cloud metadata endpoints, and IPv4 addresses hidden
//!   in IPv6 (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo), whose
//!   embedded IPv4 address is checked in turn. Networks in [`NetworkPolicy::allowed`]
//!   (`[security] allowed_networks`) are let through.
//! - [`NetworkPolicy::check_url`] accepts only `http`/`https` URLs with a host, and checks
//!   IP-literal hosts at once (the HTTP client never asks a resolver about them).
//! - [`GuardedResolver`] is the HTTP client's DNS resolver: it drops refused addresses and
//!   hands the client only vetted ones, so the address checked is the address connected to
//!   (no window for DNS rebinding between a check and the connection).
//!
//! **Allow-list and embedded IPv4.** An address is allowed when the address as written, or
//! the IPv4 address it embeds, lies in an allowed network: allowing `127.0.0.0/8` also
//! allows `::ffff:127.0.0.1`, which is the same destination. For Teredo, which embeds two
//! IPv4 addresses (server and client), each must be allowed or public.
//!
//! ```
//! use hookline_engine::ssrf::NetworkPolicy;
//!
//! let policy = NetworkPolicy::default();
//! assert!(policy.check_ip("8.8.8.8".parse().unwrap()).is_ok());
//! let err = policy.check_ip("10.0.0.1".parse().unwrap()).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "address 10.0.0.1 is private (10.0.0.0/8); add it to [security] allowed_networks to allow it"
//! );
//! assert!(policy.check_url("ftp://example.com/").is_err());
//!
//! let trusted = NetworkPolicy::new(vec!["10.0.0.0/8".parse().unwrap()]);
//! assert!(trusted.check_ip("10.0.0.1".parse().unwrap()).is_ok());
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use hookline_core::model::ErrorKind;

/// Which destinations are allowed beyond public unicast addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Trusted networks (`[security] allowed_networks`): addresses in them pass every rule.
    /// Empty by default: only public addresses are reachable.
    pub allowed: Vec<IpNet>,
}

/// Why an address is refused: the family of ranges it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 unique local (fc00::/7) and the
    /// deprecated site-local fec0::/10.
    Private,
    /// 127/8, ::1.
    Loopback,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8 ("this network"), ::.
    Unspecified,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 100.64/10, shared address space behind carrier-grade NAT.
    SharedAddressSpace,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 240/4, IETF protocol assignments, deprecated relay anycast, IPv6 discard-only.
    Reserved,
    /// Outside 2000::/3, the only IPv6 range allocated for global unicast.
    NotGlobalUnicast,
    /// Instance metadata services: 169.254.169.254, fd00:ec2::254, 100.100.100.200,
    /// 168.63.129.16.
    CloudMetadata,
}

impl Category {
    /// The words following "address … is".
    pub fn describe(self) -> &'static str {
        match self {
            Category::Private => "private",
            Category::Loopback => "loopback",
            Category::LinkLocal => "link-local",
            Category::Unspecified => "unspecified",
            Category::Multicast => "multicast",
            Category::Broadcast => "broadcast",
            Category::SharedAddressSpace => "carrier-grade NAT shared address space",
            Category::Benchmarking => "reserved for benchmarking",
            Category::Documentation => "reserved for documentation",
            Category::Reserved => "reserved",
            Category::NotGlobalUnicast => "outside the global unicast range",
            Category::CloudMetadata => "a cloud metadata endpoint",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// How an IPv6 address carries an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// `::ffff:a.b.c.d` (::ffff:0:0/96).
    Ipv4Mapped,
    /// `::a.b.c.d` (::/96, deprecated).
    Ipv4Compatible,
    /// `::ffff:0:a.b.c.d` (::ffff:0:0:0/96, SIIT).
    Ipv4Translated,
    /// NAT64: `64:ff9b::a.b.c.d` (64:ff9b::/96) or the local-use 64:ff9b:1::/48.
    Nat64,
    /// 6to4: `2002:AABB:CCDD::/48` embeds `AA.BB.CC.DD`.
    SixToFour,
    /// Teredo (2001::/32): the server address.
    TeredoServer,
    /// Teredo (2001::/32): the client address (stored bit-inverted).
    TeredoClient,
}

impl Embedding {
    /// A short name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "IPv4-mapped",
            Embedding::Ipv4Compatible => "IPv4-compatible",
            Embedding::Ipv4Translated => "IPv4-translated",
            Embedding::Nat64 => "NAT64",
            Embedding::SixToFour => "6to4",
            Embedding::TeredoServer => "Teredo server",
            Embedding::TeredoClient => "Teredo client",
        }
    }
}

/// A refused address: which rule refused it and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address as given.
    pub addr: IpAddr,
    /// The family of the range that refused it.
    pub category: Category,
    /// The range that refused it (for an embedded IPv4, the IPv4 range).
    pub range: IpNet,
    /// When the refused address is an IPv4 address embedded in `addr`: how, and which.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            None => write!(
                f,
                "address {} is {} ({})",
                self.addr, self.category, self.range
            ),
            Some((how, v4)) => write!(
                f,
                "address {} embeds {} ({}), which is {} ({})",
                self.addr,
                v4,
                how.describe(),
                self.category,
                self.range
            ),
        }
    }
}

/// The SSRF guard refused a destination, or the URL is not one it can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A scheme other than `http` or `https`.
    #[error("scheme `{0}` is not allowed: webhook URLs must use http or https")]
    Scheme(String),
    /// No host in the URL.
    #[error("the URL has no host")]
    MissingHost,
    /// An address (an IP-literal host, or one given directly) is refused.
    #[error("{0}; add it to [security] allowed_networks to allow it")]
    Refused(Refusal),
    /// Every address a host name resolved to is refused; the first refusal is given.
    #[error(
        "host `{host}` resolves only to refused addresses: {refusal}; add it to [security] allowed_networks to allow it"
    )]
    Resolved {
        /// The host name.
        host: String,
        /// Why its first address was refused.
        refusal: Refusal,
    },
}

impl SsrfError {
    /// How an attempt refused for this reason is recorded: [`ErrorKind::SsrfBlocked`] for a
    /// refused address, [`ErrorKind::InvalidUrl`] for a URL that is not an http/https URL.
    pub fn error_kind(&self) -> ErrorKind {
        match self {
            SsrfError::Refused(_) | SsrfError::Resolved { .. } => ErrorKind::SsrfBlocked,
            SsrfError::InvalidUrl(_) | SsrfError::Scheme(_) | SsrfError::MissingHost => {
                ErrorKind::InvalidUrl
            }
        }
    }

    /// Whether an address was refused (as opposed to a URL that is not an http/https URL).
    pub fn is_ssrf(&self) -> bool {
        self.error_kind() == ErrorKind::SsrfBlocked
    }

    /// The refusal, when an address was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            SsrfError::Refused(refusal) | SsrfError::Resolved { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// Finds an `SsrfError` in an error or its chain of sources: the resolver's refusal
    /// comes back from the HTTP client wrapped in several layers.
    pub fn find_in<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e SsrfError> {
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<SsrfError>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// IPv4 rules, most specific first: the first match names the refusal.
const V4_RULES: &[(Ipv4Net, Category)] = &[
    // AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean… instance metadata.
    (v4(169, 254, 169, 254, 32), Category::CloudMetadata),
    // Alibaba Cloud metadata (inside the CGNAT range).
    (v4(100, 100, 100, 200, 32), Category::CloudMetadata),
    // Azure's platform "wireserver": a public-looking address only the host answers.
    (v4(168, 63, 129, 16, 32), Category::CloudMetadata),
    (v4(255, 255, 255, 255, 32), Category::Broadcast),
    (v4(0, 0, 0, 0, 8), Category::Unspecified),
    (v4(10, 0, 0, 0, 8), Category::Private),
    (v4(100, 64, 0, 0, 10), Category::SharedAddressSpace),
    (v4(127, 0, 0, 0, 8), Category::Loopback),
    (v4(169, 254, 0, 0, 16), Category::LinkLocal),
    (v4(172, 16, 0, 0, 12), Category::Private),
    // IETF protocol assignments (DS-Lite, NAT64 discovery, Oracle's 192.0.0.192…).
    (v4(192, 0, 0, 0, 24), Category::Reserved),
    (v4(192, 0, 2, 0, 24), Category::Documentation),
    // Deprecated 6to4 relay anycast.
    (v4(192, 88, 99, 0, 24), Category::Reserved),
    (v4(192, 168, 0, 0, 16), Category::Private),
    (v4(198, 18, 0, 0, 15), Category::Benchmarking),
    (v4(198, 51, 100, 0, 24), Category::Documentation),
    (v4(203, 0, 113, 0, 24), Category::Documentation),
    (v4(224, 0, 0, 0, 4), Category::Multicast),
    (v4(240, 0, 0, 0, 4), Category::Reserved),
];

/// IPv6 rules for addresses that embed no IPv4 address, most specific first.
const V6_RULES: &[(Ipv6Net, Category)] = &[
    // AWS instance metadata over IPv6 (inside fc00::/7).
    (
        v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
        Category::CloudMetadata,
    ),
    (v6([0; 8], 128), Category::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Category::Loopback),
    // Discard-only.
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Category::Reserved),
    (
        v6([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48),
        Category::Benchmarking,
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        Category::Documentation,
    ),
    // IETF protocol assignments (Teredo, inside it, is handled as an embedding).
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), Category::Reserved),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        Category::Documentation,
    ),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Category::Private),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), Category::LinkLocal),
    // Deprecated site-local.
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Category::Private),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Category::Multicast),
];

/// The only IPv6 range allocated for global unicast.
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

fn v4_rule(addr: Ipv4Addr) -> Option<(Category, IpNet)> {
    V4_RULES
        .iter()
        .find(|(net, _)| net.contains(&addr))
        .map(|&(net, category)| (category, IpNet::V4(net)))
}

fn v6_rule(addr: Ipv6Addr) -> Option<(Category, IpNet)> {
    if let Some(&(net, category)) = V6_RULES.iter().find(|(net, _)| net.contains(&addr)) {
        return Some((category, IpNet::V6(net)));
    }
    (!GLOBAL_UNICAST.contains(&addr))
        .then_some((Category::NotGlobalUnicast, IpNet::V6(GLOBAL_UNICAST)))
}

fn ipv4_from(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// The IPv4 address(es) an IPv6 address stands for (two for Teredo), or `None` when it
/// embeds none.
fn embedded_ipv4(addr: Ipv6Addr) -> Option<[Option<(Embedding, Ipv4Addr)>; 2]> {
    let s = addr.segments();
    let one = |how| Some([Some((how, ipv4_from(s[6], s[7]))), None]);
    match s {
        // `::` and `::1` are the unspecified and loopback addresses, not IPv4-compatible.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0xffff, _, _] => one(Embedding::Ipv4Mapped),
        [0, 0, 0, 0, 0, 0, _, _] => one(Embedding::Ipv4Compatible),
        [0, 0, 0, 0, 0xffff, 0, _, _] => one(Embedding::Ipv4Translated),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => one(Embedding::Nat64),
        [0x2002, hi, lo, ..] => Some([Some((Embedding::SixToFour, ipv4_from(hi, lo))), None]),
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => Some([
            Some((Embedding::TeredoServer, ipv4_from(server_hi, server_lo))),
            Some((Embedding::TeredoClient, ipv4_from(!client_hi, !client_lo))),
        ]),
        _ => None,
    }
}

impl NetworkPolicy {
    /// A policy allowing `allowed` beyond public addresses.
    pub fn new(allowed: Vec<IpNet>) -> NetworkPolicy {
        NetworkPolicy { allowed }
    }

    /// A policy allowing loopback (`127.0.0.0/8` and `::1/128`): for tests, the demo and the
    /// benchmark, whose receivers listen on the local machine.
    pub fn loopback() -> NetworkPolicy {
        NetworkPolicy::new(vec![
            IpNet::V4(v4(127, 0, 0, 0, 8)),
            IpNet::V6(v6([0, 0, 0, 0, 0, 0, 0, 1], 128)),
        ])
    }

    fn is_allowed(&self, addr: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&addr))
    }

    /// Why `addr` is refused, or `None` when it may be connected to.
    pub fn refusal(&self, addr: IpAddr) -> Option<Refusal> {
        if self.is_allowed(addr) {
            return None;
        }
        match addr {
            IpAddr::V4(v4) => v4_rule(v4).map(|(category, range)| Refusal {
                addr,
                category,
                range,
                embedded: None,
            }),
            IpAddr::V6(v6) => {
                let Some(embedded) = embedded_ipv4(v6) else {
                    return v6_rule(v6).map(|(category, range)| Refusal {
                        addr,
                        category,
                        range,
                        embedded: None,
                    });
                };
                // The address stands for its IPv4 address(es): judge those instead.
                embedded.into_iter().flatten().find_map(|(how, inner)| {
                    if self.is_allowed(IpAddr::V4(inner)) {
                        return None;
                    }
                    v4_rule(inner).map(|(category, range)| Refusal {
                        addr,
                        category,
                        range,
                        embedded: Some((how, inner)),
                    })
                })
            }
        }
    }

    /// Refuses `addr` unless it is public unicast or inside an allowed network.
    pub fn check_ip(&self, addr: IpAddr) -> Result<(), SsrfError> {
        match self.refusal(addr) {
            None => Ok(()),
            Some(refusal) => Err(SsrfError::Refused(refusal)),
        }
    }

    /// Parses a webhook URL and checks what can be checked before resolving: the scheme
    /// (`http` or `https`), the presence of a host, and an IP-literal host's address. Host
    /// names are checked when resolved, by [`GuardedResolver`].
    ///
    /// Credentials in the URL (`https://user:pass@host/`) are accepted; the HTTP client
    /// sends them as basic authentication.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, SsrfError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| SsrfError::InvalidUrl(e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => return Err(SsrfError::Scheme(other.to_owned())),
        }
        let host = match parsed.host_str() {
            Some(host) if !host.is_empty() => host,
            _ => return Err(SsrfError::MissingHost),
        };
        // The parser normalises IPv4 literals (`0x7f.1`, `2130706433` → `127.0.0.1`) and
        // brackets IPv6 ones.
        let literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        };
        if let Some(addr) = literal {
            self.check_ip(addr)?;
        }
        Ok(parsed)
    }
}

/// The HTTP client's DNS resolver: resolves with the system resolver
/// (`tokio::net::lookup_host`), drops every address the policy refuses, and fails with
/// [`SsrfError::Resolved`] when none remain. The client connects only to the addresses
/// returned here, so the vetted address is the one connected to.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<NetworkPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }

    /// Resolves `host` and keeps the addresses the policy allows (ports are 0: the client
    /// sets the URL's port).
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let found = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| ResolveError::Lookup {
                host: host.to_owned(),
                source: e,
            })?;
        let mut allowed = Vec::new();
        let mut first_refusal = None;
        for addr in found {
            match self.policy.refusal(addr.ip()) {
                None => {
                    if !allowed.contains(&addr) {
                        allowed.push(addr);
                    }
                }
                Some(refusal) => {
                    tracing::debug!(host, %refusal, "refused a resolved address");
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(ResolveError::Refused(SsrfError::Resolved {
                host: host.to_owned(),
                refusal,
            })),
            (true, None) => Err(ResolveError::NoAddresses(host.to_owned())),
        }
    }
}

/// Why [`GuardedResolver::resolve_host`] found nothing to connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The system resolver failed (unknown host, no network…).
    #[error("could not resolve `{host}`: {source}")]
    Lookup {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The name resolved to no address at all.
    #[error("`{0}` resolved to no address")]
    NoAddresses(String),
    /// Every address was refused.
    #[error(transparent)]
    Refused(SsrfError),
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            match resolver.resolve_host(name.as_str()).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                // Boxed as the `SsrfError` itself, so `SsrfError::find_in` sees it at the
                // end of the client's error chain.
                Err(ResolveError::Refused(ssrf)) => Err(Box::new(ssrf) as _),
                Err(other) => Err(Box::new(other) as _),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    /// Every rule, refused by default: (address, category, range, embedded IPv4).
    const REFUSED: &[(&str, Category, &str, Option<&str>)] = &[
        (
            "169.254.169.254",
            Category::CloudMetadata,
            "169.254.169.254/32",
            None,
        ),
        (
            "100.100.100.200",
            Category::CloudMetadata,
            "100.100.100.200/32",
            None,
        ),
        (
            "168.63.129.16",
            Category::CloudMetadata,
            "168.63.129.16/32",
            None,
        ),
        (
            "fd00:ec2::254",
            Category::CloudMetadata,
            "fd00:ec2::254/128",
            None,
        ),
        ("10.0.0.1", Category::Private, "10.0.0.0/8", None),
        ("10.255.255.255", Category::Private, "10.0.0.0/8", None),
        ("172.16.0.1", Category::Private, "172.16.0.0/12", None),
        ("172.31.255.254", Category::Private, "172.16.0.0/12", None),
        ("192.168.1.1", Category::Private, "192.168.0.0/16", None),
        ("fc00::1", Category::Private, "fc00::/7", None),
        ("fd12:3456::1", Category::Private, "fc00::/7", None),
        ("fec0::1", Category::Private, "fec0::/10", None),
        ("127.0.0.1", Category::Loopback, "127.0.0.0/8", None),
        ("127.1.2.3", Category::Loopback, "127.0.0.0/8", None),
        ("::1", Category::Loopback, "::1/128", None),
        ("169.254.0.1", Category::LinkLocal, "169.254.0.0/16", None),
        ("fe80::1", Category::LinkLocal, "fe80::/10", None),
        ("0.0.0.0", Category::Unspecified, "0.0.0.0/8", None),
        ("0.1.2.3", Category::Unspecified, "0.0.0.0/8", None),
        ("::", Category::Unspecified, "::/128", None),
        ("224.0.0.1", Category::Multicast, "224.0.0.0/4", None),
        ("239.255.255.250", Category::Multicast, "224.0.0.0/4", None),
        ("ff02::1", Category::Multicast, "ff00::/8", None),
        (
            "255.255.255.255",
            Category::Broadcast,
            "255.255.255.255/32",
            None,
        ),
        (
            "100.64.0.1",
            Category::SharedAddressSpace,
            "100.64.0.0/10",
            None,
        ),
        (
            "100.127.255.254",
            Category::SharedAddressSpace,
            "100.64.0.0/10",
            None,
        ),
        ("198.18.0.1", Category::Benchmarking, "198.18.0.0/15", None),
        (
            "198.19.255.1",
            Category::Benchmarking,
            "198.18.0.0/15",
            None,
        ),
        ("2001:2::1", Category::Benchmarking, "2001:2::/48", None),
        ("192.0.2.1", Category::Documentation, "192.0.2.0/24", None),
        (
            "198.51.100.7",
            Category::Documentation,
            "198.51.100.0/24",
            None,
        ),
        (
            "203.0.113.9",
            Category::Documentation,
            "203.0.113.0/24",
            None,
        ),
        (
            "2001:db8::1",
            Category::Documentation,
            "2001:db8::/32",
            None,
        ),
        ("3fff::1", Category::Documentation, "3fff::/20", None),
        ("240.0.0.1", Category::Reserved, "240.0.0.0/4", None),
        ("192.0.0.8", Category::Reserved, "192.0.0.0/24", None),
        ("192.88.99.1", Category::Reserved, "192.88.99.0/24", None),
        ("100::1", Category::Reserved, "100::/64", None),
        ("2001:10::1", Category::Reserved, "2001::/23", None),
        ("4000::1", Category::NotGlobalUnicast, "2000::/3", None),
        // IPv4 hidden in IPv6: the embedded address is judged.
        (
            "::ffff:127.0.0.1",
            Category::Loopback,
            "127.0.0.0/8",
            Some("127.0.0.1"),
        ),
        (
            "::ffff:7f00:1",
            Category::Loopback,
            "127.0.0.0/8",
            Some("127.0.0.1"),
        ),
        (
            "::ffff:169.254.169.254",
            Category::CloudMetadata,
            "169.254.169.254/32",
            Some("169.254.169.254"),
        ),
        (
            "::10.0.0.1",
            Category::Private,
            "10.0.0.0/8",
            Some("10.0.0.1"),
        ),
        (
            "::ffff:0:192.168.0.1",
            Category::Private,
            "192.168.0.0/16",
            Some("192.168.0.1"),
        ),
        (
            "64:ff9b::a00:1",
            Category::Private,
            "10.0.0.0/8",
            Some("10.0.0.1"),
        ),
        (
            "64:ff9b::127.0.0.1",
            Category::Loopback,
            "127.0.0.0/8",
            Some("127.0.0.1"),
        ),
        (
            "64:ff9b:1::a9fe:a9fe",
            Category::CloudMetadata,
            "169.254.169.254/32",
            Some("169.254.169.254"),
        ),
        (
            "2002:0a00:0001::",
            Category::Private,
            "10.0.0.0/8",
            Some("10.0.0.1"),
        ),
        (
            "2002:7f00:1::1",
            Category::Loopback,
            "127.0.0.0/8",
            Some("127.0.0.1"),
        ),
        // Teredo: server 10.0.0.1, client (inverted) 8.8.8.8.
        (
            "2001:0:a00:1::f7f7:f7f7",
            Category::Private,
            "10.0.0.0/8",
            Some("10.0.0.1"),
        ),
        // Teredo: server 8.8.8.8, client 127.0.0.1 stored as !127.0.0.1 = 80ff:fffe.
        (
            "2001:0:808:808::80ff:fffe",
            Category::Loopback,
            "127.0.0.0/8",
            Some("127.0.0.1"),
        ),
    ];

    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "169.253.255.255",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2001:0:808:808::f7f7:f7f7",
    ];

    #[test]
    fn every_rule_refuses_by_default() {
        let policy = NetworkPolicy::default();
        for &(addr, category, range, embedded) in REFUSED {
            let refusal = policy
                .refusal(ip(addr))
                .unwrap_or_else(|| panic!("{addr} should be refused"));
            assert_eq!(refusal.category, category, "{addr}");
            assert_eq!(refusal.range.to_string(), range, "{addr}");
            assert_eq!(
                refusal.embedded.map(|(_, v4)| v4.to_string()),
                embedded.map(str::to_owned),
                "{addr}"
            );
            assert_eq!(
                policy.check_ip(ip(addr)).unwrap_err().error_kind(),
                ErrorKind::SsrfBlocked
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        let policy = NetworkPolicy::default();
        for addr in PUBLIC {
            assert_eq!(policy.refusal(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn messages_name_the_rule_the_address_and_the_fix() {
        let policy = NetworkPolicy::default();
        let msg = |a: &str| policy.check_ip(ip(a)).unwrap_err().to_string();
        assert_eq!(
            msg("10.0.0.1"),
            "address 10.0.0.1 is private (10.0.0.0/8); add it to [security] allowed_networks to allow it"
        );
        assert_eq!(
            msg("169.254.169.254"),
            "address 169.254.169.254 is a cloud metadata endpoint (169.254.169.254/32); add it to [security] allowed_networks to allow it"
        );
        assert_eq!(
            msg("::ffff:127.0.0.1"),
            "address ::ffff:127.0.0.1 embeds 127.0.0.1 (IPv4-mapped), which is loopback (127.0.0.0/8); add it to [security] allowed_networks to allow it"
        );
    }

    #[test]
    fn the_allow_list_lets_networks_through() {
        let policy = NetworkPolicy::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
            "169.254.169.254/32".parse().unwrap(),
        ]);
        for allowed in [
            "10.0.0.1",
            "10.9.8.7",
            "fd12::1",
            "fd00:ec2::254",
            "169.254.169.254",
        ] {
            assert_eq!(policy.check_ip(ip(allowed)), Ok(()), "{allowed}");
        }
        // Embedded forms of an allowed IPv4 are the same destination: allowed too.
        for embedded in ["::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:0a00:0001::"] {
            assert_eq!(policy.check_ip(ip(embedded)), Ok(()), "{embedded}");
        }
        // Neighbours stay refused.
        for refused in [
            "192.168.0.1",
            "172.16.0.1",
            "169.254.169.253",
            "fc00::1",
            "127.0.0.1",
        ] {
            assert!(policy.check_ip(ip(refused)).is_err(), "{refused}");
        }
        // Allowing the IPv6 literal allows it, whatever it embeds.
        let nat64 = NetworkPolicy::new(vec!["64:ff9b::/96".parse().unwrap()]);
        assert_eq!(nat64.check_ip(ip("64:ff9b::a00:1")), Ok(()));
        assert!(nat64.check_ip(ip("10.0.0.1")).is_err());
        // Loopback policy.
        let lo = NetworkPolicy::loopback();
        for allowed in ["127.0.0.1", "127.5.5.5", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(lo.check_ip(ip(allowed)), Ok(()), "{allowed}");
        }
        assert!(lo.check_ip(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn teredo_needs_both_embedded_addresses_allowed_or_public() {
        let addr = ip("2001:0:a00:1::80ff:fffe"); // server 10.0.0.1, client 127.0.0.1
        let only_private = NetworkPolicy::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let refusal = only_private.refusal(addr).unwrap();
        assert_eq!(refusal.category, Category::Loopback);
        assert_eq!(refusal.embedded.unwrap().0, Embedding::TeredoClient);
        let both = NetworkPolicy::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.0/8".parse().unwrap(),
        ]);
        assert_eq!(both.check_ip(addr), Ok(()));
    }

    #[test]
    fn urls() {
        let policy = NetworkPolicy::default();
        let kind = |u: &str| policy.check_url(u).unwrap_err().error_kind();
        assert!(policy.check_url("https://example.com/hook?x=1").is_ok());
        assert!(policy.check_url("http://8.8.8.8:8080/").is_ok());
        assert!(policy.check_url("http://[2606:4700::1111]/").is_ok());
        assert!(policy.check_url("https://user:pass@example.com/").is_ok());
        // Host names are left to the resolver.
        assert!(policy.check_url("http://localhost:8080/").is_ok());

        let err = policy.check_url("ftp://example.com/").unwrap_err();
        assert_eq!(err, SsrfError::Scheme("ftp".into()));
        assert!(err.to_string().contains("`ftp`"), "{err}");
        assert_eq!(kind("ftp://example.com/"), ErrorKind::InvalidUrl);
        assert_eq!(kind("file:///etc/passwd"), ErrorKind::InvalidUrl);
        assert_eq!(kind("gopher://127.0.0.1:6379/"), ErrorKind::InvalidUrl);
        assert_eq!(kind("not a url"), ErrorKind::InvalidUrl);
        assert_eq!(kind("http://"), ErrorKind::InvalidUrl);
        assert_eq!(kind(""), ErrorKind::InvalidUrl);

        for refused in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:0a00:0001::]/",
            "http://0.0.0.0:8080/",
            "http://[::]/",
            "http://[::1]:80/",
            // Alternative IPv4 spellings the URL parser normalises.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
        ] {
            assert_eq!(kind(refused), ErrorKind::SsrfBlocked, "{refused}");
        }

        let lo = NetworkPolicy::loopback();
        assert!(lo.check_url("http://127.0.0.1:9/").is_ok());
        assert!(lo.check_url("http://[::1]:9/").is_ok());
        assert!(lo.check_url("http://10.0.0.1/").is_err());
    }

    #[test]
    fn find_in_walks_the_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Box<dyn StdError + Send + Sync>);

        let inner = NetworkPolicy::default()
            .check_ip(ip("10.0.0.1"))
            .unwrap_err();
        let wrapped = Outer(Box::new(Outer(Box::new(inner.clone()))));
        assert_eq!(SsrfError::find_in(&wrapped), Some(&inner));
        let unrelated = Outer(Box::new(std::io::Error::other("nope")));
        assert_eq!(SsrfError::find_in(&unrelated), None);
    }

    async fn resolve(
        policy: NetworkPolicy,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
        use reqwest::dns::Resolve as _;
        let resolver = GuardedResolver::new(Arc::new(policy));
        let name: reqwest::dns::Name = host.parse().unwrap();
        resolver.resolve(name).await.map(Iterator::collect)
    }

    #[tokio::test]
    async fn localhost_is_refused_through_the_resolver_by_default() {
        let err = resolve(NetworkPolicy::default(), "localhost")
            .await
            .unwrap_err();
        let ssrf = SsrfError::find_in(&*err).expect("an SSRF refusal");
        assert_eq!(ssrf.error_kind(), ErrorKind::SsrfBlocked);
        assert_eq!(ssrf.refusal().unwrap().category, Category::Loopback);
        assert!(
            ssrf.to_string()
                .starts_with("host `localhost` resolves only to refused addresses: address "),
            "{ssrf}"
        );
    }

    #[tokio::test]
    async fn localhost_is_allowed_through_the_resolver_with_loopback_allowed() {
        let addrs = resolve(NetworkPolicy::loopback(), "localhost")
            .await
            .unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        // Only 127.0.0.0/8 allowed: `::1`, if `localhost` has it, is dropped, not connected to.
        let v4_only = NetworkPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        let addrs = resolve(v4_only, "localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.is_ipv4()), "{addrs:?}");
    }

    #[tokio::test]
    async fn lookup_failures_are_not_ssrf_refusals() {
        let err = resolve(NetworkPolicy::default(), "does-not-exist.invalid")
            .await
            .unwrap_err();
        assert_eq!(SsrfError::find_in(&*err), None);
        assert!(err.to_string().contains("does-not-exist.invalid"), "{err}");
    }
}
