"""schemathesis hooks for infra/scripts/api-fuzz.sh: what the built-in checks cannot know."""

from __future__ import annotations

from urllib.parse import unquote

import schemathesis
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
}


def _error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


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
