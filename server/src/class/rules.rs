//! Which addresses the lab may grade, and how often a student may enroll.
//!
//! A lab in class mode connects wherever an enrollment points it. Left open, anyone who can reach
//! the page could make the teacher's laptop knock on any machine (a printer, the school's
//! router, a server on the internet: the lab would be a proxy for port scans), or on the lab's
//! own ports. So it grades only the networks it serves: loopback, and the networks of the
//! address it is bound to (all of this machine's networks when bound to 0.0.0.0). Never its own
//! ports, and never an address another nickname holds.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Enrollments one machine may make within [`ENROLL_WINDOW`] (a student who mistyped a port
/// tries again; a script that enrolls the whole address space does not get far).
pub const ENROLLS_PER_WINDOW: usize = 5;
/// The window of [`ENROLLS_PER_WINDOW`].
pub const ENROLL_WINDOW: Duration = Duration::from_secs(60);

/// The networks the lab serves, and the addresses that are its own.
#[derive(Debug, Clone)]
pub struct Networks {
    /// (network address, prefix length) of every network the lab is bound on, loopback aside.
    nets: Vec<(IpAddr, u32)>,
    /// This machine's addresses: the lab's own ports on them are refused.
    own: Vec<IpAddr>,
    /// The lab's ports (the TCP chat and the web side).
    ports: Vec<u16>,
}

impl Networks {
    /// The networks of a lab whose web side is bound to `bound`, listening on `ports`.
    pub fn new(bound: SocketAddr, ports: &[u16]) -> Networks {
        let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
        let interfaces = interfaces.iter().map(|i| (i.ip(), prefix(&i.addr))).collect();
        Networks::of(bound.ip(), interfaces, ports)
    }

    /// [`Networks::new`] with the machine's interfaces given: (address, prefix length).
    pub fn of(bound: IpAddr, interfaces: Vec<(IpAddr, u32)>, ports: &[u16]) -> Networks {
        let own = interfaces.iter().map(|(ip, _)| *ip).collect();
        let served = |ip: &IpAddr| !ip.is_loopback() && (bound.is_unspecified() || *ip == bound);
        let nets = interfaces.into_iter().filter(|(ip, _)| served(ip)).map(|(ip, p)| (masked(ip, p), p));
        Networks { nets: nets.collect(), own, ports: ports.to_vec() }
    }

    /// `Ok` when the lab may grade `addr`; else the line to send back to the student.
    pub fn admit(&self, addr: SocketAddr) -> Result<(), String> {
        let ip = addr.ip().to_canonical();
        if ip.is_unspecified() || ip.is_multicast() || addr.port() == 0 {
            return Err(format!(
                "{addr} is not a server's address: give the HOST:PORT your server listens on"
            ));
        }
        if (ip.is_loopback() || self.own.contains(&ip)) && self.ports.contains(&addr.port()) {
            return Err(format!(
                "{addr} is the lab itself: give the port your own server listens on, not the lab's"
            ));
        }
        let on_a_network = self.nets.iter().any(|(net, p)| masked(ip, *p) == *net);
        if ip.is_loopback() || on_a_network {
            return Ok(());
        }
        Err(format!(
            "{ip} is not on a network this lab serves ({}): the lab grades only servers in this room; \
             start yours with --addr 0.0.0.0:PORT and enroll from the same network",
            self.describe()
        ))
    }

    /// True when `ip` is this machine (loopback, or one of its addresses).
    pub fn is_own(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || self.own.contains(&ip)
    }

    /// The networks, as a student reads them: `loopback, 192.168.1.0/24`.
    fn describe(&self) -> String {
        let nets = self.nets.iter().map(|(net, p)| format!("{net}/{p}"));
        std::iter::once("loopback".to_string()).chain(nets).collect::<Vec<_>>().join(", ")
    }
}

/// The prefix length of an interface's netmask (`255.255.255.0` → 24).
fn prefix(addr: &if_addrs::IfAddr) -> u32 {
    match addr {
        if_addrs::IfAddr::V4(v4) => u32::from(v4.netmask).leading_ones(),
        if_addrs::IfAddr::V6(v6) => u128::from(v6.netmask).leading_ones(),
    }
}

/// `ip` with every bit past the first `prefix` cleared: its network's address.
fn masked(ip: IpAddr, prefix: u32) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - prefix.min(32)).unwrap_or(0);
            IpAddr::from(std::net::Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - prefix.min(128)).unwrap_or(0);
            IpAddr::from(std::net::Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// How many enrollments each machine made lately.
#[derive(Debug, Default)]
pub struct Rate {
    recent: HashMap<IpAddr, VecDeque<Instant>>,
}

impl Rate {
    /// Counts one enrollment from `from`, or says when to try again if it is one too many.
    pub fn allow(&mut self, from: IpAddr, per_window: usize) -> Result<(), String> {
        let now = Instant::now();
        // Forget what fell out of the window, everyone's: the map stays as small as the room.
        self.recent.retain(|_, times| {
            while times.front().is_some_and(|t| now.duration_since(*t) >= ENROLL_WINDOW) {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = self.recent.entry(from).or_default();
        if times.len() >= per_window {
            let wait = ENROLL_WINDOW
                .saturating_sub(times.front().map_or(Duration::ZERO, |t| now.duration_since(*t)));
            return Err(format!(
                "{per_window} enrollments from {from} in {ENROLL_WINDOW:?} already: try again in {} s",
                wait.as_secs() + 1
            ));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Networks {
        let interfaces = vec![
            ("127.0.0.1".parse().unwrap(), 8),
            ("192.168.1.20".parse().unwrap(), 24),
            ("10.9.0.2".parse().unwrap(), 16),
        ];
        Networks::of("192.168.1.20".parse().unwrap(), interfaces, &[7878, 8080])
    }

    fn admit(networks: &Networks, addr: &str) -> Result<(), String> {
        networks.admit(addr.parse().unwrap())
    }

    #[test]
    fn loopback_and_the_bound_network_are_graded() {
        let networks = room();
        for addr in [
            "127.0.0.1:7979",
            "[::1]:7979",
            "192.168.1.77:7979",
            "192.168.1.20:7979",
            "[::ffff:192.168.1.5]:80",
        ] {
            assert_eq!(admit(&networks, addr), Ok(()), "{addr}");
        }
    }

    #[test]
    fn other_hosts_and_networks_are_refused() {
        let networks = room();
        // 10.9.0.0/16 is this machine's too, but the lab is not bound there.
        for addr in ["192.168.2.1:7979", "10.9.0.5:7979", "8.8.8.8:53", "0.0.0.0:7979", "224.0.0.1:7979"] {
            let refused = admit(&networks, addr).unwrap_err();
            assert!(!refused.is_empty(), "{addr}");
        }
        let line = admit(&networks, "8.8.8.8:53").unwrap_err();
        assert!(line.contains("loopback, 192.168.1.0/24"), "{line}");
    }

    #[test]
    fn the_labs_own_ports_are_refused_on_every_own_address() {
        let networks = room();
        for addr in ["127.0.0.1:8080", "127.0.0.1:7878", "192.168.1.20:8080", "[::1]:7878"] {
            let refused = admit(&networks, addr).unwrap_err();
            assert!(refused.contains("is the lab itself"), "{addr}: {refused}");
        }
        // Another machine's 8080 is a student's server.
        assert_eq!(admit(&networks, "192.168.1.77:8080"), Ok(()));
        // "grade all" is the teacher's button: this machine, whichever of its addresses.
        for own in ["127.0.0.1", "127.0.0.2", "::1", "192.168.1.20", "::ffff:127.0.0.1"] {
            assert!(networks.is_own(own.parse().unwrap()), "{own}");
        }
        assert!(!networks.is_own("192.168.1.77".parse().unwrap()));
    }

    #[test]
    fn bound_to_every_address_serves_every_network_and_bound_to_loopback_only_loopback() {
        let interfaces = || vec![("127.0.0.1".parse().unwrap(), 8), ("10.9.0.2".parse().unwrap(), 16)];
        let everywhere = Networks::of("0.0.0.0".parse().unwrap(), interfaces(), &[8080]);
        assert_eq!(admit(&everywhere, "10.9.200.1:7979"), Ok(()));
        let local = Networks::of("127.0.0.1".parse().unwrap(), interfaces(), &[8080]);
        assert!(admit(&local, "10.9.200.1:7979").is_err());
        assert_eq!(admit(&local, "127.0.0.1:7979"), Ok(()));
    }

    #[test]
    fn enrollments_are_limited_per_machine() {
        let mut rate = Rate::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(rate.allow(a, 3).is_ok());
        }
        let refused = rate.allow(a, 3).unwrap_err();
        assert!(refused.contains("try again in"), "{refused}");
        assert!(rate.allow(b, 3).is_ok());
    }
}
