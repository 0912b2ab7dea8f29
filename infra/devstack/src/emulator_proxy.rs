//! A TCP proxy between the functions and the emulator that can play an outage.
//!
//! moto keeps its state in memory, so really killing it would lose every table and queue, and
//! its recorder replays requests rather than restoring state (a replayed `ReceiveMessage` would
//! hide messages again). What the functions see of a crashed and restarted emulator is their
//! connections: live ones cut mid-request (the request may or may not have been applied; the
//! answer never comes) and new ones closed at once, until it is back. That is exactly what this
//! proxy does during an outage (`POST /_dev/emulator/outage {"seconds": S}`), while the state
//! behind it survives, as DynamoDB's and SQS's would.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct EmulatorProxy {
    upstream: String,
    local: SocketAddr,
    down_until: Mutex<Option<Instant>>,
    /// Bumped at the start of an outage: every live connection is cut.
    cut: watch::Sender<u64>,
    /// Connections cut or refused, for the figures.
    dropped: AtomicU64,
}

impl EmulatorProxy {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Result<std::sync::Arc<Self>, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("emulator proxy: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("emulator proxy: {e}"))?;
        let proxy = std::sync::Arc::new(Self {
            upstream,
            local,
            down_until: Mutex::new(None),
            cut: watch::channel(0).0,
            dropped: AtomicU64::new(0),
        });
        tokio::spawn(accept(listener, proxy.clone()));
        Ok(proxy)
    }

    /// The endpoint the functions use (`AWS_ENDPOINT_URL` for them).
    pub fn url(&self) -> String {
        format!("http://{}", self.local)
    }

    /// Starts an outage of `length` now (0 ends the current one).
    pub fn outage(&self, length: Duration) {
        *self.lock() = Some(Instant::now() + length);
        if !length.is_zero() {
            self.cut.send_modify(|n| *n += 1);
        }
    }

    pub fn is_down(&self) -> bool {
        self.lock().is_some_and(|until| Instant::now() < until)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.down_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `http://host:port` (the emulator's `AWS_ENDPOINT_URL`) as `host:port`.
pub fn upstream_of(endpoint: &str) -> Option<String> {
    let uri: hyper::Uri = endpoint.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let authority = uri.authority()?;
    Some(format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    ))
}

async fn accept(listener: TcpListener, proxy: std::sync::Arc<EmulatorProxy>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        // Subscribed before the check, so an outage starting right after it still cuts this one.
        let mut cut = proxy.cut.subscribe();
        if proxy.is_down() {
            // Closed at once, as a restarting server's port would be.
            proxy.dropped.fetch_add(1, Ordering::Relaxed);
            drop(client);
            continue;
        }
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(&proxy.upstream).await else {
                return;
            };
            let (mut client, mut upstream) = (client, upstream);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = cut.changed() => {
                    proxy.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_is_the_endpoint_s_host_and_port() {
        assert_eq!(
            upstream_of("http://127.0.0.1:5000").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            upstream_of("http://localhost").as_deref(),
            Some("localhost:80")
        );
        assert_eq!(
            upstream_of("https://dynamodb.us-east-1.amazonaws.com"),
            None
        );
    }
}
