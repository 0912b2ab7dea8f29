// Send a template, read the message back, tell a refusal apart, verify an event: with the
// types generated from openapi.yaml (vbm-api.d.ts) and openapi-fetch; API's URL and KEY as env.
import createClient from "openapi-fetch";
import { Webhook } from "standardwebhooks";
import type { components, paths } from "./vbm-api";

const api = createClient<paths>({
  baseUrl: process.env.API,
  headers: { Authorization: `Bearer ${process.env.KEY}` },
});

// A template: the first message to a user (the business always writes first).
const sent = await api.POST("/v1/messages", {
  body: { to: "+447911123456", type: "template", template: { id: "welcome", params: { name: "Ann" } } },
});
// `data`: the 202 (`SendAccepted`); only `?dry_run=true` answers 200 (`SendDryRun`).
if (!sent.data || "dry_run" in sent.data) throw new Error(`refused: ${JSON.stringify(sent.error)}`);
console.log(sent.data.message_id, sent.data.session.state); // session: as it stands after this send

const message = await api.GET("/v1/messages/{id}", { params: { path: { id: sent.data.message_id } } });
console.log(message.data?.status, message.data?.status_history.map((entry) => entry.status));

// A refusal is the Error schema, with a stable code: here the user has not written (no session).
const refused = await api.POST("/v1/messages", {
  body: { to: "+447911123456", type: "session", text: "Hi" },
});
if (refused.error && "error" in refused.error) console.log(refused.error.error.code, refused.error.error.message);

type Event = components["schemas"]["EventEnvelope"];

/** An event posted to the callback URL, once its signature is checked (throws if forged). */
export function eventFrom(callbackSecret: string, rawBody: string, headers: Record<string, string>): Event {
  return new Webhook(callbackSecret).verify(rawBody, headers) as Event;
}
