//! Accepting connections and ending them: HTTP/1.1 on hyper with the timeouts a server
//! reachable by others needs, and a shutdown that finishes the requests in flight within a
//! deadline — or at once on a second Ctrl+C.
//!
//! A client that opens a connection and sends its request head a byte at a time (slowloris),
//! or keeps an idle connection open, is cut off after [`Timeouts::header_read`]: hyper's
//! header timer runs from the moment it starts waiting for a request head, for the first
//! request as for the next one on a kept-alive connection. Bodies are read within
//! [`Timeouts::body_read`] by the handlers that read them. At most [`MAX_CONNECTIONS`] are
//! served at once; more are closed as they arrive.
//!
//! With a [`Tls`] configuration every connection is TLS (rustls): the handshake must finish
//! within the header timeout too.
//!
//! A request hyper cannot read — a malformed request line or header (400), a URI over 65,534
//! bytes (414), a head over hyper's buffer or with more than 100 headers (431) — is answered by
//! hyper itself before any handler runs, with no body; `JsonParseErrors` gives those answers
//! the API's JSON error shape as they are written.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long the server waits for clients, and for itself at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the moment a connection may send a request head until the head is complete; also
    /// how long an idle kept-alive connection stays open.
    pub header_read: Duration,
    /// To receive a whole request body (rows pushed to the store).
    pub body_read: Duration,
    /// For requests in flight to finish after a shutdown signal.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(60),
            shutdown: Duration::from_secs(10),
        }
    }
}

/// A certificate chain and its private key, ready to serve HTTPS.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Reads PEM files: the certificate chain (leaf first) and its private key.
    pub fn from_pem_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Tls, String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--tls-cert {}: no certificate in the file",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("--tls-cert/--tls-key do not make a usable pair: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// Serves `app` on `listener` until `stop` completes, then lets requests in flight finish
/// within `timeouts.shutdown`, or until `stop_now` completes (a second interrupt).
pub async fn run(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    tls: Option<Tls>,
    stop: impl Future<Output = ()>,
    stop_now: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tracing::warn!(%err, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "too many connections; closing a new one");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                // The router as this connection's service, with the peer's address available
                // to handlers as `ConnectInfo`.
                let router = app.clone();
                let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(timeouts.header_read)
                    .keep_alive(true);
                let watcher = graceful.watcher();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let outcome = match tls {
                        None => watcher.watch(http.serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service)).await,
                        Some(tls) => {
                            let handshake = tokio::time::timeout(timeouts.header_read, tls.acceptor.accept(stream)).await;
                            match handshake {
                                Ok(Ok(stream)) => watcher.watch(http.serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service)).await,
                                Ok(Err(err)) => {
                                    tracing::debug!(%peer, %err, "TLS handshake failed");
                                    Ok(())
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake took too long");
                                    Ok(())
                                }
                            }
                        }
                    };
                    if let Err(err) = outcome {
                        tracing::debug!(%peer, %err, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down; finishing requests in flight"
    );
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(timeouts.shutdown) => {
            tracing::warn!("requests still running after {} s; stopping anyway", timeouts.shutdown.as_secs());
        }
        () = stop_now => tracing::warn!("second interrupt; stopping at once"),
    }
}

/// A connection's bytes with hyper's own answers to requests it could not read rewritten into
/// the JSON error shape (`{"error": {"code", "message"}}`) every other error has.
///
/// hyper writes those answers itself (`400`, `414`, `431`), as a bare head — `content-length: 0`
/// and `date`, at most `connection: close` — and then closes the connection. Every response of
/// the application carries the headers its layers set on each (`content-security-policy`…),
/// so a bare head with one of those statuses at the end of a write is hyper's. The write is
/// reported whole to hyper once the replacement is written whole. The connection reports no
/// vectored writes, so hyper hands over its output as one buffer.
struct JsonParseErrors<IO> {
    io: IO,
    /// A replacement being written in place of the `consumed` bytes hyper handed over.
    replacing: Option<Replacement>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    consumed: usize,
}

impl<IO> JsonParseErrors<IO> {
    fn new(io: IO) -> JsonParseErrors<IO> {
        JsonParseErrors {
            io,
            replacing: None,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonParseErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() {
            match bare_error_head(buf) {
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
                // What comes before it first (the end of an earlier response).
                Some((at, _)) if at > 0 => {
                    return Pin::new(&mut this.io).poll_write(cx, &buf[..at]);
                }
                Some((_, status)) => {
                    this.replacing = Some(Replacement {
                        bytes: json_error_response(status),
                        written: 0,
                        consumed: buf.len(),
                    })
                }
            }
        }
        let Some(replacement) = this.replacing.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while replacement.written < replacement.bytes.len() {
            let rest = &replacement.bytes[replacement.written..];
            match std::task::ready!(Pin::new(&mut this.io).poll_write(cx, rest)) {
                Ok(0) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Ok(n) => replacement.written += n,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        let consumed = replacement.consumed;
        this.replacing = None;
        Poll::Ready(Ok(consumed))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Where a bare response head of one of hyper's own error statuses starts in `buf`, which it
/// ends, and its status.
fn bare_error_head(buf: &[u8]) -> Option<(usize, StatusCode)> {
    // Such a head is under a hundred bytes; only the end of a write is looked at.
    let from = buf.len().saturating_sub(256);
    let tail = &buf[from..];
    if !tail.ends_with(b"\r\n\r\n") {
        return None;
    }
    let start = tail.windows(7).rposition(|w| w == b"HTTP/1.")?;
    let head = std::str::from_utf8(&tail[start..]).ok()?;
    let mut lines = head.strip_suffix("\r\n\r\n")?.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.get(9..12)?.parse::<u16>().ok()?;
    let status = StatusCode::from_u16(status).ok()?;
    if !matches!(status.as_u16(), 400 | 414 | 431) {
        return None;
    }
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match (name.to_ascii_lowercase().as_str(), value.trim()) {
            ("content-length", "0") => empty = true,
            ("date" | "connection", _) => {}
            _ => return None,
        }
    }
    empty.then_some((from + start, status))
}

/// The whole response, in the JSON error shape, for one of hyper's own error statuses.
fn json_error_response(status: StatusCode) -> Vec<u8> {
    let (code, message) = match status.as_u16() {
        414 => (
            "uri_too_long",
            "the address is longer than this server reads (65,534 bytes)",
        ),
        431 => (
            "header_fields_too_large",
            "the request's headers are larger than this server reads, or more than 100",
        ),
        _ => (
            "bad_request",
            "the request is not well-formed HTTP/1.1 (its request line or a header)",
        ),
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_heads_are_told_from_the_applications_answers() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Tue, 06 Jan 2026 10:00:00 GMT\r\n\r\n";
        assert_eq!(bare_error_head(bare), Some((0, StatusCode::URI_TOO_LONG)));
        // After the end of an earlier answer in the same write.
        let mut both = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        let at = both.len();
        both.extend_from_slice(bare);
        assert_eq!(bare_error_head(&both), Some((at, StatusCode::URI_TOO_LONG)));
        // The application's answers carry its headers (and a body), statuses of its own.
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"{\"text\": \"HTTP/1.1 400\"}\r\n\r\n",
        ] {
            assert_eq!(bare_error_head(other), None, "{}", String::from_utf8_lossy(other));
        }
        let json = String::from_utf8(json_error_response(StatusCode::URI_TOO_LONG)).unwrap();
        let (head, body) = json.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["error"]["code"], "uri_too_long");
    }
}
