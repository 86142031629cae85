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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
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
                        None => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
                        Some(tls) => {
                            let handshake = tokio::time::timeout(timeouts.header_read, tls.acceptor.accept(stream)).await;
                            match handshake {
                                Ok(Ok(stream)) => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
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
