//! The real `vbmctl` binary against a fresh table on the local emulator (run under
//! `infra/scripts/with-moto.sh`, as `make test` does). What the CLI wrote is checked through the
//! store the functions use.

use std::process::{Command, Output};

use serde_json::{Value, json};
use session_rules::{Limits, TemplateId};
use vbm_store::{ApiKey, Business, BusinessId, Retention, Store};
use vbm_testkit::TestEnv;

pub(crate) struct Ctl {
    env: TestEnv,
    store: Store,
}

impl Ctl {
    pub(crate) async fn fresh() -> Self {
        let env = TestEnv::fresh();
        let store = Store::new(
            env.dynamodb().await,
            &env.table,
            Limits::default(),
            Retention::default(),
        );
        Self { env, store }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vbmctl"));
        command
            .args(args)
            .env("VBM_TABLE", &self.env.table)
            .env_remove("VBM_LOCAL");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("vbmctl runs")
    }

    /// Runs a command that must succeed; its JSON output.
    pub(crate) fn ok(&self, args: &[&str]) -> Value {
        parse_ok(self.run(args), args)
    }

    /// Runs a command that must be refused with `code`; its one-line message.
    pub(crate) fn refused(&self, args: &[&str], code: i32, needle: &str) -> String {
        refused(self.run(args), args, code, needle)
    }

    pub(crate) async fn business(&self, id: &str) -> Option<Business> {
        self.store
            .businesses()
            .get_business(&BusinessId::parse(id).unwrap())
            .await
            .unwrap()
    }

    /// The store the functions use, on this test's table.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a command that must succeed; what it printed, as it is (not JSON: CSV).
    pub(crate) fn text(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "vbmctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    async fn by_key(&self, key: &str) -> Option<Business> {
        let key = ApiKey::parse(key).expect("an API key of the right shape");
        self.store
            .businesses()
            .business_by_api_key(&key)
            .await
            .unwrap()
    }
}

fn parse_ok(out: Output, args: &[&str]) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vbmctl {args:?} failed ({:?}): {stderr}",
        out.status.code()
    );
    assert!(
        stderr.is_empty(),
        "vbmctl {args:?} wrote to stderr: {stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "vbmctl {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn refused(out: Output, args: &[&str], code: i32, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "vbmctl {args:?}: exit code; stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "vbmctl {args:?} printed on stdout");
    let line = stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no message: {stderr:?}"));
    assert!(
        !line.contains('\n'),
        "vbmctl {args:?}: not one line: {stderr}"
    );
    assert!(line.starts_with("error: "), "{line}");
    assert!(
        line.contains(needle),
        "vbmctl {args:?}: {line:?} does not say {needle:?}"
    );
    line.to_owned()
}

fn is_api_key(key: &str) -> bool {
    key.strip_prefix("vbm_").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[tokio::test]
async fn create_prints_the_key_once_and_refuses_a_taken_id_or_service_id() {
    let ctl = Ctl::fresh().await;
    let created = ctl.ok(&[
        "business",
        "create",
        "acme",
        "--service-id",
        "1001",
        "--callback-url",
        "https://hooks.example.com/vbm",
        "--allow-cidr",
        "203.0.113.0/24",
        "--allow-cidr",
        "2001:db8::/32",
        "--allow-cidr",
        "198.51.100.7",
    ]);
    let fields: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "business_id",
        "service_id",
        "api_key",
        "callback_secret",
        "callback_url",
        "allow_cidrs",
        "services",
    ];
    expected.sort_unstable();
    assert_eq!(fields, expected, "{created}");
    assert_eq!(created["business_id"], "acme");
    assert_eq!(created["service_id"], 1001);
    assert_eq!(created["callback_url"], "https://hooks.example.com/vbm");
    assert_eq!(
        created["allow_cidrs"],
        json!(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"])
    );
    let key = created["api_key"].as_str().unwrap();
    assert!(is_api_key(key), "{key}");
    let secret = created["callback_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );

    // The functions find the business by that key.
    let found = ctl.by_key(key).await.expect("the key finds its business");
    assert_eq!(found.id.as_str(), "acme");
    assert_eq!(found.service_id(), 1001);
    assert_eq!(found.callback_secret, secret);
    assert_eq!(
        ctl.store
            .businesses()
            .business_by_service_id(1001)
            .await
            .unwrap()
            .map(|b| b.id),
        Some(found.id.clone())
    );

    // The same id again, even with another service id: refused, the first one untouched.
    ctl.refused(
        &["business", "create", "acme", "--service-id", "1002"],
        2,
        "business acme already exists",
    );
    // Another id with a service id already in use: refused, nothing of it written.
    ctl.refused(
        &["business", "create", "globex", "--service-id", "1001"],
        2,
        "service id 1001 already belongs to another business",
    );
    assert_eq!(ctl.business("globex").await, None);
    assert_eq!(ctl.business("acme").await, Some(found));
    assert!(
        ctl.store
            .businesses()
            .business_by_service_id(1002)
            .await
            .unwrap()
            .is_none()
    );

    // A business without callback URL or allowlist.
    let plain = ctl.ok(&["business", "create", "globex", "--service-id", "1002"]);
    assert_eq!(plain["callback_url"], Value::Null);
    assert_eq!(plain["allow_cidrs"], json!([]));
    assert_ne!(plain["api_key"], created["api_key"]);
}

#[tokio::test]
async fn rotate_replaces_the_key() {
    let ctl = Ctl::fresh().await;
    let created = ctl.ok(&["business", "create", "acme", "--service-id", "7"]);
    let old = created["api_key"].as_str().unwrap();

    let rotated = ctl.ok(&["key", "rotate", "acme"]);
    assert_eq!(
        rotated.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["api_key", "business_id", "key_id"]
    );
    assert_eq!(rotated["business_id"], "acme");
    let new = rotated["api_key"].as_str().unwrap();
    assert!(is_api_key(new), "{new}");
    assert_ne!(new, old);
    assert_eq!(ctl.by_key(old).await, None, "the old key stopped working");
    assert_eq!(
        ctl.by_key(new).await.map(|b| b.id.as_str().to_owned()),
        Some("acme".into())
    );

    // Twice more: only the latest works.
    let third = ctl.ok(&["key", "rotate", "acme"]);
    let third = third["api_key"].as_str().unwrap();
    assert_eq!(ctl.by_key(new).await, None);
    assert!(ctl.by_key(third).await.is_some());

    ctl.refused(&["key", "rotate", "nobody"], 2, "no business nobody");
    ctl.refused(&["key", "rotate", "No Body"], 2, "invalid business id");
}

#[tokio::test]
async fn update_sets_and_clears_callback_url_and_allowlist_and_show_reports_them() {
    let ctl = Ctl::fresh().await;
    let created = ctl.ok(&["business", "create", "acme", "--service-id", "42"]);
    let key = created["api_key"].as_str().unwrap();
    let secret = created["callback_secret"].as_str().unwrap();

    let updated = ctl.ok(&[
        "business",
        "update",
        "acme",
        "--callback-url",
        "https://hooks.example.com/a?x=1",
        "--allow-cidr",
        "10.0.0.0/8",
        "--allow-cidr",
        "10.0.0.0/8",
        "--allow-cidr",
        "2001:db8::/48",
    ]);
    let expected = json!({
        "business_id": "acme",
        "service_id": 42,
        "callback_url": "https://hooks.example.com/a?x=1",
        "allow_cidrs": ["10.0.0.0/8", "2001:db8::/48"],
        "services": [{"service_id": 42, "kind": "two_way"}],
    });
    assert_eq!(updated, expected, "no secrets in update's answer");
    assert_eq!(ctl.ok(&["business", "show", "acme"]), expected);
    let mut with_secret = expected.clone();
    with_secret["callback_secret"] = json!(secret);
    assert_eq!(
        ctl.ok(&["business", "show", "acme", "--show-secret"]),
        with_secret
    );

    // The functions see it, and the key still works.
    let business = ctl.by_key(key).await.unwrap();
    assert_eq!(
        business.callback_url.as_deref(),
        Some("https://hooks.example.com/a?x=1")
    );
    assert!(business.allows(Some("10.1.2.3".parse().unwrap())));
    assert!(!business.allows(Some("192.0.2.1".parse().unwrap())));

    // Changing one leaves the other.
    let updated = ctl.ok(&["business", "update", "acme", "--no-allowlist"]);
    assert_eq!(updated["allow_cidrs"], json!([]));
    assert_eq!(updated["callback_url"], "https://hooks.example.com/a?x=1");
    let updated = ctl.ok(&["business", "update", "acme", "--no-callback-url"]);
    assert_eq!(updated["callback_url"], Value::Null);
    let updated = ctl.ok(&["business", "update", "acme", "--allow-cidr", "192.0.2.1"]);
    assert_eq!(updated["allow_cidrs"], json!(["192.0.2.1/32"]));
    assert_eq!(updated["callback_url"], Value::Null);
    assert_eq!(ctl.ok(&["business", "show", "acme"]), updated);
    let business = ctl.business("acme").await.unwrap();
    assert_eq!(business.callback_url, None);
    assert_eq!(business.callback_secret, secret, "the secret is kept");

    // Local mode, by flag or by environment.
    let local = ctl.ok(&[
        "--local",
        "business",
        "update",
        "acme",
        "--callback-url",
        "http://127.0.0.1:9000/events",
    ]);
    assert_eq!(local["callback_url"], "http://127.0.0.1:9000/events");
    let out = ctl
        .command(&[
            "business",
            "update",
            "acme",
            "--callback-url",
            "http://localhost:9001/events",
        ])
        .env("VBM_LOCAL", "1")
        .output()
        .unwrap();
    assert_eq!(
        parse_ok(out, &["VBM_LOCAL=1 business update"])["callback_url"],
        "http://localhost:9001/events"
    );

    ctl.refused(&["business", "show", "nobody"], 2, "no business nobody");
    ctl.refused(
        &["business", "update", "nobody", "--no-allowlist"],
        2,
        "no business nobody",
    );
    assert_eq!(ctl.business("nobody").await, None, "update creates nothing");
}

#[tokio::test]
async fn bad_input_exits_2_and_changes_nothing() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&[
        "business",
        "create",
        "acme",
        "--service-id",
        "5",
        "--callback-url",
        "https://hooks.example.com/ok",
        "--allow-cidr",
        "10.0.0.0/8",
    ]);
    let before = ctl.business("acme").await.unwrap();

    let refusals: &[(&[&str], &str)] = &[
        // Plain http outside local mode.
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "http://hooks.example.com/x",
            ],
            "must be an https:// URL",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "http://127.0.0.1:9000/x",
            ],
            "only in local mode",
        ),
        // Header injection.
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://hooks.example.com/\r\nX-Evil: 1",
            ],
            "control characters",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://hooks.example.com/a b",
            ],
            "spaces",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://user:pw@hooks.example.com/",
            ],
            "user name or password",
        ),
        (
            &["business", "update", "acme", "--callback-url", "https:///x"],
            "host",
        ),
        (
            &["business", "update", "acme", "--callback-url", ""],
            "https://",
        ),
        // Internal addresses, however spelt (notify's HTTP client reads them all as one).
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://169.254.169.254/latest/",
            ],
            "link-local",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://[::ffff:127.0.0.1]/",
            ],
            "loopback",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://2130706433:22/",
            ],
            "loopback",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://0x7f.1/",
            ],
            "loopback",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://10.0.0.1/",
            ],
            "private",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://[fd00:ec2::254]/",
            ],
            "unique-local",
        ),
        (
            &[
                "business",
                "create",
                "evil",
                "--service-id",
                "6",
                "--callback-url",
                "https://0177.0.0.1/",
            ],
            "loopback",
        ),
        (
            &[
                "--local",
                "business",
                "update",
                "acme",
                "--callback-url",
                "https://10.0.0.1/",
            ],
            "private",
        ),
        // Local mode is for this machine only.
        (
            &[
                "--local",
                "business",
                "update",
                "acme",
                "--callback-url",
                "http://hooks.example.com/",
            ],
            "local mode also allows",
        ),
        (
            &[
                "--local",
                "business",
                "update",
                "acme",
                "--callback-url",
                "http://localhost.evil.example/",
            ],
            "must be an https:// URL",
        ),
        (
            &[
                "--local",
                "business",
                "update",
                "acme",
                "--callback-url",
                "http://127.0.0.1@evil.example/",
            ],
            "must be an https:// URL",
        ),
        // CIDRs.
        (
            &["business", "update", "acme", "--allow-cidr", "10.0.0.0/33"],
            "not a CIDR",
        ),
        (
            &["business", "update", "acme", "--allow-cidr", "example.com"],
            "not a CIDR",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--allow-cidr",
                "192.0.2.0/24",
                "--allow-cidr",
                "10.0.0/8",
            ],
            "not a CIDR",
        ),
        // Ids.
        (
            &["business", "update", "Acme", "--no-allowlist"],
            "invalid business id",
        ),
        (
            &["business", "update", "ac#me", "--no-allowlist"],
            "invalid business id",
        ),
        (&["business", "show", "acme/../x"], "invalid business id"),
        // Contradictions and no-ops.
        (&["business", "update", "acme"], "required arguments"),
        (
            &[
                "business",
                "update",
                "acme",
                "--no-allowlist",
                "--allow-cidr",
                "10.0.0.0/8",
            ],
            "cannot be used with",
        ),
        (
            &[
                "business",
                "update",
                "acme",
                "--no-callback-url",
                "--callback-url",
                "https://a.example/",
            ],
            "cannot be used with",
        ),
        // Creation: each refused before anything is written.
        (
            &["business", "create", "new-one", "--service-id", "0"],
            "positive integer",
        ),
        (
            &["business", "create", "new-one", "--service-id", "-3"],
            "positive integer",
        ),
        (
            &["business", "create", "new-one", "--service-id", "12ab"],
            "positive integer",
        ),
        (&["business", "create", "new-one"], "--service-id"),
        (
            &["business", "create", "New One", "--service-id", "6"],
            "invalid business id",
        ),
        (
            &[
                "business",
                "create",
                "new-one",
                "--service-id",
                "6",
                "--callback-url",
                "http://example.com/",
            ],
            "https://",
        ),
        (
            &[
                "business",
                "create",
                "new-one",
                "--service-id",
                "6",
                "--allow-cidr",
                "300.0.0.0/8",
            ],
            "not a CIDR",
        ),
        (
            &["--table", "a b", "business", "show", "acme"],
            "table name",
        ),
        (&["business", "frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in refusals {
        ctl.refused(args, 2, needle);
    }
    assert_eq!(ctl.business("acme").await, Some(before), "acme unchanged");
    assert_eq!(ctl.business("new-one").await, None, "nothing created");
    assert!(
        ctl.store
            .businesses()
            .business_by_service_id(6)
            .await
            .unwrap()
            .is_none()
    );

    // Local mode from the environment is a boolean, not any string.
    let out = ctl
        .command(&["business", "show", "acme"])
        .env("VBM_LOCAL", "sometimes")
        .output()
        .unwrap();
    refused(out, &["VBM_LOCAL=sometimes"], 2, "--local");
}

#[tokio::test]
async fn infrastructure_failures_exit_1() {
    let ctl = Ctl::fresh().await;
    let line = ctl.refused(
        &["--table", "no-such-table", "business", "show", "acme"],
        1,
        "DynamoDB unavailable",
    );
    // DynamoDB's own error code and message, from the SDK's error metadata.
    assert!(line.contains("ResourceNotFoundException: "), "{line}");
    assert!(
        !line.contains('{') && !line.contains("ServiceError"),
        "no debug dump: {line}"
    );
}

#[tokio::test]
async fn templates_put_approve_list_round_trip() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "77"]);
    ctl.ok(&["business", "create", "other", "--service-id", "78"]);

    let put = ctl.ok(&[
        "template",
        "put",
        "acme",
        "order.shipped",
        "--lang",
        "en",
        "--category",
        "transactional",
        "--text",
        "Hello {{name}}, order {{ order }} ships {{name}}-side",
    ]);
    let shipped = json!({
        "business_id": "acme",
        "template_id": "order.shipped",
        "lang": "en",
        "category": "transactional",
        "reach": "all_devices",
        "approved": false,
        "state": "pending_review",
        "text": "Hello {{name}}, order {{ order }} ships {{name}}-side",
        "placeholders": ["name", "order"],
        "origin": "operator",
        "name": null,
        "viber_template_id": null,
        "rejection_reason": null,
    });
    assert_eq!(put, shipped);
    let put = ctl.ok(&[
        "template",
        "put",
        "acme",
        "promo-1",
        "--lang",
        "UK",
        "--category",
        "transactional",
        "--reach",
        "smartphones",
        "--text",
        "Знижка для вас!",
        "--approved",
    ]);
    assert_eq!(put["reach"], "smartphones");
    assert_eq!(put["approved"], true);
    assert_eq!(put["lang"], "uk");
    assert_eq!(put["placeholders"], json!([]));

    let list = ctl.ok(&["template", "list", "acme"]);
    assert_eq!(list["business_id"], "acme");
    assert_eq!(list["templates"], json!([shipped, put]), "sorted by id");

    let mut approved = shipped.clone();
    approved["approved"] = json!(true);
    approved["state"] = json!("approved");
    // An operator's template is registered under Viber's id.
    approved["viber_template_id"] = json!("order.shipped");
    let approve = ["template", "approve", "acme", "order.shipped"];
    let with_events = |args: &[&str]| {
        ctl.command(args)
            .env("EVENTS_QUEUE_URL", &ctl.env.events_queue_url)
            .output()
            .expect("vbmctl runs")
    };
    assert_eq!(parse_ok(with_events(&approve), &approve), approved);
    // Repeated (its event may not have gone out): the same answer, the same event again.
    assert_eq!(parse_ok(with_events(&approve), &approve), approved);
    let sqs = ctl.env.sqs().await;
    let queued: Vec<vbm_events::Event> = vbm_testkit::drain(&sqs, &ctl.env.events_queue_url)
        .await
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0].event_id, queued[1].event_id);
    assert_eq!(queued[0].kind, vbm_events::EventKind::TemplateApproved);
    assert_eq!(queued[0].data["viber_template_id"], "order.shipped");
    // An approved template cannot be rejected (templates are never edited).
    let reject = [
        "template",
        "reject",
        "acme",
        "order.shipped",
        "--reason",
        "promo",
    ];
    let out = with_events(&reject);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is approved"));
    // Without the events queue, nothing is decided.
    ctl.refused(&approve, 2, "--events-queue-url");
    assert_eq!(
        ctl.ok(&["template", "list", "acme"])["templates"],
        json!([approved, put])
    );
    let stored = ctl
        .store
        .templates()
        .get_template(
            &BusinessId::parse("acme").unwrap(),
            &TemplateId::parse("order.shipped").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_approved());
    assert_eq!(stored.placeholders(), ["name", "order"]);

    // Another business's list is its own.
    assert_eq!(
        ctl.ok(&["template", "list", "other"])["templates"],
        json!([])
    );

    let put_args = |business: &'static str,
                    id: &'static str,
                    lang: &'static str,
                    category: &'static str,
                    text: &'static str| {
        vec![
            "template",
            "put",
            business,
            id,
            "--lang",
            lang,
            "--category",
            category,
            "--text",
            text,
        ]
    };
    let refusals: Vec<(Vec<&str>, &str)> = vec![
        (
            put_args("acme", "t2", "en", "transactional", "Hello {{name"),
            "without its closing",
        ),
        (
            put_args("acme", "t2", "en", "transactional", "Hello {{first name}}"),
            "placeholder",
        ),
        (
            put_args("acme", "t2", "en", "transactional", "Hello {{}}"),
            "placeholder",
        ),
        (put_args("acme", "t2", "en", "transactional", "   "), "text"),
        (
            put_args("acme", "t2", "eng", "transactional", "Hi"),
            "two-letter",
        ),
        (
            put_args("acme", "t2", "en", "marketing", "Hi"),
            "must be transactional",
        ),
        (
            // No source has a promotional template: refused, saying where such content goes.
            put_args("acme", "t2", "en", "promotional", "Hi"),
            "no promotional templates",
        ),
        (
            put_args("acme", "t 2", "en", "transactional", "Hi"),
            "letters, digits",
        ),
        (
            put_args("nobody", "t2", "en", "transactional", "Hi"),
            "no business nobody",
        ),
        (
            put_args("No-Body", "t2", "en", "transactional", "Hi"),
            "invalid business id",
        ),
        (
            vec![
                "template",
                "approve",
                "acme",
                "missing",
                "--events-queue-url",
                "http://127.0.0.1:9/unused",
            ],
            "no template missing",
        ),
        (
            vec![
                "template",
                "approve",
                "nobody",
                "order.shipped",
                "--events-queue-url",
                "http://127.0.0.1:9/unused",
            ],
            "no business nobody",
        ),
        (vec!["template", "list", "nobody"], "no business nobody"),
    ];
    for (args, needle) in &refusals {
        ctl.refused(args, 2, needle);
    }
    assert_eq!(
        ctl.ok(&["template", "list", "acme"])["templates"],
        json!([approved, put]),
        "nothing written by the refusals"
    );
    let nobody = ctl
        .store
        .templates()
        .list_templates(&BusinessId::parse("nobody").unwrap())
        .await
        .unwrap();
    assert!(nobody.is_empty());

    // Replacing a template withdraws its approval unless it is put as approved.
    let replaced = ctl.ok(&put_args(
        "acme",
        "order.shipped",
        "en",
        "transactional",
        "Hi {{name}}",
    ));
    assert_eq!(replaced["approved"], false);
    assert_eq!(replaced["placeholders"], json!(["name"]));
}

fn unix_now() -> i64 {
    vbm_store::now_secs()
}

#[tokio::test]
async fn several_keys_revoke_and_rotation_with_overlap() {
    let ctl = Ctl::fresh().await;
    let created = ctl.ok(&["business", "create", "acme", "--service-id", "9"]);
    let first = created["api_key"].as_str().unwrap().to_owned();
    let second = ctl.ok(&["key", "create", "acme"]);
    let second_key = second["api_key"].as_str().unwrap().to_owned();
    let second_id = second["key_id"].as_str().unwrap().to_owned();
    assert!(is_api_key(&second_key) && second_key != first);
    // Both work at once.
    assert!(ctl.by_key(&first).await.is_some());
    assert!(ctl.by_key(&second_key).await.is_some());

    let listed = ctl.ok(&["key", "list", "acme"]);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    assert!(keys.iter().all(|k| k["state"] == "active"), "{listed}");
    assert!(
        !listed.to_string().contains(&first[4..]),
        "never the key itself"
    );
    assert!(!listed.to_string().contains(&second_key[4..]));

    // Revoke the second: it stops at once, the first goes on.
    let revoked = ctl.ok(&["key", "revoke", "acme", &second_id]);
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(ctl.by_key(&second_key).await, None);
    assert!(ctl.by_key(&first).await.is_some());
    ctl.refused(&["key", "revoke", "acme", &second_id], 2, "already revoked");
    ctl.refused(
        &["key", "revoke", "acme", "key_0000000000000000"],
        2,
        "has no key",
    );
    ctl.refused(&["key", "revoke", "acme", "second"], 2, "invalid key id");

    // Rotate with a day's overlap: old and new both work, the old one is "expiring".
    let before = unix_now();
    let rotated = ctl.ok(&["key", "rotate", "acme", "--overlap", "24h"]);
    let third = rotated["api_key"].as_str().unwrap().to_owned();
    assert!(
        ctl.by_key(&first).await.is_some(),
        "the old key works during the overlap"
    );
    assert!(ctl.by_key(&third).await.is_some());
    let listed = ctl.ok(&["key", "list", "acme"]);
    let first_view = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == vbm_store::key_id(ApiKey::parse(&first).unwrap().hash().as_str()))
        .cloned()
        .expect("the first key is listed");
    assert_eq!(first_view["state"], "expiring", "{listed}");
    let until = first_view["valid_until"].as_i64().unwrap();
    assert!(
        until >= before + 86_400 && until <= unix_now() + 86_400,
        "{until}"
    );
    // Past the overlap (the store asked about a later time), the old key is refused.
    let store_at = |key: &str, at: i64| {
        let key = ApiKey::parse(key).unwrap();
        let store = &ctl.store;
        async move {
            store
                .businesses()
                .business_by_api_key_at(&key, at)
                .await
                .unwrap()
        }
    };
    assert!(store_at(&first, until - 1).await.is_some());
    assert_eq!(store_at(&first, until).await, None);
    assert!(
        store_at(&third, until + 1).await.is_some(),
        "the new key has no end"
    );

    // A revocation set ahead works the same way; revoking at once ends the overlap early.
    let first_id = first_view["key_id"].as_str().unwrap();
    let ahead = ctl.ok(&["key", "revoke", "acme", first_id, "--in", "1h"]);
    assert_eq!(ahead["state"], "expiring");
    assert!(
        ahead["valid_until"].as_i64().unwrap() < until,
        "an earlier end wins"
    );
    ctl.ok(&["key", "revoke", "acme", first_id]);
    assert_eq!(ctl.by_key(&first).await, None);
    assert!(ctl.by_key(&third).await.is_some());
    ctl.refused(
        &["key", "rotate", "acme", "--overlap", "2y"],
        2,
        "invalid duration",
    );
    ctl.refused(
        &[
            "key",
            "rotate",
            "acme",
            "--overlap",
            "1h",
            "--until",
            "1767225600",
        ],
        2,
        "cannot be used",
    );
}

#[tokio::test]
async fn businesses_are_listed_disabled_and_enabled() {
    let ctl = Ctl::fresh().await;
    let a = ctl.ok(&["business", "create", "beta", "--service-id", "21"]);
    ctl.ok(&["business", "create", "alpha", "--service-id", "22"]);
    let listed = ctl.ok(&["business", "list"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["business_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert!(!listed.to_string().contains("callback_secret"));

    let key = a["api_key"].as_str().unwrap();
    assert!(ctl.by_key(key).await.is_some());
    let disabled = ctl.ok(&["business", "disable", "beta"]);
    assert_eq!(disabled["disabled"], true);
    assert_eq!(
        ctl.by_key(key).await,
        None,
        "a disabled business's keys are refused"
    );
    assert_eq!(ctl.ok(&["business", "show", "beta"])["disabled"], true);
    let enabled = ctl.ok(&["business", "enable", "beta"]);
    assert!(enabled.get("disabled").is_none(), "{enabled}");
    assert!(
        ctl.by_key(key).await.is_some(),
        "enabled again, the same key works"
    );
    ctl.refused(&["business", "disable", "nobody"], 2, "no business nobody");
}

/// Free-form transactional content (Viber's legacy types) is an explicit opt-in per business,
/// off by default, stored on the business and shown while on.
#[tokio::test]
async fn legacy_transactional_is_an_opt_in_per_business() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "41"]);
    assert!(
        ctl.ok(&["business", "show", "acme"])
            .get("legacy_transactional")
            .is_none()
    );
    assert!(!ctl.business("acme").await.unwrap().legacy_transactional);
    let on = ctl.ok(&["business", "legacy-transactional", "acme", "--on"]);
    assert_eq!(on["legacy_transactional"], true);
    assert!(ctl.business("acme").await.unwrap().legacy_transactional);
    let off = ctl.ok(&["business", "legacy-transactional", "acme", "--off"]);
    assert!(off.get("legacy_transactional").is_none(), "{off}");
    assert!(!ctl.business("acme").await.unwrap().legacy_transactional);
    ctl.refused(
        &["business", "legacy-transactional", "nobody", "--on"],
        2,
        "no business nobody",
    );
}

#[tokio::test]
async fn the_callback_secret_rotates_with_an_overlap() {
    let ctl = Ctl::fresh().await;
    let created = ctl.ok(&["business", "create", "acme", "--service-id", "31"]);
    let first = created["callback_secret"].as_str().unwrap().to_owned();

    let rotated = ctl.ok(&["business", "rotate-secret", "acme", "--overlap", "1h"]);
    let second = rotated["callback_secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != first, "{rotated}");
    let until = rotated["previous_secret_valid_until"].as_i64().unwrap();
    let business = ctl.business("acme").await.unwrap();
    // Events are signed with both during the overlap, the new one first; then with the new only.
    let now = unix_now();
    assert_eq!(
        business.signing_secrets(now),
        [second.as_bytes(), first.as_bytes()]
    );
    assert_eq!(business.signing_secrets(until), [second.as_bytes()]);

    // Without an overlap the old secret stops at once (and the earlier one is forgotten).
    let third = ctl.ok(&["business", "rotate-secret", "acme"]);
    assert!(third["previous_secret_valid_until"].is_null(), "{third}");
    let business = ctl.business("acme").await.unwrap();
    assert_eq!(
        business.signing_secrets(unix_now()),
        [third["callback_secret"].as_str().unwrap().as_bytes()]
    );
    ctl.refused(
        &["business", "rotate-secret", "nobody"],
        2,
        "no business nobody",
    );
}

/// `quarantine list` shows a callback kept aside; `quarantine replay` runs it through the
/// inbound handler's code: still aside while its service id is unknown, recorded (session
/// opened, event queued, entry gone) once the business exists.
#[tokio::test]
async fn quarantined_callbacks_are_listed_and_replayed_once_the_cause_is_fixed() {
    let ctl = Ctl::fresh().await;
    let body = r#"{"service_id":777,"phone_number":"380501234567","message":{"text":"Hi"}}"#;
    let received = session_rules::Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let id = ctl
        .store
        .quarantine()
        .quarantine(
            "POST /viber/inbound",
            body.as_bytes(),
            vbm_store::QuarantineReason::UnknownService,
            "no business has Viber service id 777",
            received,
        )
        .await
        .unwrap();
    let listed = ctl.ok(&["quarantine", "list"]);
    let entries = listed["quarantined"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["id"], id.as_str());
    assert_eq!(entries[0]["route"], "POST /viber/inbound");
    assert_eq!(entries[0]["reason"], "unknown_service");
    assert_eq!(entries[0]["body"], body);
    assert_eq!(entries[0]["body_bytes"], body.len());

    let replay = |args: &[&str]| {
        let mut command = ctl.command(&[&["quarantine", "replay"], args].concat());
        command.env("EVENTS_QUEUE_URL", &ctl.env.events_queue_url);
        parse_ok(command.output().expect("vbmctl runs"), args)
    };
    let report = replay(&["--all"]);
    assert_eq!(report["replayed"], json!([]), "{report}");
    assert_eq!(report["still_quarantined"][0]["id"], id.as_str());
    assert_eq!(report["still_quarantined"][0]["reason"], "unknown_service");
    ctl.refused(
        &[
            "quarantine",
            "replay",
            "--events-queue-url",
            "http://x",
            "0000",
        ],
        2,
        "no callback 0000",
    );

    ctl.ok(&["business", "create", "late", "--service-id", "777"]);
    let report = replay(&[&id]);
    assert_eq!(
        report,
        json!({"replayed": [{"id": id, "outcome": "recorded"}], "still_quarantined": []})
    );
    assert_eq!(ctl.ok(&["quarantine", "list"]), json!({"quarantined": []}));
    let conversation = ctl
        .store
        .conversations()
        .get_conversation(
            &BusinessId::parse("late").unwrap(),
            &session_rules::PhoneNumber::parse("+380501234567").unwrap(),
        )
        .await
        .unwrap()
        .expect("the replayed user message opened a session");
    assert_eq!(
        conversation.session.map(|s| s.started_at),
        Some(received),
        "dated when it first arrived"
    );
    let sqs = ctl.env.sqs().await;
    let queued = sqs
        .receive_message()
        .queue_url(&ctl.env.events_queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let events: Vec<_> = queued
        .messages()
        .iter()
        .map(|m| vbm_events::EventsQueue::parse(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["text"], "Hi");
}

/// Viber's pace: shown with its default, set, refused out of range.
#[tokio::test]
async fn a_business_pace_is_shown_set_and_bounded() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "paced", "--service-id", "31"]);
    let shown = ctl.ok(&["business", "pace", "paced"]);
    assert_eq!(shown["messages_per_second"], 20);
    let set = ctl.ok(&["business", "pace", "paced", "--rate", "75"]);
    assert_eq!(set["messages_per_second"], 75);
    let id = BusinessId::parse("paced").unwrap();
    assert_eq!(ctl.store.pace().pace_rate(&id).await.unwrap(), 75);
    ctl.refused(&["business", "pace", "paced", "--rate", "0"], 2, "0");
    ctl.refused(&["business", "pace", "paced", "--rate", "1001"], 2, "1001");
    assert_eq!(ctl.store.pace().pace_rate(&id).await.unwrap(), 75);
}

/// Viber's pace per service id: a service sends at its own rate when it has one, else at the
/// business's (a business paced before services had kinds keeps its rate on every service).
#[tokio::test]
async fn a_service_has_its_own_pace_or_the_business_pace() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "paced", "--service-id", "31"]);
    ctl.ok(&["business", "pace", "paced", "--rate", "40"]);
    ctl.ok(&[
        "business", "service", "add", "paced", "32", "--kind", "session",
    ]);
    let shown = ctl.ok(&["business", "pace", "paced"]);
    assert_eq!(shown["messages_per_second"], 40);
    assert_eq!(shown["services"][0]["service_id"], 31);
    assert_eq!(shown["services"][1]["messages_per_second"], 40);
    assert_eq!(shown["services"][1]["own_rate"], false);

    let set = ctl.ok(&[
        "business",
        "pace",
        "paced",
        "--service-id",
        "32",
        "--rate",
        "5",
    ]);
    assert_eq!(set["messages_per_second"], 40, "the business's rate stays");
    assert_eq!(set["services"][0]["messages_per_second"], 40);
    assert_eq!(set["services"][1]["messages_per_second"], 5);
    assert_eq!(set["services"][1]["own_rate"], true);
    let id = BusinessId::parse("paced").unwrap();
    let rates = ctl.store.pace().pace_rates(&id).await.unwrap();
    assert_eq!((rates.of(31), rates.of(32)), (40, 5));

    // The business's rate moves every service without its own.
    ctl.ok(&["business", "pace", "paced", "--rate", "60"]);
    let rates = ctl.store.pace().pace_rates(&id).await.unwrap();
    assert_eq!((rates.of(31), rates.of(32)), (60, 5));

    let unset = ctl.ok(&["business", "pace", "paced", "--service-id", "32", "--unset"]);
    assert_eq!(unset["services"][1]["messages_per_second"], 60);
    assert_eq!(unset["services"][1]["own_rate"], false);

    ctl.refused(
        &[
            "business",
            "pace",
            "paced",
            "--service-id",
            "99",
            "--rate",
            "5",
        ],
        2,
        "no service id 99",
    );
    ctl.refused(&["business", "pace", "paced", "--unset"], 2, "--service-id");
    let rates = ctl.store.pace().pace_rates(&id).await.unwrap();
    assert!(!rates.services.contains_key(&99));
}

/// SMS failover: the business default is set whole, shown, refused when wrong
/// (nothing written) and cleared.
#[tokio::test]
async fn failover_sets_shows_refuses_and_clears_the_business_default() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "77"]);
    ctl.ok(&["business", "sms", "sender", "add", "acme", "Acme"]);
    ctl.ok(&[
        "template",
        "put",
        "acme",
        "welcome",
        "--lang",
        "en",
        "--category",
        "transactional",
        "--text",
        "Hello {{name}}",
        "--approved",
    ]);
    let set = ctl.ok(&[
        "business",
        "failover",
        "acme",
        "--sender-id",
        "Acme",
        "--no-expired",
        "--deadline",
        "120",
        "--template-text",
        "welcome=Hi {{name}}, by SMS",
    ]);
    assert_eq!(set["failover"]["sender_id"], "Acme");
    assert_eq!(set["failover"]["triggers"]["expired"], false);
    assert_eq!(set["failover"]["triggers"]["not_viber_user"], true);
    assert_eq!(set["failover"]["triggers"]["deadline_seconds"], 120);
    assert_eq!(
        set["failover"]["template_texts"]["welcome"],
        "Hi {{name}}, by SMS"
    );
    let business = ctl.business("acme").await.unwrap();
    let policy = business.failover.expect("stored on the business");
    assert_eq!(policy.triggers.deadline_seconds, Some(120));
    assert_eq!(
        ctl.ok(&["business", "failover", "acme", "--show"])["failover"],
        set["failover"]
    );

    for (args, needle) in [
        (vec!["--deadline", "901"], "--deadline"),
        (vec!["--sender-id", "Way-too-long-id"], "sender_id"),
        (
            vec!["--template-text", "welcome=Hi {{nom}}"],
            "not a placeholder",
        ),
        (vec!["--template-text", "nope=Hi"], "no template"),
        (vec!["--template-text", "welcome"], "TEMPLATE=TEXT"),
    ] {
        let mut all = vec!["business", "failover", "acme"];
        all.extend(args);
        ctl.refused(&all, 2, needle);
    }
    assert_eq!(
        ctl.ok(&["business", "failover", "acme", "--show"])["failover"],
        set["failover"]
    );
    ctl.refused(
        &["business", "failover", "nobody", "--always"],
        2,
        "no business",
    );

    let cleared = ctl.ok(&["business", "failover", "acme", "--clear"]);
    assert_eq!(cleared["failover"], Value::Null);
    assert!(ctl.business("acme").await.unwrap().failover.is_none());
}

/// The SMS policy: sender ids registered and removed, countries named and back to the default,
/// caps set, all shown with today's and this month's SMS counts; wrong values are refused
/// with nothing written, and a failover default may only name a registered sender id.
#[tokio::test]
async fn sms_registers_senders_names_countries_sets_caps_and_shows_usage() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "78"]);
    let shown = ctl.ok(&["business", "sms", "show", "acme"]);
    assert_eq!(shown["business_id"], "acme");
    assert_eq!(shown["sms"]["max_per_day"], 1000);
    assert_eq!(shown["sms"]["max_per_month"], 10000);
    assert_eq!(shown["sms"]["max_parts"], 3);
    assert_eq!(shown["sms"]["senders"], json!([]));
    assert_eq!(shown["sms"]["countries"], json!([]));
    assert!(
        shown["denied_countries"]
            .as_array()
            .unwrap()
            .contains(&json!("KM")),
        "{shown}"
    );
    assert_eq!(shown["usage"]["day"]["sms"], 0);
    assert_eq!(shown["usage"]["month"]["refused"], 0);

    // A failover default naming an unregistered sender id is refused.
    ctl.refused(
        &["business", "failover", "acme", "--sender-id", "HSBC"],
        2,
        "not registered",
    );
    let added = ctl.ok(&[
        "business",
        "sms",
        "sender",
        "add",
        "acme",
        "Acme",
        "+447700900123",
    ]);
    assert_eq!(added["sms"]["senders"], json!(["+447700900123", "Acme"]));
    ctl.ok(&["business", "failover", "acme", "--sender-id", "Acme"]);
    ctl.ok(&[
        "business",
        "sms",
        "sender",
        "remove",
        "acme",
        "+447700900123",
    ]);
    assert_eq!(
        ctl.ok(&["business", "sms", "sender", "list", "acme"])["sms"]["senders"],
        json!(["Acme"])
    );
    ctl.refused(
        &[
            "business",
            "sms",
            "sender",
            "add",
            "acme",
            "Way-too-long-id",
        ],
        2,
        "sender_id",
    );

    let named = ctl.ok(&["business", "sms", "countries", "acme", "GB", "ua", "KM"]);
    assert_eq!(named["sms"]["countries"], json!(["GB", "KM", "UA"]));
    assert_eq!(named["denied_countries"], json!([]));
    ctl.refused(&["business", "sms", "countries", "acme", "GBR"], 2, "GBR");
    let back = ctl.ok(&["business", "sms", "countries", "acme", "--default"]);
    assert_eq!(back["sms"]["countries"], json!([]));

    let limits = ctl.ok(&[
        "business",
        "sms",
        "limits",
        "acme",
        "--per-day",
        "50",
        "--per-month",
        "500",
        "--max-parts",
        "6",
    ]);
    assert_eq!(limits["sms"]["max_per_day"], 50);
    assert_eq!(limits["sms"]["max_per_month"], 500);
    assert_eq!(limits["sms"]["max_parts"], 6);
    ctl.refused(
        &["business", "sms", "limits", "acme", "--max-parts", "25"],
        2,
        "25",
    );
    ctl.refused(&["business", "sms", "show", "nobody"], 2, "no business");
    let business = ctl.business("acme").await.unwrap();
    assert_eq!(
        (
            business.sms.max_per_day,
            business.sms.max_per_month,
            business.sms.max_parts
        ),
        (50, 500, 6)
    );
    assert!(business.sms.senders.contains("Acme"));
}

/// A business's Viber services: `--service-id` is the shorthand for one service of the kind
/// named (two-way unless said); `business service add|remove|list` manage the rest, each id one
/// business's, one service per kind, never none.
#[tokio::test]
async fn business_services_are_added_listed_and_removed() {
    let ctl = Ctl::fresh().await;
    let acme = ctl.ok(&["business", "create", "acme", "--service-id", "1001"]);
    assert_eq!(
        acme["services"],
        json!([{"service_id": 1001, "kind": "two_way"}])
    );
    let notify = ctl.ok(&[
        "business",
        "create",
        "notify",
        "--service-id",
        "2001",
        "--service-kind",
        "one_way",
    ]);
    assert_eq!(notify["service_id"], 2001);
    assert_eq!(
        notify["services"],
        json!([{"service_id": 2001, "kind": "one_way"}])
    );

    let added = ctl.ok(&[
        "business", "service", "add", "notify", "2002", "--kind", "session",
    ]);
    assert_eq!(
        added,
        json!({"business_id": "notify", "services": [
            {"service_id": 2001, "kind": "one_way"}, {"service_id": 2002, "kind": "session"}]})
    );
    assert_eq!(ctl.ok(&["business", "service", "list", "notify"]), added);
    let shown = ctl.ok(&["business", "show", "notify"]);
    assert_eq!(shown["services"], added["services"]);

    // Refused, changing nothing: another business's id, a second session service, a bad kind,
    // the last service, an unknown business.
    ctl.refused(
        &[
            "business", "service", "add", "acme", "2002", "--kind", "session",
        ],
        2,
        "service id 2002 already belongs to another business",
    );
    ctl.refused(
        &[
            "business", "service", "add", "notify", "2003", "--kind", "session",
        ],
        2,
        "already has a session service",
    );
    ctl.refused(
        &[
            "business",
            "service",
            "add",
            "notify",
            "2003",
            "--kind",
            "three_way",
        ],
        2,
        "invalid service kind",
    );
    ctl.refused(
        &["business", "create", "other", "--service-id", "2002"],
        2,
        "already belongs to another business",
    );
    assert_eq!(ctl.ok(&["business", "service", "list", "notify"]), added);
    assert_eq!(
        ctl.ok(&["business", "service", "list", "acme"])["services"],
        json!([{"service_id": 1001, "kind": "two_way"}])
    );

    let removed = ctl.ok(&["business", "service", "remove", "notify", "2001"]);
    assert_eq!(
        removed["services"],
        json!([{"service_id": 2002, "kind": "session"}])
    );
    ctl.refused(
        &["business", "service", "remove", "notify", "2002"],
        2,
        "last service",
    );
    ctl.refused(
        &["business", "service", "list", "nobody"],
        2,
        "no business nobody",
    );
    // The freed id can be another business's now.
    ctl.ok(&[
        "business", "service", "add", "acme", "2001", "--kind", "one_way",
    ]);
    let business = ctl.business("notify").await.unwrap();
    assert_eq!(business.service_id(), 2002);
}
