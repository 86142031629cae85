//! Which requests reach the application at all: the `Host` a request names and, for requests
//! that change state, the `Origin` it comes from (SPEC §13).
//!
//! A server with no accounts trusts whoever can reach it, so it must be reachable only from
//! this machine. Listening on loopback is not enough: a web page on `evil.example` whose name
//! later resolves to 127.0.0.1 (DNS rebinding) makes the visitor's browser send requests with
//! `Host: evil.example` to this server, as the same origin as the page. Such requests are
//! answered `421 Misdirected Request`. A name can be rebound; an address cannot, so `Host`
//! values that are IP literals are accepted when the server listens on that address (or on
//! every address), and loopback names (`localhost`, `*.localhost`) always.
//!
//! Browsers send `Origin` with every cross-site POST; a state-changing request whose `Origin`
//! (or `Sec-Fetch-Site: cross-site`) says it comes from another site is refused with 403, so a
//! page elsewhere cannot push rows through the visitor's browser. Clients that are not
//! browsers send neither header and are not affected.
//!
//! Behind the reverse proxy named by `serve --trusted-proxy`, the browser's origin is the
//! proxy's public one: requests from that address are compared with its `X-Forwarded-Host`
//! and `X-Forwarded-Proto` (the same headers from anyone else are ignored).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, Code};
use crate::state::AppState;

/// The addresses a server answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPolicy {
    /// The address the server listens on; `None` in tests that drive the router directly,
    /// where only loopback names and addresses are accepted.
    pub bound: Option<SocketAddr>,
    /// Any host name is answered whatever the accounts (tests that drive the router). A
    /// server with accounts answers any host name too, decided per request from the state
    /// database ([`check`]): reaching it does not give access to it, and people use the
    /// company's own names for it.
    pub any: bool,
}

impl HostPolicy {
    /// Whether a `Host` header value (with or without a port) names this server, when
    /// `accounts` exist (any name) or not (loopback names and bound addresses only).
    pub fn allows(&self, host: &str, accounts: bool) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        if self.any || accounts {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                ip.is_loopback()
                    || self
                        .bound
                        .is_some_and(|b| b.ip() == ip || b.ip().is_unspecified())
            }
            Err(_) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        }
    }
}

/// The host part of a `Host` value: `[::1]:8080` → `::1`, `localhost:8080` → `localhost`.
/// `None` when it is not a plausible host (empty, user info, a path).
fn host_name(host: &str) -> Option<&str> {
    let host = host.trim();
    if host.is_empty() || host.contains(['@', '/', '\\', ' ']) {
        return None;
    }
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return Some(inside);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) && !name.contains(':') => Some(name),
        Some(_) if host.matches(':').count() > 1 => Some(host), // a bare IPv6 address
        Some(_) => None,
        None => Some(host),
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Middleware: 421 for a `Host` this server does not answer for, 403 for a state-changing
/// request from another site.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    // HTTP/1.1 requires Host; a request without one cannot come from a rebound name.
    if let Some(host) = headers.get(header::HOST) {
        // Whether accounts exist is asked now, not when the server started: the rule follows
        // the state database (and an account, once held, always counts).
        let accounts = match &state.auth {
            Some(auth) => match auth.accounts_held().await {
                Ok(held) => held,
                Err(err) => return err.into_response(),
            },
            None => false,
        };
        let allowed = host.to_str().is_ok_and(|h| state.hosts.allows(h, accounts));
        if !allowed {
            return AppError {
                status: StatusCode::MISDIRECTED_REQUEST,
                code: Code::MisdirectedRequest,
                message: "this server does not answer for that Host; open it by its loopback address, e.g. http://127.0.0.1:PORT/".into(),
            }
            .into_response();
        }
    }
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let trusted_proxy = state.auth.as_ref().and_then(|a| a.trusted_proxy);
    if changes_state && from_another_site(&request, trusted_proxy) {
        return AppError {
            status: StatusCode::FORBIDDEN,
            code: Code::CrossOrigin,
            message: "requests from another site may not change anything here".into(),
        }
        .into_response();
    }
    next.run(request).await
}

/// The host (and, behind the trusted proxy, the scheme) the browser addressed.
fn public_host(request: &Request, trusted_proxy: Option<IpAddr>) -> (Option<&str>, Option<&str>) {
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|h| h.to_str().ok());
    let host = text(header::HOST.as_str());
    let via_proxy = trusted_proxy.is_some_and(|proxy| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| peer.ip() == proxy)
    });
    if !via_proxy {
        return (host, None);
    }
    // A proxy that appends lists them; the one nearest the browser is the first.
    let first = |name: &str| text(name).and_then(|v| v.split(',').next()).map(str::trim);
    (
        first("x-forwarded-host").or(host),
        first("x-forwarded-proto"),
    )
}

/// Whether a browser says the request comes from a page of another origin.
fn from_another_site(request: &Request, trusted_proxy: Option<IpAddr>) -> bool {
    let headers = request.headers();
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    // `Origin: scheme://host[:port]`; "null" (sandboxed frames, file: pages) is another site.
    let Some((scheme, authority)) = origin.split_once("://") else {
        return true;
    };
    let (host, public_scheme) = public_host(request, trusted_proxy);
    if public_scheme.is_some_and(|s| !s.eq_ignore_ascii_case(scheme)) {
        return true;
    }
    match host {
        Some(host) => !authority.eq_ignore_ascii_case(host),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_a_loopback_server_answers_for() {
        let loopback = HostPolicy {
            bound: Some("127.0.0.1:8080".parse().unwrap()),
            any: false,
        };
        let everywhere = HostPolicy {
            bound: Some("0.0.0.0:8080".parse().unwrap()),
            any: false,
        };
        let cases = [
            // (Host, on loopback, on 0.0.0.0)
            ("127.0.0.1:8080", true, true),
            ("127.0.0.1", true, true),
            ("127.1.2.3:8080", true, true),
            ("localhost:8080", true, true),
            ("LOCALHOST.", true, true),
            ("tablero.localhost:8080", true, true),
            ("[::1]:8080", true, true),
            ("::1", true, true),
            ("192.168.1.20:8080", false, true),
            ("evil.example:8080", false, false),
            ("evil.example", false, false),
            ("localhost.evil.example", false, false),
            ("127.0.0.1.nip.io:8080", false, false),
            ("", false, false),
            ("user@127.0.0.1", false, false),
            ("127.0.0.1:80:80", false, false),
            ("[::1]x", false, false),
        ];
        for (host, on_loopback, on_all) in cases {
            assert_eq!(
                loopback.allows(host, false),
                on_loopback,
                "{host} on loopback"
            );
            assert_eq!(everywhere.allows(host, false), on_all, "{host} on 0.0.0.0");
            // With accounts, any plausible host name.
            let plausible = host_name(host).is_some();
            assert_eq!(
                loopback.allows(host, true),
                plausible,
                "{host} with accounts"
            );
        }
    }
}
