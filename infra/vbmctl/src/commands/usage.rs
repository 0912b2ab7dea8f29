//! `vbmctl usage`: the usage counters of every business (or one) over a range of UTC days,
//! per day or month, with the estimated cost in each business's price table. JSON has every
//! figure; CSV one row per business and period with fixed columns, for invoicing.

use session_rules::BillingCategory;
use session_rules::usage::{Usage, UsageRange};
use vbm_store::Business;

use super::{Context, existing_business, json};
use crate::cli::UsageArgs;
use crate::error::Failure;

/// The statuses CSV has a column for (`failed` sums every `failed_{reason}`).
const CSV_STATUSES: [&str; 6] = [
    "sent",
    "delivered",
    "seen",
    "expired",
    "failed",
    "cancelled",
];

pub async fn run(ctx: &Context, args: UsageArgs) -> Result<String, Failure> {
    let range = UsageRange::parse(&args.from, &args.to, Some(&args.granularity))
        .map_err(|e| Failure::input(format!("{} ({})", e, e.code())))?;
    let store = ctx.store().await?;
    let businesses = match &args.business {
        Some(id) => vec![existing_business(&store, id).await?],
        None => store.businesses().list_businesses().await?,
    };
    let mut rows: Vec<(&Business, String, Usage)> = Vec::new();
    for business in &businesses {
        for (period, usage) in store.businesses().usage(&business.id, &range).await? {
            rows.push((business, period, usage));
        }
    }
    match args.format.as_str() {
        "csv" => Ok(csv(&rows)),
        _ => json(serde_json::json!({
            "from": range.from.to_string(),
            "to": range.to.to_string(),
            "granularity": range.granularity,
            "usage": rows.iter().map(|(business, period, usage)| {
                let cost = business.prices.as_ref().and_then(|p| usage.estimated_cost(p));
                serde_json::json!({
                    "business_id": business.id.as_str(),
                    "period": period,
                    "accepted": usage.accepted,
                    "billable": usage.billable,
                    "statuses": usage.statuses,
                    "sessions_opened": usage.sessions_opened,
                    "sms_failovers": usage.sms_failovers,
                    "sms_parts": usage.sms_parts,
                    "campaign_recipients": usage.campaign_recipients,
                    "by_country": usage.by_country,
                    "estimated_cost": cost.map(|c| serde_json::json!({
                        "amount": c.amount.to_string(),
                        "amount_micros": c.amount.micros(),
                        "currency": c.currency.as_str(),
                    })),
                })
            }).collect::<Vec<_>>(),
        })),
    }
}

/// One header line, then a row per business and period; the cost is empty without an estimate.
fn csv(rows: &[(&Business, String, Usage)]) -> String {
    let mut header = vec!["business_id".to_owned(), "period".to_owned()];
    for c in BillingCategory::ALL {
        header.push(format!("accepted_{}", c.as_str()));
    }
    for c in BillingCategory::ALL {
        header.push(format!("billable_{}", c.as_str()));
    }
    header.extend(CSV_STATUSES.iter().map(|s| (*s).to_owned()));
    header.extend(
        [
            "sessions_opened",
            "sms_failovers",
            "sms_parts",
            "campaign_recipients",
            "estimated_cost",
            "currency",
        ]
        .map(str::to_owned),
    );
    let mut out = header.join(",");
    for (business, period, usage) in rows {
        // Ids are `[a-z0-9-]` and periods digits and dashes: nothing to quote.
        let mut row = vec![business.id.as_str().to_owned(), period.clone()];
        for c in BillingCategory::ALL {
            row.push(usage.accepted.get(&c).copied().unwrap_or(0).to_string());
        }
        for c in BillingCategory::ALL {
            row.push(usage.billable.get(&c).copied().unwrap_or(0).to_string());
        }
        for status in CSV_STATUSES {
            let v: i64 = usage
                .statuses
                .iter()
                .filter(|(s, _)| {
                    s.as_str() == status || (status == "failed" && s.starts_with("failed_"))
                })
                .map(|(_, v)| *v)
                .sum();
            row.push(v.to_string());
        }
        let cost = business
            .prices
            .as_ref()
            .and_then(|p| usage.estimated_cost(p));
        row.extend([
            usage.sessions_opened.to_string(),
            usage.sms_failovers.to_string(),
            usage.sms_parts.to_string(),
            usage.campaign_recipients.to_string(),
            cost.as_ref()
                .map(|c| c.amount.to_string())
                .unwrap_or_default(),
            cost.as_ref()
                .map(|c| c.currency.as_str().to_owned())
                .unwrap_or_default(),
        ]);
        out.push('\n');
        out.push_str(&row.join(","));
    }
    out
}
