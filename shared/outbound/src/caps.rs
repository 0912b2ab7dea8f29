//! Caps at the API and in campaigns: the `quota_exceeded` refusal, and telling the business a
//! cap reached a threshold (`usage.cap_reached`).

use lambda_http::http::StatusCode;
use session_rules::Timestamp;
use session_rules::caps::Cap;
use vbm_events::EventsQueue;
use vbm_http::ApiError;
use vbm_store::{BusinessId, Store};

/// `429 quota_exceeded`: over `cap` in its window; `Retry-After` is when the window ends.
pub fn quota_exceeded(cap: &Cap, now: Timestamp) -> ApiError {
    let end = cap.period.window_end(now);
    let seconds = (end.as_millis() - now.as_millis() + 999)
        .div_euclid(1000)
        .max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        format!(
            "the {} cap on {} ({}) is reached",
            cap.period.as_str(),
            cap.subject.as_str(),
            cap.limit
        ),
    )
    .with_detail(
        "cap",
        serde_json::json!({
            "subject": cap.subject.as_str(),
            "period": cap.period.as_str(),
            "limit": cap.limit,
            "window": cap.period.window(now),
        }),
    )
    .with_retry_after(u32::try_from(seconds).unwrap_or(u32::MAX))
}

/// After an admission counted against `caps` committed: tells the business of each threshold
/// reached that no one told yet (each claimed once, by the store). An event that cannot be
/// queued gives its claim back, so the next admission tells it; the admission itself stands.
pub async fn tell(
    store: &Store,
    events: Option<&EventsQueue>,
    business: &BusinessId,
    caps: &[Cap],
    now: Timestamp,
) {
    let Some(events) = events else { return };
    if caps.is_empty() {
        return;
    }
    let notices = match store
        .businesses()
        .claim_cap_notices(business, caps, now)
        .await
    {
        Ok(notices) => notices,
        Err(error) => {
            tracing::warn!(%error, "cap notices not claimed; the next admission tries again");
            return;
        }
    };
    for notice in notices {
        let event = vbm_events::usage::cap_reached(
            business.as_str(),
            &notice.cap,
            notice.threshold,
            notice.count,
            &notice.window,
            now,
        );
        if let Err(error) = events.publish(&event).await {
            tracing::warn!(%error, "usage.cap_reached not queued; claim given back");
            if let Err(error) = store
                .businesses()
                .release_cap_notice(business, &notice, now)
                .await
            {
                tracing::error!(%error, "a cap notice's claim could not be given back");
            }
        }
    }
}
