//! The command line, as clap parses it. Values with a fixed shape (ids, CIDRs, languages) are
//! checked here by the parsers of [`crate::validate`]; checks that depend on other arguments
//! (the callback URL and local mode, a template's text) happen in the commands.

use clap::builder::BoolishValueParser;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{ArgGroup, Args, Parser, Subcommand};
use ipnet::IpNet;
use session_rules::{Language, TemplateCategory, TemplateId, TemplateReach};
use vbm_store::BusinessId;

use crate::validate;

/// Admin CLI for vbm-serverless: businesses, API keys, callback URLs, IP allowlists, templates.
///
/// Talks to the same DynamoDB table as the functions, with the operator's AWS credentials
/// (the usual AWS_* variables and profiles; AWS_ENDPOINT_URL for a local emulator).
/// Prints JSON on stdout. Exit codes: 0 done, 2 refused input (nothing written),
/// 1 infrastructure failure (AWS unreachable, no such table, ...).
#[derive(Debug, Parser)]
#[command(name = "vbmctl", version)]
pub struct Cli {
    /// The DynamoDB table the functions use.
    #[arg(
        long,
        global = true,
        env = "VBM_TABLE",
        default_value = "vbm",
        value_parser = validate::table_name
    )]
    pub table: String,

    /// Local mode: also accept http://127.0.0.1, http://localhost and http://[::1] callback URLs.
    #[arg(long, global = true, env = "VBM_LOCAL", value_parser = BoolishValueParser::new())]
    pub local: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, change and show businesses (tenants).
    #[command(subcommand)]
    Business(BusinessCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// A business's message templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// The outbox: accepted messages on their way from the table's stream to the outbound queue.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Business events that could not be delivered (the events dead-letter queue).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Viber callbacks kept aside because they could not be used (docs/viber.md).
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Usage and estimated cost per business and UTC day or month, for invoicing.
    Usage(UsageArgs),
}

/// `vbmctl usage`: every business (or one), per period of the range.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// The first UTC day, included (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: String,
    /// The last UTC day, included (YYYY-MM-DD); at most 366 days after `--from`.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: String,
    /// `day` or `month`.
    #[arg(long, default_value = "day")]
    pub granularity: String,
    /// One business only (default: every business).
    #[arg(long, value_parser = validate::business_id)]
    pub business: Option<BusinessId>,
    /// `json` (every figure) or `csv` (one row per business and period, for a spreadsheet).
    #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
    pub format: String,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Queue again the stream batches `relay` gave up on (the RelayFailureQueue alarm): each
    /// failure record names a range of the table's stream, read again while the stream keeps it
    /// (24 h) and put on the outbound queue as `relay` does. A record is deleted once redriven.
    Redrive {
        /// The stack's RelayFailureQueue URL (output RelayFailureQueueUrl).
        #[arg(long, env = "RELAY_FAILURE_QUEUE_URL", value_name = "URL")]
        failure_queue_url: String,
        /// The stack's outbound FIFO queue URL (output OutboundQueueUrl).
        #[arg(long, env = "OUTBOUND_QUEUE_URL", value_name = "URL")]
        outbound_queue_url: String,
        /// The stack's campaign queue URL (output CampaignQueueUrl): where a parked campaign
        /// job goes back when a range lifts its hold (a business enabled).
        #[arg(long, env = "CAMPAIGN_QUEUE_URL", value_name = "URL")]
        campaign_queue_url: Option<String>,
        /// The stack's failover queue URL (output FailoverQueueUrl): where a parked failover
        /// job goes back when a range lifts its hold.
        #[arg(long, env = "FAILOVER_QUEUE_URL", value_name = "URL")]
        failover_queue_url: Option<String>,
    },
}

/// Business events.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Move the events `notify` gave up on (the EventsDeadLetterQueue alarm) back to the events
    /// queue, each as it was: delivered again with the same `webhook-id`. Bodies that are not
    /// events stay on the dead-letter queue and are reported.
    Redrive {
        /// The stack's events dead-letter queue URL (output EventsDeadLetterQueueUrl).
        #[arg(long, env = "EVENTS_DLQ_URL", value_name = "URL")]
        dead_letter_queue_url: String,
        /// The stack's events queue URL (output EventsQueueUrl).
        #[arg(long, env = "EVENTS_QUEUE_URL", value_name = "URL")]
        events_queue_url: String,
    },
    /// Hand again to the lifecycle function's code the stream ranges its event source mapping
    /// gave up on (the LifecycleFailureQueue alarm), while the stream keeps them (24 h): their
    /// session events are queued (each once: the delivery log is asked first) and the timers
    /// of the sessions they opened set. A failure record is deleted once redriven. The session
    /// limits and SESSION_EXPIRING_* are read from the environment, as the function reads them.
    LifecycleRedrive {
        /// The stack's LifecycleFailureQueue URL (output LifecycleFailureQueueUrl).
        #[arg(long, env = "LIFECYCLE_FAILURE_QUEUE_URL", value_name = "URL")]
        failure_queue_url: String,
        /// The stack's events queue URL (output EventsQueueUrl).
        #[arg(long, env = "EVENTS_QUEUE_URL", value_name = "URL")]
        events_queue_url: String,
        /// The session timers queue URL (SessionTimersQueue).
        #[arg(long, env = "SESSION_TIMERS_QUEUE_URL", value_name = "URL")]
        session_timers_queue_url: String,
        /// The stack's schedule group (output TimersGroupName).
        #[arg(long, env = "TIMERS_GROUP", value_name = "NAME")]
        timers_group: String,
        /// The role Scheduler assumes (TimersRole's ARN).
        #[arg(long, env = "TIMERS_ROLE_ARN", value_name = "ARN")]
        timers_role_arn: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List the callbacks in quarantine, oldest first, with why each was kept aside.
    List,
    /// Run quarantined callbacks again through the inbound/status handler code, once the cause
    /// is fixed (a business created, a service id corrected, ...). Used ones leave the
    /// quarantine; the rest stay, with today's reason.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["ids", "all"])))]
pub struct ReplayArgs {
    /// The ids to replay (as `quarantine list` prints them).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Replay every callback in quarantine.
    #[arg(long)]
    pub all: bool,
    /// The events queue the functions publish to (a replay publishes the same events).
    #[arg(long, env = "EVENTS_QUEUE_URL", value_name = "URL")]
    pub events_queue_url: String,
}

#[derive(Debug, Subcommand)]
pub enum BusinessCommand {
    /// Create a business; prints its API key (the only time it is shown) and callback secret.
    Create(CreateArgs),
    /// Change a business's callback URL and/or IP allowlist; prints the business.
    Update(UpdateArgs),
    /// Show a business (never its API key).
    Show {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// Also print the secret that signs business events.
        #[arg(long)]
        show_secret: bool,
    },
    /// List every business (a scan of the table).
    List,
    /// Switch a business's API access off: every key is refused (Viber's callbacks are still
    /// recorded). Its keys stay as they are for `enable`.
    Disable {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
    /// Switch a disabled business's API access back on.
    Enable {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
    /// Viber's pace: the messages per second Viber grants each service id. `dispatch` never
    /// sends faster on a service, across containers, campaigns and single sends together;
    /// campaigns take at most four fifths of it. Without --service-id, the business's rate:
    /// every service without its own sends at it. Without --rate (or --unset), prints the
    /// rates.
    Pace {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// Messages per second, 1 to 1000 (default for a business that never set one: 20).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        rate: Option<u32>,
        /// One of the business's service ids: --rate sets its own rate.
        #[arg(long)]
        service_id: Option<u64>,
        /// With --service-id: the service sends at the business's rate again.
        #[arg(long, requires = "service_id", conflicts_with = "rate")]
        unset: bool,
    },
    /// A new secret for signing the business's events (prints it). With --overlap or --until,
    /// events are signed with the new and the old secret until then (two v1= in
    /// `webhook-signature`), so the business can switch over without losing an event.
    RotateSecret {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        #[command(flatten)]
        end: KeyEnd,
    },
    /// The business's Viber services (one-way, two-way, session), each with its own service
    /// id: which one carries which message, and whose callbacks are whose. Every subcommand
    /// prints the services.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// SMS failover: set (replacing it whole), show or clear the business's
    /// default: which triggers start a failover, and the SMS a send without its own `failover`
    /// gets. Prints the default.
    Failover(FailoverArgs),
    /// The business's SMS policy: the sender ids it may use, the countries its failover SMS
    /// may go to, its caps (SMS a day and a month, billed parts an SMS). Every subcommand
    /// prints the policy, the denied countries in force, and today's and this month's counts.
    #[command(subcommand)]
    Sms(SmsCommand),
    /// Caps on the messages of a billing category and on campaign recipients, a UTC day and a
    /// UTC month: a send over one is `429 quota_exceeded`, a campaign recipient is refused
    /// `quota_exceeded`, and the business is told at 80 % and 100 % (`usage.cap_reached`).
    /// Every subcommand prints the caps and their counts in the current windows.
    #[command(subcommand)]
    Caps(CapsCommand),
    /// The business's price table, in which estimates are made (the dry run's
    /// `estimated_price`). Every subcommand prints it.
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Free-form transactional content (Viber's legacy types 106/206 text, 220 file) for a
    /// service id Viber still accepts them on. Off by default: since 2026-07-01 a transactional
    /// send without a template is `template_required`. Prints the business.
    LegacyTransactional {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// Allow free-form transactional sends.
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        /// Refuse them again (the default).
        #[arg(long)]
        off: bool,
    },
}

/// `vbmctl business service` (the business's Viber services).
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add a service: a service id no business has, of a kind the business has no service of.
    Add {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// The Viber service id.
        #[arg(value_name = "SERVICE_ID", value_parser = validate::service_id, allow_negative_numbers = true)]
        service_id: u64,
        /// What it was ordered as: one_way, two_way or session.
        #[arg(long, value_name = "KIND", value_parser = validate::service_kind)]
        kind: session_rules::ServiceKind,
    },
    /// Remove a service (never the last one); messages already accepted on it still go on it.
    Remove {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        #[arg(value_name = "SERVICE_ID", value_parser = validate::service_id, allow_negative_numbers = true)]
        service_id: u64,
    },
    /// Print the services.
    List {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
}

/// `vbmctl business prices`.
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Print the price table (`null` when none is set).
    Show {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
    /// Replace the price table whole.
    Set {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// ISO 4217 code (EUR, USD, GBP).
        #[arg(long, value_name = "CODE", value_parser = validate::currency)]
        currency: session_rules::prices::Currency,
        /// A billable message of a category: `promotional=0.035` (six decimals at most).
        #[arg(long = "category", value_name = "CATEGORY=PRICE", value_parser = validate::category_price, required = true)]
        categories: Vec<(
            session_rules::BillingCategory,
            session_rules::prices::Amount,
        )>,
        /// One billed part of a failover SMS.
        #[arg(long, value_name = "PRICE", value_parser = validate::price)]
        sms_part: Option<session_rules::prices::Amount>,
        /// A group of destination countries with prices of its own: `DACH=DE,AT,CH` (ISO
        /// 3166-1 alpha-2). A country is in one group at most; any other uses the prices above.
        #[arg(long = "group", value_name = "NAME=CC,CC", value_parser = validate::country_group)]
        groups: Vec<session_rules::prices::CountryGroup>,
        /// A group's price of a category: `DACH:promotional=0.04`. A category the group has no
        /// price for costs what `--category` says.
        #[arg(long = "group-category", value_name = "NAME:CATEGORY=PRICE", value_parser = validate::group_category_price)]
        group_categories: Vec<(String, validate::CategoryPrice)>,
        /// A group's price of one SMS part: `DACH=0.07` (without one, `--sms-part`).
        #[arg(long = "group-sms-part", value_name = "NAME=PRICE", value_parser = validate::group_price)]
        group_sms_parts: Vec<(String, session_rules::prices::Amount)>,
    },
    /// Remove the price table (no estimates).
    Clear {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
}

/// `vbmctl business caps`.
#[derive(Debug, Subcommand)]
pub enum CapsCommand {
    /// Print the caps and their counts today and this month (UTC).
    Show {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
    /// Set the caps on one subject; a period not given stays as it is.
    Set(CapsSetArgs),
    /// Remove the caps on one subject (both periods unless one is named).
    Clear {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// transactional_template, otp, promotional, session or campaign_recipients.
        #[arg(value_name = "SUBJECT", value_parser = validate::cap_subject)]
        subject: session_rules::caps::CapSubject,
        /// Only the daily cap.
        #[arg(long, conflicts_with = "month")]
        day: bool,
        /// Only the monthly cap.
        #[arg(long)]
        month: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("limit")
        .required(true)
        .multiple(true)
        .args(["per_day", "per_month"])
))]
pub struct CapsSetArgs {
    #[arg(value_parser = validate::business_id)]
    pub id: BusinessId,
    /// transactional_template, otp, promotional, session or campaign_recipients.
    #[arg(value_name = "SUBJECT", value_parser = validate::cap_subject)]
    pub subject: session_rules::caps::CapSubject,
    /// At most N a UTC day (0 stops them).
    #[arg(long, value_name = "N")]
    pub per_day: Option<u64>,
    /// At most N a UTC month.
    #[arg(long, value_name = "N")]
    pub per_month: Option<u64>,
}

/// `vbmctl business sms` (the SMS policy).
#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// Print the policy and the SMS counted today and this month (UTC).
    Show {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
    /// The sender ids (origination identities) the business may name; a failover naming
    /// another is refused (422 at the API, `refused` at the claim).
    #[command(subcommand)]
    Sender(SenderCommand),
    /// The countries (ISO 3166-1 alpha-2) failover SMS may go to, replacing the list; with
    /// --default, every country but the IRSF high-risk ones.
    Countries {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// Two-letter codes (`GB UA`); a named high-risk country is allowed.
        #[arg(
            value_name = "COUNTRY",
            required_unless_present = "default",
            conflicts_with = "default"
        )]
        countries: Vec<String>,
        /// Back to the default: every country but the IRSF high-risk ones.
        #[arg(long)]
        default: bool,
    },
    /// The caps; what is not given stays as it is.
    Limits(SmsLimitsArgs),
}

#[derive(Debug, Subcommand)]
pub enum SenderCommand {
    /// Register sender ids (1 to 11 letters and digits, or an E.164 number).
    Add {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        #[arg(value_name = "SENDER_ID", required = true)]
        senders: Vec<String>,
    },
    /// Remove sender ids; failovers already accepted with one are refused at their claim.
    Remove {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        #[arg(value_name = "SENDER_ID", required = true)]
        senders: Vec<String>,
    },
    /// Print the policy (its `senders`).
    List {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("limit")
        .required(true)
        .multiple(true)
        .args(["per_day", "per_month", "max_parts"])
))]
pub struct SmsLimitsArgs {
    #[arg(value_parser = validate::business_id)]
    pub id: BusinessId,
    /// SMS a UTC day (0 stops SMS; default 1000).
    #[arg(long, value_name = "N")]
    pub per_day: Option<u32>,
    /// SMS a UTC month (default 10000).
    #[arg(long, value_name = "N")]
    pub per_month: Option<u32>,
    /// Billed parts of one SMS, 1 to 24 (default 3).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=i64::from(session_rules::sms::MAX_PARTS_LIMIT))
    )]
    pub max_parts: Option<u32>,
}

/// `vbmctl business failover` (SMS failover).
#[derive(Debug, Args)]
pub struct FailoverArgs {
    #[arg(value_parser = validate::business_id)]
    pub id: BusinessId,
    /// Print the default, change nothing.
    #[arg(long, conflicts_with = "clear")]
    pub show: bool,
    /// Remove the default: only sends with their own `failover` fail over, with the default
    /// triggers (9, 10, expired).
    #[arg(long)]
    pub clear: bool,
    /// Every send fails over, even without its own `failover` (with --text or its template's).
    #[arg(long, conflicts_with_all = ["show", "clear"])]
    pub always: bool,
    /// The SMS text when neither the send nor its template gives one.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["show", "clear"])]
    pub text: Option<String>,
    /// The origination identity when the send names none (1 to 11 letters and digits, or E.164).
    #[arg(long, value_name = "ID", conflicts_with_all = ["show", "clear"])]
    pub sender_id: Option<String>,
    /// A template's SMS text, with the template's {{placeholders}}; repeat for more.
    #[arg(long = "template-text", value_name = "TEMPLATE=TEXT", conflicts_with_all = ["show", "clear"])]
    pub template_texts: Vec<String>,
    /// Do not fail over when Viber answers 9 (not a Viber user).
    #[arg(long, conflicts_with_all = ["show", "clear"])]
    pub no_not_viber_user: bool,
    /// Do not fail over when Viber answers 10 (no suitable device).
    #[arg(long, conflicts_with_all = ["show", "clear"])]
    pub no_no_suitable_device: bool,
    /// Do not fail over when the message expires.
    #[arg(long, conflicts_with_all = ["show", "clear"])]
    pub no_expired: bool,
    /// Also fail over when no `delivered` came this many seconds after `sent` (1 to 900).
    #[arg(long, value_name = "SECONDS", conflicts_with_all = ["show", "clear"])]
    pub deadline: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Business id: 1 to 64 of a-z, 0-9, '_' and '-'.
    #[arg(value_parser = validate::business_id)]
    pub id: BusinessId,
    /// Viber service id of the business's sender (a positive integer, one business each): the
    /// shorthand for its first service (more with `business service add`).
    #[arg(long, value_name = "N", value_parser = validate::service_id, allow_negative_numbers = true)]
    pub service_id: u64,
    /// What the service id was ordered as: one_way, two_way (the default) or session.
    #[arg(long, value_name = "KIND", value_parser = validate::service_kind, default_value = "two_way")]
    pub service_kind: session_rules::ServiceKind,
    /// Where business events are POSTed (https://; see --local).
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
    /// A source CIDR (or single address) allowed to call the API; repeat for more. None: any.
    #[arg(long = "allow-cidr", value_name = "CIDR", value_parser = validate::cidr)]
    pub allow_cidrs: Vec<IpNet>,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["callback_url", "no_callback_url", "allow_cidrs", "no_allowlist"])
))]
pub struct UpdateArgs {
    #[arg(value_parser = validate::business_id)]
    pub id: BusinessId,
    /// New callback URL (https://; see --local).
    #[arg(long, value_name = "URL", conflicts_with = "no_callback_url")]
    pub callback_url: Option<String>,
    /// Remove the callback URL (events are then kept for the API only).
    #[arg(long)]
    pub no_callback_url: bool,
    /// Replace the allowlist with these CIDRs (or single addresses); repeat for more.
    #[arg(
        long = "allow-cidr",
        value_name = "CIDR",
        value_parser = validate::cidr,
        conflicts_with = "no_allowlist"
    )]
    pub allow_cidrs: Vec<IpNet>,
    /// Remove the allowlist: any source IP may use the key.
    #[arg(long)]
    pub no_allowlist: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// A new key for the business; every key that works now ends at once, or after an overlap
    /// (--overlap, --until) in which old and new both work. Prints the new key.
    Rotate {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        #[command(flatten)]
        end: KeyEnd,
    },
    /// One more key for the business, beside the keys it has. Prints the key (only this once).
    Create {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
    /// Revoke one key (by its key_id): at once, or after --in / at --until.
    Revoke {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
        /// The key's id, as `key list` prints it (key_ and 16 hex digits).
        #[arg(value_parser = validate::key_id)]
        key_id: String,
        #[command(flatten)]
        end: KeyEnd,
    },
    /// A business's keys (ids and states, never the keys).
    List {
        #[arg(value_parser = validate::business_id)]
        id: BusinessId,
    },
}

/// When old keys (or the old callback secret) end: at once unless one of these is given.
#[derive(Debug, Args, Clone, Copy)]
#[group(multiple = false)]
pub struct KeyEnd {
    /// Keep the old key(s) working for this long: 90s, 30m, 24h, 7d (or plain seconds).
    #[arg(long, alias = "in", value_name = "DURATION", value_parser = validate::duration_secs)]
    pub overlap: Option<i64>,
    /// Keep the old key(s) working until this time (unix seconds).
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = validate::unix_seconds)]
    pub until: Option<i64>,
}

impl KeyEnd {
    /// The end as unix seconds, `None` for at once.
    pub fn at(self, now: i64) -> Option<i64> {
        self.until
            .or_else(|| self.overlap.map(|secs| now.saturating_add(secs)))
    }
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Register or replace a template (replacing it withdraws its approval unless --approved).
    Put(PutTemplateArgs),
    /// Relay Viber's approval of a template pending review: it can be sent from now on, and
    /// the business gets `template.approved`. Repeating it re-queues the same event.
    Approve {
        #[arg(value_parser = validate::business_id)]
        business: BusinessId,
        #[arg(value_parser = validate::template_id)]
        template_id: TemplateId,
        /// Viber's id for the template (required for one the business created with
        /// POST /v1/templates; an operator's template is registered under Viber's id already).
        #[arg(long, value_parser = validate::template_id, value_name = "ID")]
        viber_id: Option<TemplateId>,
        /// The stack's events queue URL (output EventsQueueUrl).
        #[arg(long, env = "EVENTS_QUEUE_URL", value_name = "URL")]
        events_queue_url: String,
    },
    /// Relay Viber's rejection of a template pending review, with Viber's reason: the business
    /// gets `template.rejected`. A rejected template still counts toward the 2,000 until the
    /// business deletes it.
    Reject {
        #[arg(value_parser = validate::business_id)]
        business: BusinessId,
        #[arg(value_parser = validate::template_id)]
        template_id: TemplateId,
        /// Viber's reason, as the business will read it.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// The stack's events queue URL (output EventsQueueUrl).
        #[arg(long, env = "EVENTS_QUEUE_URL", value_name = "URL")]
        events_queue_url: String,
    },
    /// List a business's templates.
    List {
        #[arg(value_parser = validate::business_id)]
        business: BusinessId,
    },
}

#[derive(Debug, Args)]
pub struct PutTemplateArgs {
    #[arg(value_parser = validate::business_id)]
    pub business: BusinessId,
    /// Template id: 1 to 64 of A-Z, a-z, 0-9, '_', '-' and '.'.
    #[arg(value_parser = validate::template_id)]
    pub template_id: TemplateId,
    /// Two-letter ISO 639-1 language code (en, ru, uk, ...).
    #[arg(long, value_name = "xx", value_parser = validate::language)]
    pub lang: Language,
    /// transactional (Viber has no promotional templates: send promotional content as a
    /// message of type promotional).
    #[arg(long, value_parser = validate::category)]
    pub category: TemplateCategory,
    /// The devices it reaches: all_devices (Viber type 1702, the default) or smartphones (1701).
    #[arg(long, value_parser = validate::reach, default_value = "all_devices")]
    pub reach: TemplateReach,
    /// The text, with {{name}} placeholders (letters, digits and '_').
    #[arg(long)]
    pub text: String,
    /// Register it as already approved by Viber.
    #[arg(long)]
    pub approved: bool,
}

/// Prints what clap has to say: help and version as they are (exit 0), a usage error as one line
/// on stderr (exit 2).
pub fn report(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Help asked for (or a bare `vbmctl business`): print it, exit 0 or 2 as clap says.
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
        _ => {
            eprintln!("{}", one_line(&err.render().to_string()));
            ExitCode::from(2)
        }
    }
}

/// clap's message without the usage block and hints, on one line.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_fold_into_one_line() {
        let err = Cli::try_parse_from(["vbmctl", "business", "create", "demo"]).unwrap_err();
        let line = one_line(&err.render().to_string());
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains("--service-id"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn update_needs_a_change_and_refuses_contradictions() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["vbmctl", "business", "update"].iter().chain(args))
        };
        assert!(parse(&["demo"]).is_err());
        assert!(parse(&["demo", "--no-allowlist"]).is_ok());
        assert!(parse(&["demo", "--allow-cidr", "10.0.0.0/8", "--allow-cidr", "::1"]).is_ok());
        assert!(parse(&["demo", "--no-callback-url", "--callback-url", "https://a.b"]).is_err());
        assert!(parse(&["demo", "--no-allowlist", "--allow-cidr", "10.0.0.0/8"]).is_err());
    }
}
