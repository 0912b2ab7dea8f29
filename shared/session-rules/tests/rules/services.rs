//! A business's Viber services, against the rules written out plainly: whatever service a
//! message is routed to carries its Viber types, and a refusal means none of the business's
//! services could.

use proptest::prelude::*;
use session_rules::{
    Carriage, Service, ServiceKind, Services, ServicesInvalid, TwoWaySessions, UserMessageEffect,
};

fn kind() -> impl Strategy<Value = ServiceKind> {
    prop::sample::select(ServiceKind::ALL.to_vec())
}

fn two_way() -> impl Strategy<Value = TwoWaySessions> {
    prop_oneof![Just(TwoWaySessions::Open), Just(TwoWaySessions::Closed)]
}

fn carriage() -> impl Strategy<Value = Carriage> {
    prop_oneof![Just(Carriage::Session), Just(Carriage::BusinessInitiated)]
}

/// Few ids so that lists often repeat one.
fn list() -> impl Strategy<Value = Vec<Service>> {
    prop::collection::vec(
        (1u64..6, kind()).prop_map(|(id, kind)| Service { id, kind }),
        0..5,
    )
}

/// Viber types of each carriage (VIBER.md): session 306, 307, 221, 224; the rest are started
/// by the business.
fn viber_types(carriage: Carriage) -> &'static [u16] {
    match carriage {
        Carriage::Session => &[306, 307, 221, 224],
        Carriage::BusinessInitiated => &[106, 107, 108, 109, 206, 220, 225, 230, 1701, 1702],
    }
}

fn carries(kind: ServiceKind, carriage: Carriage, two_way: TwoWaySessions) -> bool {
    viber_types(carriage)
        .iter()
        .all(|t| kind.carries_viber_type(*t, two_way))
}

proptest! {
    #[test]
    fn a_list_is_valid_when_ids_and_kinds_are_distinct(list in list()) {
        let mut ids: Vec<u64> = list.iter().map(|s| s.id).collect();
        let mut kinds: Vec<ServiceKind> = list.iter().map(|s| s.kind).collect();
        ids.sort_unstable();
        ids.dedup();
        kinds.sort_unstable();
        kinds.dedup();
        let valid = !list.is_empty() && ids.len() == list.len() && kinds.len() == list.len();
        prop_assert_eq!(Services::new(list.clone()).is_ok(), valid);
    }

    #[test]
    fn routing_picks_a_service_that_carries_the_message(
        list in list(), carriage in carriage(), two_way in two_way(),
    ) {
        let Ok(services) = Services::new(list) else { return Ok(()) };
        match services.route(carriage, two_way) {
            Ok(service) => {
                prop_assert_eq!(services.by_id(service.id), Some(&service));
                prop_assert!(carries(service.kind, carriage, two_way), "{service:?}");
                // Two-way before one-way, session before two-way.
                if carriage == Carriage::BusinessInitiated && service.kind == ServiceKind::OneWay {
                    prop_assert!(services.of_kind(ServiceKind::TwoWay).is_none());
                }
                if carriage == Carriage::Session && service.kind == ServiceKind::TwoWay {
                    prop_assert!(services.of_kind(ServiceKind::Session).is_none());
                }
            }
            Err(none) => {
                prop_assert!(services.iter().all(|s| !carries(s.kind, carriage, two_way)));
                prop_assert!(!none.missing.is_empty());
                for kind in &none.missing {
                    prop_assert!(carries(*kind, carriage, two_way), "{kind:?} named as missing");
                    prop_assert!(services.of_kind(*kind).is_none());
                }
            }
        }
    }

    #[test]
    fn adding_and_removing_keep_the_invariants(
        list in list(), extra in (1u64..6, kind()), remove in 1u64..6,
    ) {
        let Ok(services) = Services::new(list) else { return Ok(()) };
        let extra = Service { id: extra.0, kind: extra.1 };
        match services.with(extra) {
            Ok(more) => {
                prop_assert_eq!(more.as_slice().len(), services.as_slice().len() + 1);
                prop_assert!(Services::new(more.as_slice().to_vec()).is_ok());
            }
            Err(ServicesInvalid::DuplicateId(id)) => prop_assert!(services.by_id(id).is_some()),
            Err(ServicesInvalid::KindTaken(kind, id)) => {
                prop_assert_eq!(services.of_kind(kind).map(|s| s.id), Some(id));
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
        match services.without(remove) {
            Ok(fewer) => {
                prop_assert!(fewer.by_id(remove).is_none());
                prop_assert_eq!(fewer.as_slice().len() + 1, services.as_slice().len());
            }
            Err(ServicesInvalid::NotFound(_)) => prop_assert!(services.by_id(remove).is_none()),
            Err(ServicesInvalid::LastService(_)) => {
                prop_assert_eq!(services.as_slice().len(), 1);
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    /// A user message opens a session only where the business could answer it with session
    /// messages on that same service.
    #[test]
    fn a_user_message_opens_a_session_where_sessions_go(kind in kind(), two_way in two_way()) {
        let effect = UserMessageEffect::of(kind, two_way);
        prop_assert_eq!(
            effect == UserMessageEffect::OpensSession,
            carries(kind, Carriage::Session, two_way)
        );
        prop_assert_eq!(effect == UserMessageEffect::Refused, kind == ServiceKind::OneWay);
    }
}
