//! Uploaded lists against the emulator: a list PUT through a presigned URL into the
//! emulator's S3, prepared by prepare jobs into chunks and admitted exactly as an inline list;
//! a bad list rejected with its lines and nothing sent; a preparation killed mid-list and
//! delivered again (and twice at once) writes every recipient exactly once.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;
use campaign::{Done, PrepareLimits};
use session_rules::campaign::CampaignState;
use session_rules::{Language, Limits, Template, TemplateCategory, TemplateId};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_queue::CampaignJob;
use vbm_queue::CampaignQueue;
use vbm_store::{
    BusinessId, CampaignId, CreateOutcome, NewCampaign, NewUpload, Retention, Store, UploadFormat,
};
use vbm_testkit::TestEnv;
use vbm_timers::{Target, Timers};
use vbm_uploads::{Presigner, UploadId};

struct World {
    env: TestEnv,
    store: Store,
    clock: Arc<OffsetClock>,
    presigner: Presigner,
    sdk: aws_config::SdkConfig,
}

async fn world() -> World {
    let env = TestEnv::fresh();
    let sdk = env.sdk_config().await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        env.table.clone(),
        Limits::default(),
        Retention::default(),
    );
    let acme = BusinessId::parse("acme").unwrap();
    store.pace().set_pace_rate(&acme, 1000).await.unwrap();
    let welcome = Template::parse(
        TemplateId::parse("welcome").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Hello {{name}}, your order is ready.",
    )
    .unwrap();
    store
        .templates()
        .put_template(&acme, &welcome)
        .await
        .unwrap();
    let parcel = Template::parse(
        TemplateId::parse("parcel").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Your parcel is on its way",
    )
    .unwrap();
    store
        .templates()
        .put_template(&acme, &parcel)
        .await
        .unwrap();
    let presigner = Presigner::from_sdk(&sdk, env.uploads_bucket.clone());
    World {
        store,
        clock: Arc::new(OffsetClock::new()),
        presigner,
        sdk,
        env,
    }
}

impl World {
    /// The fan-out as Lambda runs it, with these bounds.
    fn app(&self, limits: PrepareLimits) -> campaign::App {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let timers = vbm_outbound::CampaignTimers::new(
            Timers::new(
                aws_sdk_scheduler::Client::new(&self.sdk),
                sqs.clone(),
                self.env.timers_group.clone(),
                "arn:aws:iam::123456789012:role/timers",
            ),
            Target::queue(&self.env.campaign_queue_url, "us-east-1").unwrap(),
        );
        let reader = vbm_uploads::reader::Reader::new(self.presigner.clone()).unwrap();
        campaign::App::new(
            Store::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                self.env.table.clone(),
                Limits::default(),
                Retention::default(),
            ),
            CampaignQueue::new(sqs.clone(), self.env.campaign_queue_url.clone()),
            timers,
            EventsQueue::new(sqs, self.env.events_queue_url.clone()),
            self.clock.clone(),
        )
        .with_uploads(reader)
        .with_prepare_limits(limits)
    }

    /// PUTs `body` through a presigned URL, as a business would with `curl -T`.
    async fn upload(&self, business: &str, body: String) -> UploadId {
        let id = UploadId::generate();
        let url = self
            .presigner
            .presign(
                "PUT",
                &vbm_uploads::key(business, &id),
                vbm_uploads::PUT_EXPIRY,
                SystemTime::now(),
            )
            .await
            .unwrap();
        let answer = reqwest::Client::new()
            .put(url)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{answer:?}");
        id
    }

    async fn create(
        &self,
        business: &BusinessId,
        key: &str,
        format: UploadFormat,
        message: &str,
    ) -> CampaignId {
        let id = CampaignId::generate();
        let outcome = self
            .store
            .campaigns()
            .create_campaign_from_upload(
                &NewCampaign {
                    business,
                    id: id.clone(),
                    name: None,
                    message,
                    recipients: &[],
                    send_at: None,
                    window: None,
                    idempotency: None,
                    now: self.clock.now(),
                },
                &NewUpload { key, format },
            )
            .await
            .unwrap();
        let CreateOutcome::Created(c) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(c.state, CampaignState::Preparing);
        id
    }

    /// Takes every job off the campaign queue.
    async fn drain(&self) -> Vec<CampaignJob> {
        vbm_testkit::drain(&self.env.sqs().await, &self.env.campaign_queue_url)
            .await
            .into_iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    /// Runs jobs as the queue hands them out until none is left; what each prepare job did.
    async fn run_all(&self, app: &campaign::App, first: CampaignJob) -> Vec<Done> {
        let mut prepared = Vec::new();
        let mut jobs = vec![first];
        while !jobs.is_empty() {
            for job in &jobs {
                let done = app.handle_job(job).await.unwrap();
                if matches!(job, CampaignJob::Prepare { .. }) {
                    prepared.push(done);
                }
            }
            jobs = self.drain().await;
        }
        prepared
    }

    async fn chunk_items(&self) -> usize {
        self.env
            .footprint()
            .await
            .items
            .iter()
            .filter(
                |i| matches!(i.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("CCHUNK#")),
            )
            .count()
    }
}

fn prepare(business: &BusinessId, id: &CampaignId) -> CampaignJob {
    CampaignJob::Prepare {
        business: business.as_str().into(),
        campaign: id.as_str().into(),
    }
}

fn uk(i: usize) -> String {
    format!("+4479111{i:05}")
}

/// `uk(i)` as `Campaigns::campaign_numbers` gives it (E.164 digits).
fn uk_digits(i: usize) -> u64 {
    uk(i)[1..].parse().unwrap()
}

/// A transactional message is a template (free-form transactional content needs the business's
/// opt-in).
const PARCEL: &str = r#"{"template":{"id":"parcel"},"type":"template"}"#;
const WELCOME: &str = r#"{"template":{"id":"welcome"},"type":"template"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_jsonl_and_csv_lists_are_admitted_as_inline_ones() {
    let w = world().await;
    let acme = BusinessId::parse("acme").unwrap();
    // Several jobs (100 lines each) of several steps (one chunk each).
    let app = w.app(PrepareLimits {
        lines_per_job: 100,
        step_chunks: 1,
        ..PrepareLimits::default()
    });

    let jsonl: String = (0..250)
        .map(|i| format!("{{\"to\":\"{}\"}}\n", uk(i)))
        .collect();
    let upload = w.upload("acme", jsonl).await;
    let key = vbm_uploads::key("acme", &upload);
    let id = w.create(&acme, &key, UploadFormat::Jsonl, PARCEL).await;
    let runs = w.run_all(&app, prepare(&acme, &id)).await;
    assert_eq!(runs.len(), 3, "250 lines in jobs of 100: {runs:?}");
    assert!(runs[0].prepare_queued && runs[1].prepare_queued);
    assert_eq!(runs[2].settled, Some(CampaignState::Scheduled));
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Completed, "started and fanned out");
    assert_eq!((c.recipients, c.chunks), (250, 3));
    assert_eq!(c.counts.get("queued"), Some(&250));
    let outbox = w.env.footprint().await.outbox;
    let mut expected: Vec<String> = (0..250)
        .map(|i| format!("MSG#{}", id.message_id(i).as_str()))
        .collect();
    let mut got = outbox.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "recipient i is message_id(i), each once");

    // CSV: a header naming the template's parameter, quoted cells, CRLF line ends.
    let mut csv = String::from("\u{feff}to,name\r\n");
    for i in 300..420 {
        csv.push_str(&format!("\"{}\",\"Ann, {i}\"\r\n", uk(i)));
    }
    let upload = w.upload("acme", csv).await;
    let key = vbm_uploads::key("acme", &upload);
    let id = w.create(&acme, &key, UploadFormat::Csv, WELCOME).await;
    w.run_all(&app, prepare(&acme, &id)).await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Completed);
    assert_eq!(c.recipients, 120);
    assert_eq!(c.counts.get("queued"), Some(&120));
    let numbers = w
        .store
        .campaigns()
        .campaign_numbers(&acme, &id)
        .await
        .unwrap();
    assert_eq!(numbers, (300..420).map(uk_digits).collect::<Vec<_>>());
}

/// A key twice in one JSONL line (the top-level `to`, or one inside `params`, also spelt with
/// an escape) is a bad line named with its number, as in a request body: another reader of the
/// list could take the first `to` where we would message the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonl_line_with_a_key_twice_is_rejected_with_its_line() {
    let w = world().await;
    let acme = BusinessId::parse("acme").unwrap();
    let app = w.app(PrepareLimits::default());
    let before = w.env.footprint().await;
    let mut lines: Vec<String> = (0..10)
        .map(|i| format!("{{\"to\":\"{}\",\"params\":{{\"name\":\"Ann\"}}}}", uk(i)))
        .collect();
    lines[1] = format!("{{\"to\":\"{}\",\"to\":\"{}\"}}", uk(1), uk(900));
    lines[4] = format!(
        "{{\"to\":\"{}\",\"params\":{{\"name\":\"Ann\",\"name\":\"Bob\"}}}}",
        uk(4)
    );
    lines[7] = format!(
        "{{\"to\":\"{}\",\"params\":{{\"name\":\"Ann\",\"\\u006eame\":\"Bob\"}}}}",
        uk(7)
    );
    let upload = w.upload("acme", lines.join("\n")).await;
    let key = vbm_uploads::key("acme", &upload);
    let id = w.create(&acme, &key, UploadFormat::Jsonl, WELCOME).await;
    w.run_all(&app, prepare(&acme, &id)).await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Rejected);
    let rejection: serde_json::Value =
        serde_json::from_str(c.upload.unwrap().rejection_json.as_deref().unwrap()).unwrap();
    let named: Vec<(u64, &str, &str)> = rejection["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["code"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(named.len(), 3, "{rejection}");
    for ((line, code, message), (expected_line, key)) in
        named
            .iter()
            .zip([(2, "`to`"), (5, "`params.name`"), (8, "`params.name`")])
    {
        assert_eq!(
            (*line, *code),
            (expected_line, "malformed_line"),
            "{message}"
        );
        assert!(message.contains(key), "{message}");
    }
    assert_eq!(w.chunk_items().await, 0);
    assert_eq!(
        w.env.footprint().await.outbox,
        before.outbox,
        "nobody messaged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_list_is_rejected_with_its_lines_and_nothing_is_sent() {
    let w = world().await;
    let acme = BusinessId::parse("acme").unwrap();
    let app = w.app(PrepareLimits {
        lines_per_job: 100,
        step_chunks: 1,
        max_recipients: 400,
        ..PrepareLimits::default()
    });
    let before = w.env.footprint().await;

    // Bad lines anywhere, one past the first job's part: every one named with its line.
    let mut lines: Vec<String> = (0..300)
        .map(|i| format!("{{\"to\":\"{}\"}}", uk(i)))
        .collect();
    lines[2] = "{\"to\": \"+4479111".into(); // not JSON
    lines[40] = "{\"to\":\"12\"}".into(); // not a number
    lines[41] = format!("{{\"to\":\"{}\",\"params\":{{\"name\":\"Ann\"}}}}", uk(41)); // params, no template
    lines[60] = format!("{{\"to\":\"{}\"}}", uk(7)); // listed twice
    lines[250] = "{\"to\":\"+4479111\",\"extra\":1}".into(); // not the inline shape
    let upload = w.upload("acme", lines.join("\n")).await;
    let key = vbm_uploads::key("acme", &upload);
    let id = w.create(&acme, &key, UploadFormat::Jsonl, PARCEL).await;
    let runs = w.run_all(&app, prepare(&acme, &id)).await;
    assert_eq!(runs.last().unwrap().settled, Some(CampaignState::Rejected));
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Rejected);
    assert_eq!((c.recipients, c.chunks), (0, 0));
    let rejection: serde_json::Value =
        serde_json::from_str(c.upload.unwrap().rejection_json.as_deref().unwrap()).unwrap();
    assert_eq!(rejection["code"], "invalid_recipients");
    assert_eq!(rejection["invalid_count"], 5);
    let named: Vec<(u64, &str)> = rejection["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [
            (3, "malformed_line"),
            (41, "invalid_phone"),
            (42, "template_params_invalid"),
            (61, "duplicate_recipient"),
            (251, "malformed_entry"),
        ]
    );
    // Nothing sent, no chunk written, no chunk job queued (run_all ran every job there was).
    assert_eq!(w.chunk_items().await, 0);
    let after = w.env.footprint().await;
    assert_eq!(after.outbox, before.outbox);
    assert!(after.outbox.is_empty());

    // A duplicate found only across steps (the whole-list check): rejected too.
    let mut lines: Vec<String> = (0..250)
        .map(|i| format!("{{\"to\":\"{}\"}}", uk(i)))
        .collect();
    lines[230] = format!("{{\"to\":\"{}\"}}", uk(3));
    let upload = w.upload("acme", lines.join("\n")).await;
    let id = w
        .create(
            &acme,
            &vbm_uploads::key("acme", &upload),
            UploadFormat::Jsonl,
            PARCEL,
        )
        .await;
    w.run_all(&app, prepare(&acme, &id)).await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Rejected);
    let rejection = c.upload.unwrap().rejection_json.unwrap();
    assert!(rejection.contains(r#""line":231"#), "{rejection}");

    // Too many recipients (a limit of 400 here): refused as soon as the 401st line is read.
    let many: String = (0..450).map(|i| format!("{}\n", uk(i))).collect();
    let upload = w.upload("acme", format!("to\n{many}")).await;
    let id = w
        .create(
            &acme,
            &vbm_uploads::key("acme", &upload),
            UploadFormat::Csv,
            PARCEL,
        )
        .await;
    w.run_all(&app, prepare(&acme, &id)).await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Rejected);
    assert!(
        c.upload
            .unwrap()
            .rejection_json
            .unwrap()
            .contains("too_many_recipients")
    );

    // A CSV list without a `to` column, and an upload id with nothing behind it.
    let upload = w
        .upload("acme", "phone,name\n+447911100001,Ann\n".into())
        .await;
    let id = w
        .create(
            &acme,
            &vbm_uploads::key("acme", &upload),
            UploadFormat::Csv,
            WELCOME,
        )
        .await;
    w.run_all(&app, prepare(&acme, &id)).await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        c.upload
            .unwrap()
            .rejection_json
            .unwrap()
            .contains("invalid_header")
    );
    let nothing = vbm_uploads::key("acme", &UploadId::generate());
    let id = w.create(&acme, &nothing, UploadFormat::Csv, WELCOME).await;
    w.run_all(&app, prepare(&acme, &id)).await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Rejected);
    assert!(
        c.upload
            .unwrap()
            .rejection_json
            .unwrap()
            .contains("upload_not_found")
    );
    // Only the lists found bad after clean steps wrote chunks (the duplicate across steps: 3,
    // the 401st line: 4), never queued, left to their TTL.
    assert_eq!(w.chunk_items().await, 7);
    assert!(w.env.footprint().await.outbox.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preparation_killed_mid_list_and_delivered_again_writes_everyone_exactly_once() {
    let w = world().await;
    let acme = BusinessId::parse("acme").unwrap();
    let limits = PrepareLimits {
        step_chunks: 2,
        ..PrepareLimits::default()
    };
    let jsonl: String = (0..1000)
        .map(|i| format!("{{\"to\":\"{}\"}}\n", uk(i)))
        .collect();
    let upload = w.upload("acme", jsonl).await;
    let id = w
        .create(
            &acme,
            &vbm_uploads::key("acme", &upload),
            UploadFormat::Jsonl,
            PARCEL,
        )
        .await;
    let job = prepare(&acme, &id);

    // Killed after two committed steps (400 lines), as a Lambda timing out would be.
    let crashing = w.app(PrepareLimits {
        fail_after_steps: Some(2),
        ..limits.clone()
    });
    assert!(crashing.handle_job(&job).await.is_err());
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Preparing);
    assert_eq!(c.upload.as_ref().unwrap().cursor.recipients, 400);
    assert_eq!(w.chunk_items().await, 4);

    // Delivered again, twice at once (SQS may hand it out again while the first retry runs):
    // one runner moves the cursor, the other's step fails its condition and it stops.
    let app = w.app(limits);
    let (a, b) = tokio::join!(app.handle_job(&job), app.handle_job(&job));
    let (a, b) = (a.unwrap(), b.unwrap());
    let settled: Vec<_> = [&a, &b].iter().filter_map(|d| d.settled).collect();
    assert_eq!(settled, [CampaignState::Scheduled], "{a:?} {b:?}");
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.recipients, c.chunks), (1000, 10));
    let numbers = w
        .store
        .campaigns()
        .campaign_numbers(&acme, &id)
        .await
        .unwrap();
    assert_eq!(
        numbers,
        (0..1000).map(uk_digits).collect::<Vec<_>>(),
        "none twice, none skipped"
    );

    // A prepare job delivered late finds it scheduled and only sets its start again.
    let late = app.handle_job(&job).await.unwrap();
    assert_eq!(late.lines_read, 0);
    // The fan-out from here is an inline list's: everyone admitted once.
    w.run_all(
        &app,
        CampaignJob::Start {
            business: acme.as_str().into(),
            campaign: id.as_str().into(),
        },
    )
    .await;
    let c = w
        .store
        .campaigns()
        .get_campaign(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Completed);
    assert_eq!(c.counts.get("queued"), Some(&1000));
    let mut outbox = w.env.footprint().await.outbox;
    let all = outbox.len();
    outbox.sort();
    outbox.dedup();
    assert_eq!((all, outbox.len()), (1000, 1000));
}
