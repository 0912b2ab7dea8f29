//! An outbound message as both the business API (`functions/send`) and the campaign fan-out
//! (`functions/campaign`) build it, so that neither function depends on the other and a
//! campaign recipient is exactly the single send it stands for: a send's SMS failover
//! completed and checked ([`failover`]), one recipient's message completed from the campaign's
//! and checked ([`campaign`]), the timers that put campaign jobs on the fan-out queue
//! ([`campaign_timers`]), the campaign's view ([`campaign_view`]) and the business's caps
//! ([`caps`]). What these build on is decided in `session-rules`: the campaign's states,
//! windows, controls and recipients in `session_rules::campaign`, the failover's request,
//! spec and triggers in `session_rules::failover`; the campaign item is the store's
//! (`vbm_store::Campaign`).

pub mod campaign;
pub mod campaign_timers;
pub mod campaign_view;
pub mod caps;
pub mod failover;

pub use campaign_timers::CampaignTimers;
pub use campaign_view::{CampaignCounts, CampaignView, WindowView};
