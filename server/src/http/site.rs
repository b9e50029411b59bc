//! Who may talk to this server from a browser: the `Host` and `Origin` rules.
//!
//! A browser sends any page's requests to any server, with the page's origin in `Origin`. Two
//! attacks follow, and one rule each stops them:
//!
//! - **Cross-site requests (CSRF).** A page on another site, opened by a student, posts into the
//!   class chat or opens its WebSocket as that student. Every request that changes something
//!   (a POST, a WebSocket upgrade) must come from our own page, from no browser at all (no
//!   `Origin`), or from an origin the teacher allowed (`--allow-origin`): otherwise 403.
//! - **DNS rebinding.** The attacker's own name, say `evil.example`, is made to resolve to
//!   127.0.0.1: the browser then calls our server "evil.example" and treats it as the attacker's
//!   site, so `Host` and `Origin` agree and the rule above passes. So the `Host` must be one of our
//!   own names: `127.0.0.1`, `localhost` or `[::1]`, with any port or none (the name is what a
//!   rebinding page cannot fake; `Host: localhost` is what people type); on a network address,
//!   also this machine's addresses and the allowed origins' names, with our port or none.
//!   Otherwise 421.

use std::net::{IpAddr, SocketAddr};

use super::request::Request;
use super::response::{Status, FORBIDDEN, MISDIRECTED_REQUEST};

/// Which pages besides the server's own may change state here (`--allow-origin`).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Extra origins to admit besides the server's own (`http://host:port`), or [`ANY_ORIGIN`].
    pub extra: Vec<String>,
}

/// Admits a page from anywhere: only for a server with nothing to protect (the echo of lesson 6,
/// which a learner tries from a blank browser tab).
pub const ANY_ORIGIN: &str = "*";

impl Origins {
    /// Every page may connect.
    pub fn any() -> Origins {
        Origins { extra: vec![ANY_ORIGIN.to_string()] }
    }
}

/// This machine's own names: no other machine can be behind them, so no page can rename a
/// server to one of them.
pub const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// The names this server answers to, and the origins it trusts.
#[derive(Debug, Clone)]
pub struct Site {
    port: u16,
    /// Host names (without port) that are ours.
    names: Vec<String>,
    origins: Origins,
    /// Served over TLS (`--tls`): our own page is then `https://`, and a Host without a port 443.
    tls: bool,
}

impl Site {
    /// The site of a server listening on `local`: loopback names always; when it listens on a
    /// network address or on every address (0.0.0.0), this machine's addresses and the host
    /// names of the allowed origins too.
    pub fn new(local: SocketAddr, origins: Origins) -> Site {
        let mut names: Vec<String> = LOOPBACK_NAMES.map(String::from).to_vec();
        if !local.ip().is_loopback() {
            let mut ips: Vec<IpAddr> = vec![local.ip()];
            if local.ip().is_unspecified() {
                ips.extend(if_addrs::get_if_addrs().unwrap_or_default().iter().map(|i| i.ip()));
            }
            names.extend(ips.iter().map(|ip| match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            }));
            let named = origins.extra.iter().filter(|origin| *origin != ANY_ORIGIN);
            names.extend(named.filter_map(|origin| split_host(origin_authority(origin)).0));
        }
        Site { port: local.port(), names, origins, tls: false }
    }

    /// The same site, served over TLS when `tls` (see `crate::tls`).
    pub fn over_tls(self, tls: bool) -> Site {
        Site { tls, ..self }
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// `Ok` when `request` may be served here; else the status and why.
    pub fn check(&self, request: &Request) -> Result<(), (Status, String)> {
        self.check_host(request)?;
        if request.changes_state() && !self.own_sealed_page(request) {
            self.check_origin(request)?;
        }
        Ok(())
    }

    /// Over TLS our own page is `https://host:port`. (The `http://` twin that `check_origin`
    /// admits cannot exist: this port speaks only TLS.)
    fn own_sealed_page(&self, request: &Request) -> bool {
        let own = request.host.as_deref().map(|host| format!("https://{host}"));
        self.tls && own.is_some() && request.header("Origin") == own.as_deref()
    }

    /// The DNS-rebinding rule: the `Host` is one of our names, with our port.
    fn check_host(&self, request: &Request) -> Result<(), (Status, String)> {
        // An HTTP/1.0 client may send no Host at all: it cannot be a rebinding browser.
        let Some(host) = request.host.as_deref() else { return Ok(()) };
        let (name, port) = split_host(host);
        let is =
            |names: &[&str]| name.as_deref().is_some_and(|n| names.iter().any(|x| x.eq_ignore_ascii_case(n)));
        // The defense needs the name, not the port: `Host: localhost` typed by hand (as most
        // tutorials show), or a port forwarded to ours, names this machine all the same.
        if is(&LOOPBACK_NAMES) {
            return Ok(());
        }
        let ours: Vec<&str> = self.names.iter().map(String::as_str).collect();
        if is(&ours) && port.is_none_or(|port| port == self.port) {
            return Ok(());
        }
        let why = format!(
            "this server does not answer to the name {host:?}; use {scheme}://127.0.0.1:{}/ (a page that \
             renamed this server to reach it is refused; --allow-origin {scheme}://NAME:{} adds a name on a network)",
            self.port,
            self.port,
            scheme = self.scheme()
        );
        Err((MISDIRECTED_REQUEST, why))
    }

    /// The cross-site rule: our own page, no browser, or an allowed origin.
    fn check_origin(&self, request: &Request) -> Result<(), (Status, String)> {
        let Some(origin) = request.header("Origin") else { return Ok(()) };
        let own = request.host.as_deref().map(|host| format!("http://{host}"));
        let allowed = |allowed: &String| allowed == origin || allowed == ANY_ORIGIN;
        if own.as_deref() == Some(origin) || self.origins.extra.iter().any(allowed) {
            return Ok(());
        }
        let why = format!(
            "pages from {origin} may not change anything here (start the server with --allow-origin {origin} to let them)"
        );
        Err((FORBIDDEN, why))
    }
}

/// `http://name:port/...` → `name:port`.
fn origin_authority(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    rest.split('/').next().unwrap_or_default()
}

/// `name:port` → (`name`, port); `[::1]:8080` keeps its brackets. A port that is not a number
/// makes the name unusable.
fn split_host(host: &str) -> (Option<String>, Option<u16>) {
    let (name, port) = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => (&host[..colon], Some(&host[colon + 1..])),
        _ => (host, None),
    };
    match port.map(str::parse::<u16>) {
        Some(Err(_)) => (None, None),
        Some(Ok(port)) => (Some(name.to_string()), Some(port)),
        None => (Some(name.to_string()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str, origin: Option<&str>, method: &str) -> Request {
        let mut headers = vec![("Host".to_string(), host.to_string())];
        headers.extend(origin.map(|o| ("Origin".to_string(), o.to_string())));
        Request {
            method: method.into(),
            target: "/".into(),
            minor_version: 1,
            headers,
            host: Some(host.into()),
            body: Vec::new(),
            raw_head: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn status(site: &Site, host: &str, origin: Option<&str>, method: &str) -> u16 {
        site.check(&request(host, origin, method)).map_or_else(|(status, _)| status.0, |()| 200)
    }

    #[test]
    fn on_loopback_only_loopback_names_are_served_with_any_port_or_none() {
        let site = Site::new("127.0.0.1:8080".parse().unwrap(), Origins::default());
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"] {
            assert_eq!(status(&site, host, None, "GET"), 200, "{host}");
        }
        // Typed by hand in nc, as most HTTP tutorials show it; or through a forwarded port.
        for host in ["localhost", "127.0.0.1", "[::1]", "localhost:9090", "127.0.0.1:80"] {
            assert_eq!(status(&site, host, None, "GET"), 200, "{host}");
        }
        for host in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1:x",
            "10.0.0.5:8080",
            "localhost.evil.example",
            "",
        ] {
            assert_eq!(status(&site, host, None, "GET"), 421, "{host}");
        }
    }

    #[test]
    fn a_rebinding_page_is_refused_even_when_host_and_origin_agree() {
        let site = Site::new("127.0.0.1:8080".parse().unwrap(), Origins::default());
        let evil = "http://evil.example:8080";
        assert_eq!(status(&site, "evil.example:8080", Some(evil), "POST"), 421);
    }

    #[test]
    fn on_a_network_address_its_own_address_and_allowed_names_are_served() {
        let origins = Origins { extra: vec!["http://lab.school:8080".into()] };
        let site = Site::new("10.1.2.3:8080".parse().unwrap(), origins);
        for host in ["10.1.2.3:8080", "lab.school:8080", "127.0.0.1:8080", "10.1.2.3", "localhost"] {
            assert_eq!(status(&site, host, None, "GET"), 200, "{host}");
        }
        for host in ["evil.example:8080", "evil.example", "lab.school:9090"] {
            assert_eq!(status(&site, host, None, "GET"), 421, "{host}");
        }
    }

    #[test]
    fn over_tls_our_own_page_is_https() {
        let site = Site::new("127.0.0.1:8443".parse().unwrap(), Origins::default()).over_tls(true);
        let host = "127.0.0.1:8443";
        assert_eq!(status(&site, host, Some("https://127.0.0.1:8443"), "POST"), 200);
        assert_eq!(status(&site, "localhost:8443", Some("https://localhost:8443"), "GET"), 200);
        assert_eq!(status(&site, host, Some("https://evil.example"), "POST"), 403);
        let plain = Site::new("127.0.0.1:8080".parse().unwrap(), Origins::default());
        assert_eq!(status(&plain, "127.0.0.1:8080", Some("https://127.0.0.1:8080"), "POST"), 403);
    }

    #[test]
    fn state_changing_requests_need_our_origin_or_an_allowed_one() {
        let site = Site::new(
            "127.0.0.1:8080".parse().unwrap(),
            Origins { extra: vec!["http://localhost:3000".into()] },
        );
        let host = "127.0.0.1:8080";
        assert_eq!(status(&site, host, None, "POST"), 200); // not a browser
        assert_eq!(status(&site, host, Some("http://127.0.0.1:8080"), "POST"), 200);
        assert_eq!(status(&site, host, Some("http://localhost:3000"), "POST"), 200);
        assert_eq!(status(&site, host, Some("https://evil.example"), "POST"), 403);
        assert_eq!(status(&site, host, Some("null"), "POST"), 403);
        // Reading is not changing: the browser keeps a foreign page from seeing the answer.
        assert_eq!(status(&site, host, Some("https://evil.example"), "GET"), 200);
        // The echo admits every page, but still only under its own names.
        let echo = Site::new("127.0.0.1:9001".parse().unwrap(), Origins::any());
        assert_eq!(status(&echo, "127.0.0.1:9001", Some("null"), "POST"), 200);
        assert_eq!(status(&echo, "evil.example:9001", Some("null"), "POST"), 421);
    }
}
