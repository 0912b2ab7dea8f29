//! `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&granularity=day|month`: the calling
//! business's usage per UTC day or month, and its estimated cost in the operator's price table.
//!
//! The figures are the usage counters (`vbm_store::usage`), moved in the writes that make each
//! change, so they are exact under retries and redeliveries; one `Query` reads a range.

use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::Serialize;
use session_rules::prices::Estimate;
use session_rules::usage::{Granularity, RangeError, Usage, UsageRange};
use vbm_http::{Answer, ApiError, json_response};
use vbm_store::Business;

use crate::App;

const PARAMS: [&str; 3] = ["from", "to", "granularity"];

/// The answer.
#[derive(Debug, Serialize)]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    pub granularity: Granularity,
    /// Every period of the range in order, also those with nothing counted.
    pub periods: Vec<PeriodUsage>,
    /// The whole range.
    pub total: UsageFigures,
}

#[derive(Debug, Serialize)]
pub struct PeriodUsage {
    /// `2026-12-07` or `2026-12`.
    pub period: String,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

/// One period's figures (zeros left out of the maps): the counters' sums and their cost.
#[derive(Debug, Serialize)]
pub struct UsageFigures {
    #[serde(flatten)]
    pub usage: Usage,
    /// In the business's price table; `null` without one, or when a counted category (or the
    /// SMS) has no price in it.
    pub estimated_cost: Option<Cost>,
}

/// An estimate, also in integer millionths (what an invoice adds up without rounding).
#[derive(Debug, Serialize)]
pub struct Cost {
    pub amount: String,
    pub amount_micros: u64,
    pub currency: String,
}

impl From<Estimate> for Cost {
    fn from(e: Estimate) -> Self {
        Self {
            amount: e.amount.to_string(),
            amount_micros: e.amount.micros(),
            currency: e.currency.as_str().to_owned(),
        }
    }
}

impl UsageFigures {
    pub fn of(usage: Usage, business: &Business) -> Self {
        let estimated_cost = business
            .prices
            .as_ref()
            .and_then(|p| usage.estimated_cost(p))
            .map(Cost::from);
        Self {
            usage,
            estimated_cost,
        }
    }
}

fn range_error(error: RangeError) -> ApiError {
    match error {
        RangeError::InvalidDate { .. } | RangeError::InvalidGranularity => {
            ApiError::validation_failed(Some(error.field()), error.to_string())
        }
        RangeError::Reversed | RangeError::TooLong => {
            ApiError::new(StatusCode::BAD_REQUEST, error.code(), error.to_string())
                .with_detail("field", error.field())
                .with_detail("max_days", session_rules::usage::MAX_RANGE_DAYS)
        }
    }
}

fn parse_query(request: &Request) -> Result<UsageRange, ApiError> {
    let params = request.query_string_parameters();
    for (name, _) in params.iter() {
        if !PARAMS.contains(&name) {
            return Err(ApiError::validation_failed(
                Some(name),
                format!("unknown parameter; expected one of {}", PARAMS.join(", ")),
            ));
        }
    }
    let one = |name: &str| -> Result<Option<String>, ApiError> {
        match params.all(name).as_deref() {
            None | Some([]) => Ok(None),
            Some([value]) => Ok(Some((*value).to_owned())),
            Some(_) => Err(ApiError::validation_failed(
                Some(name),
                "given more than once",
            )),
        }
    };
    let required = |name: &'static str| -> Result<String, ApiError> {
        one(name)?.ok_or_else(|| {
            ApiError::validation_failed(Some(name), "required: a date YYYY-MM-DD (UTC)")
        })
    };
    let (from, to) = (required("from")?, required("to")?);
    UsageRange::parse(&from, &to, one("granularity")?.as_deref()).map_err(range_error)
}

pub async fn get(app: &App, business: &Business, request: &Request) -> Answer {
    let range = parse_query(request)?;
    let periods = app.store().businesses().usage(&business.id, &range).await?;
    let mut total = Usage::default();
    for (_, usage) in &periods {
        total.merge(usage);
    }
    let report = UsageReport {
        from: range.from.to_string(),
        to: range.to.to_string(),
        granularity: range.granularity,
        periods: periods
            .into_iter()
            .map(|(period, usage)| PeriodUsage {
                period,
                figures: UsageFigures::of(usage, business),
            })
            .collect(),
        total: UsageFigures::of(total.without_zeros(), business),
    };
    Ok(json_response(StatusCode::OK, &report))
}
