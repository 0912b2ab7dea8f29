//! The routes the business API serves, one module per resource.
//!
//! [`ROUTES`] is the single list the router matches against; the OpenAPI document's test reads
//! the same list, so the document and the router cannot drift apart.

pub mod campaigns;
pub mod contacts;
pub mod dry_run;
pub mod events;
// A session message that waits for the user's reply.
pub mod held;
pub mod messages;
pub mod sessions;
pub mod templates;
pub mod uploads;
// The business's usage and its estimated cost.
pub mod usage;

use lambda_http::http::Method;
use vbm_http::ApiError;

/// What a request is for, once routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    SendMessage,
    GetMessage,
    GetSession,
    EraseContact,
    ListTemplates,
    // Templates a business submits for Viber's review.
    CreateTemplate,
    GetTemplate,
    DeleteTemplate,
    // Campaigns.
    CreateCampaign,
    CreateUpload,
    ListCampaigns,
    GetCampaign,
    PauseCampaign,
    ResumeCampaign,
    CancelCampaign,
    ListEvents,
    ReplayEvents,
    GetUsage,
}

/// One served method and path template; `{name}` matches one non-empty path segment.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

/// Every route of the business API (docs/api.md), as in `openapi.yaml` and `template.yaml`.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/v1/messages",
        endpoint: Endpoint::SendMessage,
    },
    Route {
        method: "GET",
        path: "/v1/messages/{id}",
        endpoint: Endpoint::GetMessage,
    },
    Route {
        method: "GET",
        path: "/v1/sessions/{phone}",
        endpoint: Endpoint::GetSession,
    },
    Route {
        method: "DELETE",
        path: "/v1/contacts/{phone}",
        endpoint: Endpoint::EraseContact,
    },
    Route {
        method: "GET",
        path: "/v1/templates",
        endpoint: Endpoint::ListTemplates,
    },
    // Templates a business submits for Viber's review.
    Route {
        method: "POST",
        path: "/v1/templates",
        endpoint: Endpoint::CreateTemplate,
    },
    Route {
        method: "GET",
        path: "/v1/templates/{id}",
        endpoint: Endpoint::GetTemplate,
    },
    Route {
        method: "DELETE",
        path: "/v1/templates/{id}",
        endpoint: Endpoint::DeleteTemplate,
    },
    // Campaigns.
    Route {
        method: "POST",
        path: "/v1/campaigns",
        endpoint: Endpoint::CreateCampaign,
    },
    Route {
        method: "GET",
        path: "/v1/campaigns",
        endpoint: Endpoint::ListCampaigns,
    },
    // A recipient list uploaded first (up to 1,000,000).
    Route {
        method: "POST",
        path: "/v1/campaigns/uploads",
        endpoint: Endpoint::CreateUpload,
    },
    Route {
        method: "GET",
        path: "/v1/campaigns/{id}",
        endpoint: Endpoint::GetCampaign,
    },
    Route {
        method: "POST",
        path: "/v1/campaigns/{id}/pause",
        endpoint: Endpoint::PauseCampaign,
    },
    Route {
        method: "POST",
        path: "/v1/campaigns/{id}/resume",
        endpoint: Endpoint::ResumeCampaign,
    },
    Route {
        method: "POST",
        path: "/v1/campaigns/{id}/cancel",
        endpoint: Endpoint::CancelCampaign,
    },
    // Business events: the delivery log and its replay.
    Route {
        method: "GET",
        path: "/v1/events",
        endpoint: Endpoint::ListEvents,
    },
    Route {
        method: "POST",
        path: "/v1/events/replay",
        endpoint: Endpoint::ReplayEvents,
    },
    // Usage and its estimated cost, per day or month.
    Route {
        method: "GET",
        path: "/v1/usage",
        endpoint: Endpoint::GetUsage,
    },
];

impl Endpoint {
    /// The path template, for logs (a raw path can hold a phone number).
    pub fn path(self) -> &'static str {
        ROUTES
            .iter()
            .find(|r| r.endpoint == self)
            .map_or("", |r| r.path)
    }
}

/// The endpoint for `method` and `path`, with the path parameters (still percent-encoded).
/// A path no route has is `404 not_found`; a known path with another method is
/// `405 method_not_allowed` (with `Allow`).
pub fn resolve(method: &Method, path: &str) -> Result<(Endpoint, Vec<String>), ApiError> {
    // A path a route spells out literally (`/v1/campaigns/uploads`) is that route's alone,
    // not also a parameter's value (`/v1/campaigns/{id}`).
    let literal = ROUTES
        .iter()
        .any(|r| r.path == path && !r.path.contains('{'));
    let mut allowed = Vec::new();
    for route in ROUTES.iter().filter(|r| !literal || r.path == path) {
        let Some(params) = match_path(route.path, path) else {
            continue;
        };
        if route.method == method.as_str() {
            return Ok((route.endpoint, params));
        }
        allowed.push(route.method);
    }
    if allowed.is_empty() {
        Err(ApiError::not_found("no such path"))
    } else {
        Err(ApiError::method_not_allowed(&allowed))
    }
}

fn match_path(template: &str, path: &str) -> Option<Vec<String>> {
    let mut want = template.split('/');
    let mut have = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(h)) if w.starts_with('{') && w.ends_with('}') && !h.is_empty() => {
                params.push(h.to_owned());
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_their_parameters() {
        let (e, p) = resolve(&Method::POST, "/v1/messages").unwrap();
        assert_eq!((e, p.len()), (Endpoint::SendMessage, 0));
        let (e, p) = resolve(&Method::GET, "/v1/messages/01ABC").unwrap();
        assert_eq!((e, p), (Endpoint::GetMessage, vec!["01ABC".to_owned()]));
        let (e, p) = resolve(&Method::GET, "/v1/sessions/%2B380501234567").unwrap();
        assert_eq!(
            (e, p),
            (Endpoint::GetSession, vec!["%2B380501234567".to_owned()])
        );
        let (e, _) = resolve(&Method::DELETE, "/v1/contacts/+380501234567").unwrap();
        assert_eq!(e, Endpoint::EraseContact);
        let (e, _) = resolve(&Method::GET, "/v1/templates").unwrap();
        assert_eq!(e, Endpoint::ListTemplates);
        let (e, _) = resolve(&Method::POST, "/v1/templates").unwrap();
        assert_eq!(e, Endpoint::CreateTemplate);
        let (e, p) = resolve(&Method::GET, "/v1/templates/01JD0Z6Q9T3M8V4K2X7B5N1C0A").unwrap();
        assert_eq!(
            (e, p),
            (
                Endpoint::GetTemplate,
                vec!["01JD0Z6Q9T3M8V4K2X7B5N1C0A".to_owned()]
            )
        );
        let (e, _) = resolve(&Method::DELETE, "/v1/templates/x").unwrap();
        assert_eq!(e, Endpoint::DeleteTemplate);
    }

    #[test]
    fn unknown_paths_and_wrong_methods() {
        for path in [
            "/",
            "",
            "/v1",
            "/v1/messages/",
            "/v1/messages/a/b",
            "/v2/messages",
            "/v1/templates/x/y",
        ] {
            let e = resolve(&Method::GET, path).unwrap_err();
            assert_eq!(e.code, "not_found", "{path}");
        }
        let e = resolve(&Method::GET, "/v1/messages").unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("method_not_allowed", 405));
        let e = resolve(&Method::POST, "/v1/contacts/+380501234567").unwrap_err();
        assert_eq!(e.code, "method_not_allowed");
        // A literal path is not a parameter of its neighbour (`uploads` is no campaign id).
        let (e, _) = resolve(&Method::POST, "/v1/campaigns/uploads").unwrap();
        assert_eq!(e, Endpoint::CreateUpload);
        let e = resolve(&Method::GET, "/v1/campaigns/uploads").unwrap_err();
        assert_eq!(e.code, "method_not_allowed");
        assert_eq!(e.message, "this path serves POST");
        let (e, _) = resolve(&Method::GET, "/v1/campaigns/01JD0Z6Q9T3M8V4K2X7B5N1C0A").unwrap();
        assert_eq!(e, Endpoint::GetCampaign);
    }

    #[test]
    fn every_endpoint_has_one_route() {
        for route in ROUTES {
            assert_eq!(route.endpoint.path(), route.path);
        }
    }
}
