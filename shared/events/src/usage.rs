//! `usage.cap_reached`: a cap the operator set reached a notice threshold in its window.

use serde_json::json;
use session_rules::Timestamp;
use session_rules::caps::Cap;

use crate::{Event, EventKind};

/// The event of `cap` reaching `threshold` % (with `count` counted) in `window`: one id per
/// cap, window and threshold, so a repeat is de-duplicated by the business.
pub fn cap_reached(
    business_id: &str,
    cap: &Cap,
    threshold: u8,
    count: u64,
    window: &str,
    at: Timestamp,
) -> Event {
    Event::new(
        EventKind::UsageCapReached,
        business_id,
        &format!(
            "{}/{}/{window}/{threshold}",
            cap.subject.as_str(),
            cap.period.as_str()
        ),
        at,
        json!({
            "subject": cap.subject.as_str(),
            "period": cap.period.as_str(),
            "window": window,
            "limit": cap.limit,
            "threshold": threshold,
            "count": count,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_rules::BillingCategory;
    use session_rules::caps::{CapPeriod, CapSubject};

    #[test]
    fn one_id_per_cap_window_and_threshold() {
        let cap = Cap {
            subject: CapSubject::Category(BillingCategory::Otp),
            period: CapPeriod::Day,
            limit: 10,
        };
        let t = Timestamp::from_millis(1_800_000_000_000);
        let a = cap_reached("acme", &cap, 80, 8, "2027-01-15", t);
        let again = cap_reached(
            "acme",
            &cap,
            80,
            9,
            "2027-01-15",
            t.plus(std::time::Duration::from_secs(9)),
        );
        assert_eq!(a.event_id, again.event_id);
        assert_ne!(
            a.event_id,
            cap_reached("acme", &cap, 100, 10, "2027-01-15", t).event_id
        );
        assert_ne!(
            a.event_id,
            cap_reached("acme", &cap, 80, 8, "2027-01-16", t).event_id
        );
        assert_eq!(a.data["subject"], "otp");
        assert_eq!(a.data["limit"], 10);
        assert_eq!(
            serde_json::to_value(&a).unwrap()["type"],
            "usage.cap_reached"
        );
    }
}
