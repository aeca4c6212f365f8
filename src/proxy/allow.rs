//! The proxy's allow-list (`--allow HOST[:PORT]`): which upstreams it may connect to.
//!
//! Python: none in the standard library; Squid's `acl ... dst` / `dstdomain` with
//! `http_access`. An open proxy reaches whatever its host can reach (the machine's own
//! loopback services, the internal network), so the default is loopback only.
//!
//! The list is checked twice: on the name in the URL, before anything is resolved or
//! connected (a refused host costs nothing and leaks nothing), and on the address the name
//! resolved to, right before connecting to that very address, so a name that resolves
//! somewhere else (a DNS answer changed under us: rebinding) is refused too.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// One `--allow` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    host: Host,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    /// A name, lowercased, with the addresses it may resolve to.
    Name { name: String, addrs: Vec<IpAddr> },
    /// An address literal.
    Addr(IpAddr),
    /// 127.0.0.0/8.
    Loopback4,
}

/// An `--allow` value that is not `HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRule(pub String);

impl fmt::Display for BadRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRule {}

impl Rule {
    /// `HOST[:PORT]`: a name, an IPv4 address, or an IPv6 address (in brackets when a port
    /// follows: `[::1]:8080`). A name's allowed addresses are what it resolves to now
    /// (`localhost`: the loopback addresses), so resolve names before the loop starts.
    ///
    /// # Errors
    /// [`BadRule`] for an empty host, a bad port, or a name that does not resolve.
    ///
    /// # Examples
    ///
    /// ```
    /// use mio_selectors::proxy::{AllowList, Rule};
    ///
    /// let list = AllowList::new(vec![Rule::parse("127.0.0.2:8080")?, Rule::parse("[::1]")?]);
    /// assert!(list.allows_name("127.0.0.2", 8080));
    /// assert!(!list.allows_name("127.0.0.2", 8081));
    /// assert!(list.allows_name("::1", 1));
    /// assert!(!list.allows_name("127.0.0.1", 8080));
    /// # Ok::<(), mio_selectors::proxy::BadRule>(())
    /// ```
    pub fn parse(text: &str) -> Result<Rule, BadRule> {
        let (host, port) = split_host_port(text)?;
        let host = if let Ok(ip) = host.parse::<IpAddr>() {
            Host::Addr(ip)
        } else if host.eq_ignore_ascii_case("localhost") {
            Host::Name {
                name: "localhost".into(),
                addrs: vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
            }
        } else {
            let addrs = (host, 0)
                .to_socket_addrs()
                .map_err(|err| BadRule(format!("--allow {text}: cannot resolve {host}: {err}")))?
                .map(|a| a.ip())
                .collect();
            Host::Name {
                name: host.to_ascii_lowercase(),
                addrs,
            }
        };
        Ok(Rule { host, port })
    }

    /// A rule for `name` that allows exactly `addrs`, without resolving anything (for
    /// tests, and for names resolved some other way).
    pub fn name(name: &str, addrs: Vec<IpAddr>, port: Option<u16>) -> Rule {
        Rule {
            host: Host::Name {
                name: name.to_ascii_lowercase(),
                addrs,
            },
            port,
        }
    }

    fn matches_name(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.host, host.parse::<IpAddr>()) {
            (Host::Name { name, .. }, Err(_)) => name.eq_ignore_ascii_case(host),
            (Host::Addr(ip), Ok(literal)) => same_ip(*ip, literal),
            (Host::Loopback4, Ok(literal)) => is_loopback4(literal),
            _ => false,
        }
    }

    fn allows_addr(&self, addr: IpAddr) -> bool {
        match &self.host {
            Host::Name { addrs, .. } => addrs.iter().any(|a| same_ip(*a, addr)),
            Host::Addr(ip) => same_ip(*ip, addr),
            Host::Loopback4 => is_loopback4(addr),
        }
    }
}

/// The upstreams a proxy may reach.
///
/// # Examples
///
/// ```
/// use mio_selectors::proxy::AllowList;
///
/// let list = AllowList::loopback();
/// assert!(list.allows_name("localhost", 8080));
/// assert!(list.allows_name("127.1.2.3", 80));
/// assert!(list.allows_name("::1", 80));
/// assert!(!list.allows_name("example.com", 80));
/// assert!(!list.allows_name("10.0.0.1", 80));
/// // `localhost` must resolve to loopback to be connected to:
/// assert!(list.allows_resolved("localhost", 80, "127.0.0.1".parse().unwrap()));
/// assert!(!list.allows_resolved("localhost", 80, "10.0.0.1".parse().unwrap()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
}

impl AllowList {
    /// Exactly these rules (none: nothing is allowed).
    pub fn new(rules: Vec<Rule>) -> AllowList {
        AllowList { rules }
    }

    /// The default: `localhost`, 127.0.0.0/8 and `::1`, any port.
    pub fn loopback() -> AllowList {
        AllowList::new(vec![
            Rule::name(
                "localhost",
                vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
                None,
            ),
            Rule {
                host: Host::Loopback4,
                port: None,
            },
            Rule {
                host: Host::Addr(Ipv6Addr::LOCALHOST.into()),
                port: None,
            },
        ])
    }

    /// Whether `host:port` from a URL may be asked for at all (checked before resolving).
    pub fn allows_name(&self, host: &str, port: u16) -> bool {
        self.rules.iter().any(|r| r.matches_name(host, port))
    }

    /// Whether `host:port` may be connected to at `addr`, the address it resolved to.
    pub fn allows_resolved(&self, host: &str, port: u16, addr: IpAddr) -> bool {
        self.rules
            .iter()
            .any(|r| r.matches_name(host, port) && r.allows_addr(addr))
    }
}

impl Default for AllowList {
    fn default() -> AllowList {
        AllowList::loopback()
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address it maps.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    canonical(a) == canonical(b)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_loopback4(ip: IpAddr) -> bool {
    matches!(canonical(ip), IpAddr::V4(v4) if v4.is_loopback())
}

fn split_host_port(text: &str) -> Result<(&str, Option<u16>), BadRule> {
    let bad = || BadRule(format!("--allow {text:?}: expected HOST[:PORT]"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if text.parse::<Ipv6Addr>().is_ok() {
        (text, None)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(bad());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(bad()),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rules_parse() {
        assert_eq!(Rule::parse("127.0.0.2").unwrap().port, None);
        assert_eq!(Rule::parse("127.0.0.2:80").unwrap().port, Some(80));
        assert_eq!(Rule::parse("[::1]:8080").unwrap().port, Some(8080));
        assert_eq!(Rule::parse("::1").unwrap().host, Host::Addr(ip("::1")));
        assert_eq!(Rule::parse("LocalHost:81").unwrap().port, Some(81));
        for bad in [
            "", ":80", "h:0", "h:x", "h:70000", "h:+80", "[::1", "[::1]x", "a/b", "u@h",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_that_resolves_elsewhere_is_refused() {
        let list = AllowList::new(vec![Rule::name("up.test", vec![ip("127.0.0.2")], None)]);
        assert!(list.allows_name("UP.test", 80));
        assert!(list.allows_resolved("up.test", 80, ip("127.0.0.2")));
        assert!(list.allows_resolved("up.test", 80, ip("::ffff:127.0.0.2")));
        assert!(!list.allows_resolved("up.test", 80, ip("127.0.0.3")));
        assert!(
            !list.allows_name("127.0.0.2", 80),
            "the address alone is not named"
        );
    }

    #[test]
    fn default_is_loopback_only() {
        let list = AllowList::loopback();
        assert!(list.allows_name("127.255.255.254", 1));
        assert!(list.allows_resolved("127.0.0.9", 1, ip("127.0.0.9")));
        assert!(list.allows_resolved("::1", 1, ip("::1")));
        assert!(!list.allows_name("::2", 1));
        assert!(!list.allows_name("0.0.0.0", 1));
        assert!(!list.allows_name("localhost.example", 1));
        assert!(list.allows_name("::ffff:127.0.0.1", 1));
    }

    #[test]
    fn ports_restrict() {
        let list = AllowList::new(vec![Rule::parse("127.0.0.2:8080").unwrap()]);
        assert!(list.allows_resolved("127.0.0.2", 8080, ip("127.0.0.2")));
        assert!(!list.allows_resolved("127.0.0.2", 8081, ip("127.0.0.2")));
    }
}
