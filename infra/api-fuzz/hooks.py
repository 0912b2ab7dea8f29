"""schemathesis hooks for infra/scripts/api-fuzz.sh.

Generation: part of the generated numbers and template ids are swapped for ones the local stack
knows, so requests get past the numbering plan and the template lookup to the session rules.
Checks: what the built-in checks cannot know about this API (refusals that depend on state, and
that erasing a contact removes its messages).

`ctx.internals` is not a stable schemathesis API: schemathesis is pinned in infra/requirements.txt.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import schemathesis
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import ensure_resource_availability

# The 422 refusals that depend on state the document cannot describe: the number's country plan,
# the business's templates, an earlier request with the same Idempotency-Key.
STATEFUL_422 = {
    "invalid_phone",
    "template_not_found",
    "template_not_approved",
    "template_params_invalid",
    "template_required",
    "idempotency_key_reused",
    # SMS failover: no SMS text in the send, its template or the business's default.
    "failover_text_missing",
    # The SMS policy: the business's registered sender ids, the destinations it allows.
    "failover_sender_id_not_registered",
    "failover_destination_refused",
    "failover_too_many_parts",
    # The business's Viber services: a named (or needed) kind it has not ordered.
    "no_service_for_message",
    # The operator's caps on the business.
    "quota_exceeded",
    # A held message's deadline: in the future and within 30 days of the server's clock.
    "hold_until_invalid",
}


# Numbers the numbering plans accept (a random E.164 string rarely is one, and is refused with
# invalid_phone before any rule runs). api-fuzz.sh opens a session with the first three; the
# sandbox answers numbers ending in 0008 "user blocked" (an opt-out), 0009 "not a Viber user",
# 0002 "expired". UA, RU and BY exercise the regulation rules, KZ (+7 7) must not.
KNOWN_PHONES = (
    "+447911123456",
    "+380501234567",
    "+79123456789",
    "+375291234567",
    "+77011234567",
    "+447911120008",
    "+447911120009",
    "+447911120002",
)
PHONE = re.compile(r"^\+[1-9][0-9]{1,14}$")
# The demo business's templates (infra/devstack) and the parameters each takes.
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
KNOWN_TEMPLATES = {"welcome": ("name",), "code_ru": ("code",), "spring_sale": ("name", "discount")}


# POST /v1/templates: the content rules its description names (openapi.yaml's TemplateRefused)
# are not patterns the document can hold (placeholder syntax, fixed text, {{pin}} by category),
# and the 2,000 per business is state.
TEMPLATE_RULE_422 = {
    "template_placeholder_invalid",
    "template_placeholders_only",
    "template_pin_required",
    "template_pin_reserved",
    "template_limit_reached",
}


def _known_phone(value):
    """The generated phone, or one the plans accept; only a syntactically valid one is swapped, so
    a request the document calls invalid stays invalid."""
    if isinstance(value, str) and PHONE.match(value):
        return st.one_of(st.just(value), st.sampled_from(KNOWN_PHONES))
    return st.just(value)


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if isinstance(path_parameters, dict) and "phone" in path_parameters:
        return _known_phone(path_parameters["phone"]).map(lambda p: {**path_parameters, "phone": p})
    return st.just(path_parameters)


@schemathesis.hook
def flatmap_body(context, body):
    """Send requests reach the rules: a known number, and for templates a known id with its
    parameters filled from what was generated (when the generated ones are schema-valid)."""
    if context.operation is None or context.operation.label != "POST /v1/messages":
        return st.just(body)
    if not isinstance(body, dict):
        return st.just(body)
    strategy = _known_phone(body.get("to")).map(lambda to: {**body, "to": to})
    template = body.get("template")
    if isinstance(template, dict) and TEMPLATE_ID.match(str(template.get("id"))):
        params = template.get("params", {})
        values = [v for v in params.values() if isinstance(v, str) and len(v) <= 125] if isinstance(params, dict) else []
        if values and len(values) == len(params):
            def fill(base, template_id):
                names = KNOWN_TEMPLATES[template_id]
                filled = {name: values[i % len(values)] for i, name in enumerate(names)}
                return {**base, "template": {**template, "id": template_id, "params": filled}}

            strategy = strategy.flatmap(
                lambda b: st.one_of(st.just(b), st.sampled_from(sorted(KNOWN_TEMPLATES)).map(lambda t: fill(b, t)))
            )
    return strategy


def _error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


# Campaigns: list entries refused for what only the server knows (the numbering plan,
# the template's parameters, the same number twice: `uniqueItems` compares whole entries), and
# fields whose rule is relative to now or to each other (send_at at most 30 days ahead, a window
# whose start and end differ).
STATEFUL_ENTRY_CODES = {"invalid_phone", "template_params_invalid", "duplicate_recipient"}
RELATIVE_FIELDS = {"send_at", "window"}


def _error_field(response) -> str | None:
    try:
        return response.json()["error"].get("field")
    except Exception:  # not a JSON error object
        return None


def _campaign_refusal_is_stateful(response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if response.status_code == 400 and error.get("code") == "invalid_recipients":
        return all(e.get("code") in STATEFUL_ENTRY_CODES for e in error.get("errors", []))
    return (
        response.status_code == 422
        and error.get("code") == "validation_failed"
        and error.get("field") in RELATIVE_FIELDS
    )


@schemathesis.check
def valid_data_is_never_malformed(ctx, response, case):
    """A request the document calls valid may be refused only for a reason it cannot describe.

    `positive_data_acceptance` is told to expect 422 from the operations that take a phone number
    or a body; this narrows it back: a 400, or a 422 whose code is not one of STATEFUL_422
    (`validation_failed` above all), means the document and the parser disagree.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if case.operation.label == "POST /v1/campaigns" and _campaign_refusal_is_stateful(response):
        return None
    if (
        case.operation.label == "POST /v1/templates"
        and response.status_code == 422
        and _error_code(response) in TEMPLATE_RULE_422
    ):
        return None
    # A business's template is written in one language, which only the server knows: a `lang`
    # naming another is refused on that field (state, not shape).
    if response.status_code == 422 and _error_field(response) == "template.lang":
        return None
    # Business events: too many events in the range is state, not shape.
    if response.status_code == 400 and _error_code(response) == "replay_too_large":
        return None
    # Usage: `from` after `to`, or more than 366 days apart, is a relation between two
    # parameters the document cannot state as a schema.
    if (
        case.operation.label == "GET /v1/usage"
        and response.status_code == 400
        and _error_code(response) in ("range_reversed", "range_too_long")
    ):
        return None
    # A cursor is the server's own: one issued for another `from`..`to` is refused (state).
    if response.status_code == 400 and _error_code(response) == "invalid_cursor":
        return None
    if response.status_code == 400 or (
        response.status_code == 422 and _error_code(response) not in STATEFUL_422
    ):
        raise AssertionError(
            f"schema-valid request refused with {response.status_code} "
            f"{_error_code(response)}: {response.text[:300]}"
        )
    return None


ERASE = "DELETE /v1/contacts/{phone}"


def _phone(value) -> str | None:
    return unquote(value).strip() if isinstance(value, str) else None


def _erased(ctx, case) -> bool:
    """Whether the message `case` reads went to a contact a successful erase removed."""
    internals = getattr(ctx, "internals", None)
    recorder = getattr(internals, "recorder", None)
    parent = internals.find_parent(case_id=case.id) if internals is not None else None
    if recorder is None or parent is None or not isinstance(parent.body, dict):
        return False
    to = _phone(parent.body.get("to"))
    for prior in recorder.find_all_cases():
        if prior.operation.label != ERASE:
            continue
        answer = recorder.find_response(case_id=prior.id)
        if answer is not None and answer.status_code == 204:
            if _phone((prior.path_parameters or {}).get("phone")) == to:
                return True
    return False


@schemathesis.check
def messages_stay_until_erased(ctx, response, case):
    """`ensure_resource_availability` (disabled in schemathesis.toml), knowing about erasure.

    The built-in check counts only a DELETE of the resource's own path (or a parent) as removing
    it; `DELETE /v1/contacts/{phone}` also removes every message to that phone, so a
    `GET /v1/messages/{id}` 404 after erasing its recipient is the documented answer.
    """
    if response.status_code == 404 and _erased(ctx, case):
        return None
    return ensure_resource_availability(ctx, response, case)


@schemathesis.hook
def map_query(context, query):
    """No dry runs: a dry run answers 200 describing what the send would refuse, which the
    schema checks read as a refused request accepted. The dry run's agreement with the real send
    is its own property test (functions/send/tests/api/dry_run.rs); here every send is real."""
    if isinstance(query, dict) and "dry_run" in query:
        return {k: v for k, v in query.items() if k != "dry_run"}
    return query
