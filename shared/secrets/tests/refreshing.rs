//! [`Refreshing`] against the emulator's Secrets Manager, with the real SDK client.
//! Run with `infra/scripts/with-moto.sh cargo test -p vbm-secrets`.

use std::time::{Duration, Instant};

use vbm_secrets::{RETRY_AFTER_FAILURE, Refreshing, SecretError, SecretSource};

const TTL: Duration = Duration::from_secs(300);

async fn client() -> aws_sdk_secretsmanager::Client {
    // Panics with how to run the tests when the emulator is not there.
    vbm_testkit::endpoint();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

/// A new secret with a unique name holding `value`; its ARN.
async fn create(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("vbm-test/{}", ulid::Ulid::new());
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create_secret")
        .arn
        .expect("an ARN")
}

async fn put(client: &aws_sdk_secretsmanager::Client, id: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .expect("put_secret_value");
}

/// The test's parse: a value must start with `v`, as a real one must be well-formed.
fn parse(text: &str) -> Result<String, String> {
    if text.starts_with('v') {
        Ok(text.to_owned())
    } else {
        Err("does not start with v".into())
    }
}

async fn load(client: &aws_sdk_secretsmanager::Client, id: &str) -> Refreshing<String> {
    Refreshing::load(SecretSource::new(client.clone(), id), TTL, parse)
        .await
        .expect("loads")
}

#[tokio::test]
async fn loads_once_and_serves_from_memory_until_the_ttl() {
    let client = client().await;
    let arn = create(&client, "v1").await;
    let secret = load(&client, &arn).await;
    let start = Instant::now();
    assert_eq!(*secret.current_at(start).await, "v1");
    let first_version = secret.version().expect("a version id");

    // Rotated in Secrets Manager: the cached value holds until the TTL has passed...
    put(&client, &arn, "v2").await;
    assert_eq!(*secret.current_at(start + TTL / 2).await, "v1");
    assert_eq!(secret.version().as_deref(), Some(first_version.as_str()));
    // ...then the next read sees the new one, with no restart.
    assert_eq!(*secret.current_at(start + TTL * 2).await, "v2");
    assert_ne!(secret.version(), Some(first_version));
    // And it is cached again.
    put(&client, &arn, "v3").await;
    assert_eq!(*secret.current_at(start + TTL * 2 + TTL / 2).await, "v2");
    assert_eq!(*secret.current_at(start + TTL * 4).await, "v3");
}

#[tokio::test]
async fn a_missing_or_unusable_secret_stops_the_start() {
    let client = client().await;
    let missing = Refreshing::load(
        SecretSource::new(client.clone(), "vbm-test/does-not-exist"),
        TTL,
        parse,
    )
    .await
    .expect_err("a missing secret is an error");
    assert!(
        matches!(&missing, SecretError::Read { id, message }
            if id == "vbm-test/does-not-exist" && message.contains("ResourceNotFound")),
        "{missing}"
    );

    let arn = create(&client, "bad-value-1234").await;
    let unusable = Refreshing::load(SecretSource::new(client.clone(), &arn), TTL, parse)
        .await
        .expect_err("an unusable value is an error");
    assert!(
        matches!(unusable, SecretError::Unusable { .. }),
        "{unusable}"
    );
    assert!(!unusable.to_string().contains("bad-value-1234"));

    // A binary secret has no string to parse.
    let name = format!("vbm-test/{}", ulid::Ulid::new());
    client
        .create_secret()
        .name(&name)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![1, 2, 3]))
        .send()
        .await
        .expect("create_secret");
    let binary = Refreshing::load(SecretSource::new(client.clone(), &name), TTL, parse)
        .await
        .expect_err("a binary secret is an error");
    assert!(matches!(binary, SecretError::NotAString { .. }), "{binary}");
}

#[tokio::test]
async fn a_failed_or_unusable_refresh_keeps_the_last_good_value() {
    let client = client().await;
    let arn = create(&client, "v1").await;
    let secret = load(&client, &arn).await;
    let start = Instant::now();

    // A bad edit: the old value stays in use, and the refresh is tried again later.
    put(&client, &arn, "oops").await;
    let later = start + TTL * 2;
    assert_eq!(*secret.current_at(later).await, "v1");
    put(&client, &arn, "v2").await;
    // Not before the retry delay...
    assert_eq!(
        *secret.current_at(later + Duration::from_secs(1)).await,
        "v1"
    );
    // ...but long before another TTL.
    assert_eq!(
        *secret
            .current_at(later + RETRY_AFTER_FAILURE + Duration::from_secs(1))
            .await,
        "v2"
    );

    // The secret gone (or Secrets Manager unreachable): still the last good value.
    client
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete_secret");
    assert_eq!(*secret.current_at(start + TTL * 10).await, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_during_a_refresh_all_get_a_value() {
    let client = client().await;
    let arn = create(&client, "v1").await;
    let secret = std::sync::Arc::new(load(&client, &arn).await);
    put(&client, &arn, "v2").await;
    let stale = Instant::now() + TTL * 2;
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let secret = secret.clone();
            tokio::spawn(async move { secret.current_at(stale).await })
        })
        .collect();
    for reader in readers {
        let value = reader.await.expect("reader");
        // The old value while one of them refreshes, the new one after.
        assert!(*value == "v1" || *value == "v2", "{value}");
    }
    assert_eq!(*secret.current_at(stale).await, "v2");
}

/// A TCP proxy to the emulator that can stall: once `stalled`, what a client sends is never
/// forwarded, so its request hangs (a Secrets Manager that accepts and never answers).
struct StallingProxy {
    url: String,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingProxy {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = vbm_testkit::endpoint()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stalled.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, flag) = (upstream.clone(), flag.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, stalled }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_refresh_that_gets_no_answer_keeps_the_cached_value() {
    let direct = client().await;
    let arn = create(&direct, "v1").await;
    let proxy = StallingProxy::start().await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&proxy.url)
        .load()
        .await;
    let through_proxy = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = load(&through_proxy, &arn).await;
    put(&direct, &arn, "v2").await;

    proxy.stall(true);
    let start = Instant::now();
    // Secrets Manager does not answer: the caller is not held past the refresh timeout...
    assert_eq!(*secret.current_at(start + TTL * 2).await, "v1");
    // ...and the next callers use the cache until the retry delay, without asking again.
    assert_eq!(*secret.current_at(start + TTL * 2).await, "v1");

    proxy.stall(false);
    assert_eq!(
        *secret
            .current_at(start + TTL * 2 + RETRY_AFTER_FAILURE + Duration::from_secs(1))
            .await,
        "v2"
    );
}
