"""Send a template, read the message back, tell a refusal apart, verify an event: with the
client generated from openapi.yaml (package `vbm_client`), the API's URL in API, its key in KEY."""

import json
import os

from standardwebhooks.webhooks import Webhook
from vbm_client import AuthenticatedClient
from vbm_client.api.default import get_message, send_message
from vbm_client.models import (
    Error, EventEnvelope, SendAccepted, SendTemplate, SendTemplateParams, SessionSend, TemplateSend,
)

api = AuthenticatedClient(base_url=os.environ["API"], token=os.environ["KEY"])

# A template: the first message to a user (the business always writes first).
welcome = SendTemplate(id="welcome", params=SendTemplateParams.from_dict({"name": "Ann"}))
sent = send_message.sync(client=api, body=TemplateSend(to="+447911123456", type_="template", template=welcome))
if not isinstance(sent, SendAccepted):
    raise SystemExit(f"refused: {sent}")
print(sent.message_id, sent.session.state)  # session: as it stands after this send

message = get_message.sync(sent.message_id, client=api)
print(message.status, [str(entry.status) for entry in message.status_history])

# A refusal is the Error model, with a stable code: here the user has not written (no session).
refused = send_message.sync(client=api, body=SessionSend(to="+447911123456", type_="session", text="Hi"))
if isinstance(refused, Error):
    print(refused.error.code, refused.error.message)


def event_from(callback_secret: str, body: bytes, headers: dict[str, str]) -> EventEnvelope:
    """An event posted to the callback URL, once its signature is checked (raises if forged)."""
    Webhook(callback_secret).verify(body, headers)
    return EventEnvelope.from_dict(json.loads(body))
