//! Server-side request forgery guard for user-supplied URLs (an on-prem Business Central `api_url`).
//!
//! Two layers, both driven by one [`SsrfPolicy`]:
//! - [`SsrfPolicy::check_url`] refuses bad schemes, user info and literal addresses in refused ranges,
//!   whatever spelling the user chose (`0x7f.1`, `2130706433`, `[::ffff:127.0.0.1]` all parse to addresses);
//! - [`GuardedResolver`] is the DNS resolver of the HTTP client used for such URLs: it resolves the name,
//!   refuses it if *any* address is in a refused range, and hands the connector exactly the addresses it
//!   checked, so a DNS answer that changes between check and connect (rebinding) cannot slip through.
//!
//! Operators allow-list hosts, addresses or networks (a BC server on the office LAN, the simulator in tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::ConnectorError;
pub use crate::error::SsrfError;

/// Which URLs may be fetched on a user's behalf.
#[derive(Debug, Clone, Default)]
pub struct SsrfPolicy {
    /// Allow plain `http://` (default: only https).
    pub allow_http: bool,
    /// Host names (lower case, exact) that may resolve anywhere.
    pub allowed_hosts: Vec<String>,
    /// Addresses/networks that are allowed even though they are in a refused range.
    pub allowed_networks: Vec<IpNet>,
}

impl SsrfPolicy {
    /// Adds an allow-list entry: a CIDR (`10.0.0.0/8`), an address (`127.0.0.1`, `[::1]`) or a host
    /// name (`bc.lan`). Malformed entries are ignored; use [`SsrfPolicy::try_allow`] for configuration.
    pub fn allow(self, entry: &str) -> Self {
        let fallback = self.clone();
        self.try_allow(entry).unwrap_or(fallback)
    }

    /// Like [`SsrfPolicy::allow`], but refuses entries that are neither a CIDR, an address nor a host name
    /// (for validating configuration at start-up).
    pub fn try_allow(mut self, entry: &str) -> Result<Self, String> {
        let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Ok(net) = entry.parse::<IpNet>() {
            self.allowed_networks.push(net);
        } else if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
            self.allowed_networks.push(IpNet::from(ip));
        } else if is_host_name(&entry) {
            self.allowed_hosts.push(entry);
        } else {
            return Err(format!(
                "`{entry}` is not a host name, an IP address or a CIDR network"
            ));
        }
        Ok(self)
    }

    /// Allows plain http as well as https.
    pub fn with_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Checks everything about a URL that does not need DNS; returns it parsed.
    pub fn check_url(&self, raw: &str) -> Result<Url, SsrfError> {
        let url = Url::parse(raw.trim()).map_err(|e| SsrfError::BadUrl(e.to_string()))?;
        self.check_parsed(&url)?;
        Ok(url)
    }

    /// [`SsrfPolicy::check_url`] for an already parsed URL (a next link, a redirect target).
    pub fn check_parsed(&self, url: &Url) -> Result<(), SsrfError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(SsrfError::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SsrfError::UserInfo);
        }
        match url.host() {
            None => Err(SsrfError::NoHost),
            Some(Host::Domain(name)) => self.check_name(name),
            Some(Host::Ipv4(ip)) => self.check_ip(&ip.to_string(), IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(&ip.to_string(), IpAddr::V6(ip)),
        }
    }

    /// Checks a URL and resolves its host, refusing it if any address is refused. For up-front validation
    /// with a precise message; the connection itself goes through [`GuardedResolver`] again.
    pub async fn check(&self, raw: &str) -> Result<Url, ConnectorError> {
        let url = self.check_url(raw)?;
        if let Some(Host::Domain(name)) = url.host() {
            self.resolve(name).await.map_err(resolve_error)?;
        }
        Ok(url)
    }

    fn host_allowed(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.contains(&name)
    }

    fn ip_allowed(&self, ip: IpAddr) -> bool {
        let canonical = canonical(ip);
        self.allowed_networks
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&canonical))
    }

    fn check_name(&self, name: &str) -> Result<(), SsrfError> {
        if self.host_allowed(name) {
            return Ok(());
        }
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        let refused = lower == "localhost"
            || lower.ends_with(".localhost")
            || lower == "metadata"
            || lower.ends_with(".internal")
            || lower == "instance-data";
        if refused {
            return Err(SsrfError::HostName(name.to_owned()));
        }
        Ok(())
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), SsrfError> {
        if self.ip_allowed(ip) {
            return Ok(());
        }
        match refused_range(ip) {
            Some(range) => Err(SsrfError::Address {
                host: host.to_owned(),
                addr: ip,
                range,
            }),
            None => Ok(()),
        }
    }

    /// Resolves `name` and checks every address. Port 0: the HTTP client fills in the URL's port.
    async fn resolve(&self, name: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        self.check_name(name).map_err(ResolveError::Refused)?;
        let lookup_name = name.trim_matches(['[', ']']);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((lookup_name, 0))
            .await
            .map_err(ResolveError::Dns)?
            .collect();
        if addrs.is_empty() {
            return Err(ResolveError::Dns(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no address for {name}"),
            )));
        }
        if !self.host_allowed(name) {
            for addr in &addrs {
                self.check_ip(name, addr.ip())
                    .map_err(ResolveError::Refused)?;
            }
        }
        Ok(addrs)
    }

    /// The DNS resolver to install in HTTP clients that fetch URLs checked by this policy.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: Arc::new(self.clone()),
        })
    }
}

/// Letters, digits, `-` and `.`, with no empty label; not all-numeric (that would be an address).
fn is_host_name(name: &str) -> bool {
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    labels_ok && name.len() <= 253 && !name.chars().all(|c| c.is_ascii_digit() || c == '.')
}

#[derive(Debug)]
enum ResolveError {
    Refused(SsrfError),
    Dns(std::io::Error),
}

fn resolve_error(err: ResolveError) -> ConnectorError {
    match err {
        ResolveError::Refused(e) => ConnectorError::Blocked(e),
        ResolveError::Dns(e) => ConnectorError::Unreachable {
            message: format!("DNS lookup failed: {e}"),
        },
    }
}

/// A `reqwest` DNS resolver that only ever returns addresses the [`SsrfPolicy`] accepts.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: Arc<SsrfPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            match policy.resolve(&name).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(ResolveError::Refused(e)) => Err(Box::new(e) as _),
                Err(ResolveError::Dns(e)) => Err(Box::new(e) as _),
            }
        })
    }
}

/// The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), else the address itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(tail); // deprecated IPv4-compatible ::a.b.c.d
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail); // NAT64 well-known prefix
    }
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d)); // 6to4
    }
    None
}

/// The name of the refused range `ip` is in, or `None` when it is a public address.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

const V4_RANGES: &[(&str, &str)] = &[
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("168.63.129.16/32", "cloud metadata"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
];

const V6_RANGES: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local NAT64"),
    ("100::/64", "discard"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
];

fn find_range(ip: IpAddr, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table.iter().find_map(|(cidr, name)| {
        let net: IpNet = cidr.parse().expect("static CIDR table");
        net.contains(&ip).then_some(*name)
    })
}

fn refused_v4(v4: Ipv4Addr) -> Option<&'static str> {
    find_range(IpAddr::V4(v4), V4_RANGES)
}

fn refused_v6(v6: Ipv6Addr) -> Option<&'static str> {
    find_range(IpAddr::V6(v6), V6_RANGES)
}

#[cfg(test)]
#[path = "ssrf_tests.rs"]
mod tests;
