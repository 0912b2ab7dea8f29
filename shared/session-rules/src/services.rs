//! A business's Viber services and which one carries which message.
//!
//! Viber sells Business Messages as separate services, each with its own service id (tyntec,
//! "Viber Business | Business Messages": "One-way: companies send out notifications and alerts;
//! users cannot reply. Two-way: companies start the conversation and users can reply. Sessions:
//! users initiate the conversation with companies. Each of these messaging services can be
//! ordered separately, which trigger an unique serviceID"; Route Mobile's callbacks name the
//! `service_type` as `one_way`, `two_way` or `session`). A business here has one to three of
//! them, at most one of each kind, so that the choice of service for a message is never
//! ambiguous. Everything here is decided without I/O; the store keeps each service id unique
//! across businesses.

use std::fmt;

use crate::message::OutboundMessage;

/// What a Viber service id was ordered as. One kind per id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    /// Notifications and alerts; users cannot reply.
    OneWay,
    /// The business starts the conversation; users can reply.
    TwoWay,
    /// The user starts the conversation; session messages (text, image, file) answer it.
    Session,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 3] = [Self::OneWay, Self::TwoWay, Self::Session];

    /// The kind an id reads as when nobody named one: the single `service_id` of a business
    /// created before services had kinds, and `vbmctl business create --service-id` without
    /// `--service-kind`. Two-way is the kind that both starts conversations and hears replies,
    /// so such a business keeps sending what it sent, and (with [`TwoWaySessions::Open`], the
    /// default) keeps its sessions.
    pub const DEFAULT: ServiceKind = ServiceKind::TwoWay;

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "one_way" => Some(Self::OneWay),
            "two_way" => Some(Self::TwoWay),
            "session" => Some(Self::Session),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneWay => "one_way",
            Self::TwoWay => "two_way",
            Self::Session => "session",
        }
    }

    /// Whether a service of this kind may carry a message of Viber `type`: session types (306
    /// text, 307 image, 221/224 file) on a session service (and on a two-way one while
    /// [`TwoWaySessions::Open`]); every business-initiated type (templates, promotional and
    /// legacy transactional content) on a one-way or two-way service. tyntec's table allows
    /// text, image, text & button and text & button & image on one-way and two-way, text and
    /// image on sessions (Routee adds files to sessions); files and video outside sessions are
    /// in no public table per service and stay allowed as before (tolerant, unverified).
    pub fn carries_viber_type(self, viber_type: u16, two_way: TwoWaySessions) -> bool {
        let session_type = matches!(viber_type, 306 | 307 | 221 | 224);
        match self {
            Self::Session => session_type,
            Self::OneWay => !session_type,
            Self::TwoWay => !session_type || two_way == TwoWaySessions::Open,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a user's reply on a two-way service opens a session there (the evidence is split:
/// docs/viber.md, "Services"). A deployment setting (`VIBER_TWO_WAY_SESSIONS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TwoWaySessions {
    /// A reply opens (or unlocks) the session as on a session service, and session messages
    /// may go on the two-way service when the business has no session service.
    #[default]
    Open,
    /// A reply reaches the business as `message.inbound` only; sessions need a session service.
    Closed,
}

impl TwoWaySessions {
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// One Viber service of a business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Service {
    pub id: u64,
    pub kind: ServiceKind,
}

/// Why a list of services is not a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServicesInvalid {
    #[error("a business needs at least one Viber service")]
    Empty,
    #[error("service id {0} is listed twice")]
    DuplicateId(u64),
    #[error("the business already has a {0} service (service id {1}): remove it first")]
    KindTaken(ServiceKind, u64),
    #[error("the business has no service id {0}")]
    NotFound(u64),
    #[error("service id {0} is the business's last service: a business keeps at least one")]
    LastService(u64),
}

/// A business's services: one to three, distinct ids, at most one per kind. Kept in the order
/// they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services(Vec<Service>);

/// What a message needs of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carriage {
    /// A session message.
    Session,
    /// Anything the business starts: templates, promotional and transactional content.
    BusinessInitiated,
}

impl Carriage {
    /// The kinds of service that carry it, in the order they are chosen.
    pub fn kinds(self, two_way: TwoWaySessions) -> &'static [ServiceKind] {
        match (self, two_way) {
            (Self::Session, TwoWaySessions::Open) => &[ServiceKind::Session, ServiceKind::TwoWay],
            (Self::Session, TwoWaySessions::Closed) => &[ServiceKind::Session],
            (Self::BusinessInitiated, _) => &[ServiceKind::TwoWay, ServiceKind::OneWay],
        }
    }

    pub fn of(message: &OutboundMessage) -> Self {
        match message {
            OutboundMessage::Session(_) => Self::Session,
            // A session list is a session message (802); a transactional one (801) is not.
            OutboundMessage::List(list) if list.delivery() == crate::ListDelivery::Session => {
                Self::Session
            }
            _ => Self::BusinessInitiated,
        }
    }
}

/// No service of the business can carry the message: what it would need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoService {
    /// The kinds that would carry it, in the order they would be chosen; with a named kind the
    /// business lacks, that kind alone.
    pub missing: Vec<ServiceKind>,
    /// The kind the send named (`service`), if it named one.
    pub named: Option<ServiceKind>,
    /// The named kind cannot carry this message at all (a session message on a one-way
    /// service): `missing` are the kinds that could.
    pub cannot_carry: bool,
}

impl fmt::Display for NoService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.missing.iter().map(|k| k.as_str()).collect();
        let names = names.join(" or ");
        match self.named {
            Some(named) if self.cannot_carry => write!(
                f,
                "a {named} service cannot carry this message: name a {names} service, or leave \
                 `service` out to have it chosen"
            ),
            Some(named) => write!(
                f,
                "this business has no {named} service: it needs one to send on it (vbmctl \
                 business service add), or leave `service` out to have it chosen"
            ),
            None => write!(
                f,
                "no Viber service of this business can carry this message: it needs a {names} \
                 service (vbmctl business service add)"
            ),
        }
    }
}

/// What a user's message on a service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserMessageEffect {
    /// Opens, unlocks or renews the session, and reaches the business (`message.inbound`).
    OpensSession,
    /// Reaches the business (`message.inbound`); no session moves.
    InboundOnly,
    /// Users cannot write to a one-way service: whatever came is kept aside, not used.
    Refused,
}

impl UserMessageEffect {
    pub fn of(kind: ServiceKind, two_way: TwoWaySessions) -> Self {
        match (kind, two_way) {
            (ServiceKind::Session, _) | (ServiceKind::TwoWay, TwoWaySessions::Open) => {
                Self::OpensSession
            }
            (ServiceKind::TwoWay, TwoWaySessions::Closed) => Self::InboundOnly,
            (ServiceKind::OneWay, _) => Self::Refused,
        }
    }
}

impl Services {
    pub fn new(list: Vec<Service>) -> Result<Self, ServicesInvalid> {
        if list.is_empty() {
            return Err(ServicesInvalid::Empty);
        }
        let mut services = Self(Vec::with_capacity(list.len()));
        for service in list {
            services.push(service)?;
        }
        Ok(services)
    }

    /// One service of the given kind: a business's shorthand (`--service-id`), or the single
    /// id of a business stored before services had kinds.
    pub fn single(id: u64, kind: ServiceKind) -> Self {
        Self(vec![Service { id, kind }])
    }

    fn push(&mut self, service: Service) -> Result<(), ServicesInvalid> {
        if self.by_id(service.id).is_some() {
            return Err(ServicesInvalid::DuplicateId(service.id));
        }
        if let Some(taken) = self.of_kind(service.kind) {
            return Err(ServicesInvalid::KindTaken(service.kind, taken.id));
        }
        self.0.push(service);
        Ok(())
    }

    /// These services and one more.
    pub fn with(&self, service: Service) -> Result<Self, ServicesInvalid> {
        let mut next = self.clone();
        next.push(service)?;
        Ok(next)
    }

    /// These services without `id`; the last one is never removed.
    pub fn without(&self, id: u64) -> Result<Self, ServicesInvalid> {
        if self.by_id(id).is_none() {
            return Err(ServicesInvalid::NotFound(id));
        }
        if self.0.len() == 1 {
            return Err(ServicesInvalid::LastService(id));
        }
        Ok(Self(
            self.0.iter().copied().filter(|s| s.id != id).collect(),
        ))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Service] {
        &self.0
    }

    /// The first service: what a business stored before services had kinds calls its
    /// `service_id`, still written for readers that know only that.
    pub fn primary(&self) -> Service {
        self.0[0]
    }

    pub fn by_id(&self, id: u64) -> Option<&Service> {
        self.0.iter().find(|s| s.id == id)
    }

    pub fn of_kind(&self, kind: ServiceKind) -> Option<&Service> {
        self.0.iter().find(|s| s.kind == kind)
    }

    /// The service a message goes out on: session messages on the session service (else, while
    /// two-way replies open sessions, on the two-way one); everything the business starts on
    /// the two-way service, else the one-way one.
    pub fn route(&self, carriage: Carriage, two_way: TwoWaySessions) -> Result<Service, NoService> {
        let order = carriage.kinds(two_way);
        order
            .iter()
            .find_map(|kind| self.of_kind(*kind).copied())
            .ok_or_else(|| NoService {
                missing: order.to_vec(),
                named: None,
                cannot_carry: false,
            })
    }

    /// The service a send goes out on when it may name the kind it wants (`service`): the
    /// named kind, if it can carry the message and the business has it; nothing named, as
    /// [`Services::route`] chooses. Never another kind than the one named: a business that
    /// names two-way for its replies must not find them sent one-way.
    pub fn choose(
        &self,
        carriage: Carriage,
        two_way: TwoWaySessions,
        named: Option<ServiceKind>,
    ) -> Result<Service, NoService> {
        let Some(named) = named else {
            return self.route(carriage, two_way);
        };
        let carriers = carriage.kinds(two_way);
        if !carriers.contains(&named) {
            return Err(NoService {
                missing: carriers.to_vec(),
                named: Some(named),
                cannot_carry: true,
            });
        }
        self.of_kind(named).copied().ok_or(NoService {
            missing: vec![named],
            named: Some(named),
            cannot_carry: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: u64, kind: ServiceKind) -> Service {
        Service { id, kind }
    }

    #[test]
    fn kinds_parse_back() {
        for kind in ServiceKind::ALL {
            assert_eq!(ServiceKind::parse(kind.as_str()), Some(kind));
        }
        for bad in ["", "oneway", "One_way", "sessions", "two-way"] {
            assert_eq!(ServiceKind::parse(bad), None, "{bad}");
        }
        assert_eq!(TwoWaySessions::parse("open"), Some(TwoWaySessions::Open));
        assert_eq!(
            TwoWaySessions::parse("closed"),
            Some(TwoWaySessions::Closed)
        );
        assert_eq!(TwoWaySessions::parse("on"), None);
    }

    #[test]
    fn one_service_per_id_and_per_kind() {
        use ServiceKind::*;
        assert_eq!(Services::new(vec![]), Err(ServicesInvalid::Empty));
        assert_eq!(
            Services::new(vec![s(1, OneWay), s(1, Session)]),
            Err(ServicesInvalid::DuplicateId(1))
        );
        assert_eq!(
            Services::new(vec![s(1, OneWay), s(2, OneWay)]),
            Err(ServicesInvalid::KindTaken(OneWay, 1))
        );
        let all = Services::new(vec![s(1, OneWay), s(2, TwoWay), s(3, Session)]).unwrap();
        assert_eq!(
            all.with(s(4, Session)),
            Err(ServicesInvalid::KindTaken(Session, 3))
        );
        assert_eq!(all.without(9), Err(ServicesInvalid::NotFound(9)));
        let two = all.without(2).unwrap();
        assert_eq!(two.as_slice(), &[s(1, OneWay), s(3, Session)]);
        assert_eq!(
            Services::single(5, Session).without(5),
            Err(ServicesInvalid::LastService(5))
        );
    }

    #[test]
    fn routing_by_kind() {
        use ServiceKind::*;
        let open = TwoWaySessions::Open;
        let closed = TwoWaySessions::Closed;
        let notify_and_chat = Services::new(vec![s(1, OneWay), s(3, Session)]).unwrap();
        assert_eq!(
            notify_and_chat.route(Carriage::Session, closed),
            Ok(s(3, Session))
        );
        assert_eq!(
            notify_and_chat.route(Carriage::BusinessInitiated, open),
            Ok(s(1, OneWay))
        );
        let all = notify_and_chat.with(s(2, TwoWay)).unwrap();
        assert_eq!(
            all.route(Carriage::BusinessInitiated, open),
            Ok(s(2, TwoWay))
        );
        assert_eq!(all.route(Carriage::Session, open), Ok(s(3, Session)));

        let notify_only = Services::single(1, OneWay);
        let refused = notify_only.route(Carriage::Session, open).unwrap_err();
        assert_eq!(refused.missing, vec![Session, TwoWay]);
        assert!(
            refused.to_string().contains("session or two_way"),
            "{refused}"
        );
        let chat_only = Services::single(3, Session);
        let refused = chat_only
            .route(Carriage::BusinessInitiated, open)
            .unwrap_err();
        assert_eq!(refused.missing, vec![TwoWay, OneWay]);

        // A legacy single id (two-way) keeps its sessions while two-way replies open them.
        let legacy = Services::single(1000, ServiceKind::DEFAULT);
        assert_eq!(legacy.route(Carriage::Session, open), Ok(s(1000, TwoWay)));
        assert_eq!(
            legacy.route(Carriage::Session, closed).unwrap_err().missing,
            vec![Session]
        );
    }

    #[test]
    fn user_messages_by_kind() {
        use UserMessageEffect::*;
        let open = TwoWaySessions::Open;
        let closed = TwoWaySessions::Closed;
        assert_eq!(
            UserMessageEffect::of(ServiceKind::Session, closed),
            OpensSession
        );
        assert_eq!(
            UserMessageEffect::of(ServiceKind::TwoWay, open),
            OpensSession
        );
        assert_eq!(
            UserMessageEffect::of(ServiceKind::TwoWay, closed),
            InboundOnly
        );
        assert_eq!(UserMessageEffect::of(ServiceKind::OneWay, open), Refused);
    }

    #[test]
    fn viber_types_by_kind() {
        let open = TwoWaySessions::Open;
        let closed = TwoWaySessions::Closed;
        for session_type in [306, 307, 221, 224] {
            assert!(ServiceKind::Session.carries_viber_type(session_type, closed));
            assert!(!ServiceKind::OneWay.carries_viber_type(session_type, open));
            assert!(ServiceKind::TwoWay.carries_viber_type(session_type, open));
            assert!(!ServiceKind::TwoWay.carries_viber_type(session_type, closed));
        }
        for business_type in [106, 107, 108, 109, 225, 1701, 1702, 230] {
            assert!(!ServiceKind::Session.carries_viber_type(business_type, open));
            assert!(ServiceKind::OneWay.carries_viber_type(business_type, closed));
            assert!(ServiceKind::TwoWay.carries_viber_type(business_type, closed));
        }
    }

    #[test]
    fn a_named_kind_is_the_one_used_or_the_send_is_refused() {
        use ServiceKind::*;
        let open = TwoWaySessions::Open;
        let closed = TwoWaySessions::Closed;
        let all = Services::new(vec![s(1, OneWay), s(2, TwoWay), s(3, Session)]).unwrap();
        // Named: that one, even where the default would choose another.
        assert_eq!(
            all.choose(Carriage::BusinessInitiated, open, Some(OneWay)),
            Ok(s(1, OneWay))
        );
        assert_eq!(
            all.choose(Carriage::Session, open, Some(TwoWay)),
            Ok(s(2, TwoWay))
        );
        // Nothing named: the default order.
        assert_eq!(
            all.choose(Carriage::BusinessInitiated, open, None),
            all.route(Carriage::BusinessInitiated, open)
        );
        // A kind that cannot carry the message, though the business has it.
        let refused = all
            .choose(Carriage::Session, open, Some(OneWay))
            .unwrap_err();
        assert_eq!(
            refused,
            NoService {
                missing: vec![Session, TwoWay],
                named: Some(OneWay),
                cannot_carry: true
            }
        );
        assert!(
            refused
                .to_string()
                .contains("a one_way service cannot carry this message"),
            "{refused}"
        );
        let refused = all
            .choose(Carriage::BusinessInitiated, open, Some(Session))
            .unwrap_err();
        assert_eq!(refused.missing, vec![TwoWay, OneWay]);
        assert!(refused.cannot_carry);
        // Two-way carries sessions only while its replies open them.
        let refused = all
            .choose(Carriage::Session, closed, Some(TwoWay))
            .unwrap_err();
        assert_eq!(refused.missing, vec![Session]);
        assert!(refused.cannot_carry);
        // A kind the business lacks: that kind is what is missing, never a fallback.
        let notify_and_chat = Services::new(vec![s(1, OneWay), s(3, Session)]).unwrap();
        let refused = notify_and_chat
            .choose(Carriage::BusinessInitiated, open, Some(TwoWay))
            .unwrap_err();
        assert_eq!(
            refused,
            NoService {
                missing: vec![TwoWay],
                named: Some(TwoWay),
                cannot_carry: false
            }
        );
        assert!(
            refused
                .to_string()
                .contains("this business has no two_way service"),
            "{refused}"
        );
    }

    fn carriage_of(body: &str) -> Carriage {
        let body: crate::SendRequestBody = serde_json::from_str(body).unwrap();
        let request = crate::SendRequest::parse(&body, &crate::Limits::default()).unwrap();
        Carriage::of(&request.message)
    }

    #[test]
    fn a_session_list_goes_on_the_session_service_and_a_transactional_one_does_not() {
        let list = r#"{"title":"How was it?","options":["Good","Bad"]}"#;
        assert_eq!(
            carriage_of(&format!(
                r#"{{"to":"+447911123456","type":"list","list":{list}}}"#
            )),
            Carriage::Session
        );
        let transactional =
            r#"{"title":"How was it?","options":["Good","Bad"],"delivery":"transactional"}"#;
        assert_eq!(
            carriage_of(&format!(
                r#"{{"to":"+447911123456","type":"list","list":{transactional}}}"#
            )),
            Carriage::BusinessInitiated
        );
        assert_eq!(
            carriage_of(r#"{"to":"+447911123456","type":"session","text":"Hi"}"#),
            Carriage::Session
        );
    }
}
