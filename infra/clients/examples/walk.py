"""The generated Python client against a running stack (infra/scripts/clients.sh): every call a
business makes most, each answer parsed into the model openapi.yaml documents for it. A model
that degrades to Any or a dict (a schema the generator could not read) fails here, as does a
request body typed Any.

Environment: API (the stack's URL), KEY (the demo business's key), SANDBOX_USER (a number that
has written to the demo business, so events exist). PYTHONPATH holds the generated `vbm_client`.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import time
import typing

from standardwebhooks.webhooks import Webhook
from vbm_client import AuthenticatedClient
from vbm_client.api import default as operations
from vbm_client.api.default import (
    create_campaign,
    get_campaign,
    get_message,
    get_session,
    list_events,
    list_templates,
    send_message,
)
from vbm_client.models import (
    Campaign,
    CampaignCounts,
    CampaignRequest,
    CampaignRequestRecipientsItem,
    CampaignRequestRecipientsItemParams,
    CampaignState,
    Error,
    ErrorCode,
    EventEnvelope,
    EventEnvelopeType,
    EventList,
    LoggedEvent,
    Message,
    MessageStatus,
    SendAccepted,
    SendTemplate,
    SendTemplateParams,
    Session,
    SessionSend,
    SessionState,
    StatusEntry,
    Template,
    TemplateCampaignMessage,
    TemplateList,
    TemplateSend,
)

from quickstart import event_from


def expect(value: object, model: type) -> typing.Any:
    assert isinstance(value, model), f"expected {model.__name__}, got {type(value).__name__}: {value!r}"
    return value


def no_untyped_operation() -> None:
    """Every request body is a model (or a union of models), never Any; only an answer without
    content (204 of eraseContact) may be Any."""
    for info in pkgutil.iter_modules(operations.__path__):
        module = importlib.import_module(f"vbm_client.api.default.{info.name}")
        hints = typing.get_type_hints(module.sync_detailed)
        body = hints.get("body")
        if body is not None:
            assert typing.Any not in typing.get_args(body) and body is not typing.Any, f"{info.name}: body is {body}"
        answer = typing.get_args(hints["return"])[0]
        if info.name != "erase_contact":
            assert typing.Any not in typing.get_args(answer), f"{info.name}: answers {answer}"


def main() -> None:
    no_untyped_operation()
    api = AuthenticatedClient(base_url=os.environ["API"], token=os.environ["KEY"], raise_on_unexpected_status=True)
    to = "+447911123456"

    # A template send, then the message and the session.
    template = SendTemplate(id="welcome", params=SendTemplateParams.from_dict({"name": "Ann"}))
    sent = expect(send_message.sync(client=api, body=TemplateSend(to=to, type_="template", template=template)), SendAccepted)
    expect(sent.session, Session)
    expect(sent.session.state, SessionState)
    message = expect(get_message.sync(sent.message_id, client=api), Message)
    assert message.message_id == sent.message_id
    expect(message.status, MessageStatus)
    expect(message.created_at, datetime.datetime)
    for entry in message.status_history:
        expect(entry, StatusEntry)
    session = expect(get_session.sync(to, client=api), Session)
    expect(session.state, SessionState)
    assert isinstance(session.can_send_session, bool)

    # A refusal: a session message to a user who has not written is 409 no_session.
    refused = expect(send_message.sync(client=api, body=SessionSend(to="+447911123457", type_="session", text="Hi")), Error)
    assert refused.error.code == ErrorCode.NO_SESSION, refused.error.code

    # A campaign, created and read.
    recipients = [
        CampaignRequestRecipientsItem(to=phone, params=CampaignRequestRecipientsItemParams.from_dict({"name": name}))
        for phone, name in [("+447911123458", "Ann"), ("+447911123459", "Bob")]
    ]
    spring = SendTemplate(id="spring_sale", params=SendTemplateParams.from_dict({"discount": "20%"}))
    request = CampaignRequest(
        message=TemplateCampaignMessage(type_="template", template=spring), recipients=recipients, name="spring sale"
    )
    created = expect(create_campaign.sync(client=api, body=request), Campaign)
    expect(created.state, CampaignState)
    expect(created.counts, CampaignCounts)
    read = expect(get_campaign.sync(created.campaign_id, client=api), Campaign)
    assert read.campaign_id == created.campaign_id and read.recipients == 2, read

    # The template list.
    templates = expect(list_templates.sync(client=api), TemplateList)
    for entry in templates.templates:
        expect(entry, Template)
    assert "welcome" in {t.id for t in templates.templates}

    # The events list (the sandbox user wrote: its message.inbound is logged once delivered).
    deadline = time.monotonic() + 30
    while True:
        events = expect(list_events.sync(client=api), EventList)
        if events.events or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert events.events, "no event logged within 30 s"
    logged = expect(events.events[0], LoggedEvent)
    expect(logged.event, EventEnvelope)
    expect(logged.event.type_, EventEnvelopeType)

    # The documented verification takes a signed event and gives the model back; a forged one
    # is refused.
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps(logged.event.to_dict())
    stamp = datetime.datetime.now(datetime.timezone.utc)
    headers = {
        "webhook-id": logged.event.event_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(logged.event.event_id, stamp, body),
    }
    verified = expect(event_from(secret, body.encode(), headers), EventEnvelope)
    assert verified.event_id == logged.event.event_id
    try:
        event_from(secret, body.replace("business_id", "business_iD").encode(), headers)
    except Exception:  # standardwebhooks' WebhookVerificationError
        pass
    else:
        raise AssertionError("a forged event was verified")
    print("walk: every answer parsed into its documented model")


if __name__ == "__main__":
    main()
