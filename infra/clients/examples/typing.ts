// What the generated types must refuse (each line below a `@ts-expect-error` has to be a type
// error, or tsc fails): the message `type` selects the shape, and answers are their schemas.
import type { components, paths } from "./vbm-api";

type Send = components["schemas"]["SendMessageRequest"];
type CampaignRequest = components["schemas"]["CampaignRequest"];
export const template: Send = { to: "+447911123456", type: "template", template: { id: "welcome" } };
export const session: Send = { to: "+447911123456", type: "session", text: "Hi" };
export const promotional: Send = {
  to: "+447911123456",
  type: "promotional",
  text: "Sale",
  button: { caption: "Shop", url: "https://example.com" },
};
// @ts-expect-error a template send names its template
export const noTemplate: Send = { to: "+447911123456", type: "template" };
// @ts-expect-error a session message has no button
export const sessionButton: Send = { to: "+447911123456", type: "session", text: "Hi", button: { caption: "Go", url: "https://example.com" } };
// @ts-expect-error a template send carries no text
export const templateText: Send = { to: "+447911123456", type: "template", template: { id: "welcome" }, text: "Hi" };
// @ts-expect-error no such message type
export const unknownType: Send = { to: "+447911123456", type: "carousel", text: "Hi" };
// @ts-expect-error a campaign sends no session messages
export const sessionCampaign: CampaignRequest = { message: { type: "session", text: "Hi" }, recipients: [{ to: "+447911123456" }] };

export function answers(
  templates: components["schemas"]["TemplateList"],
  campaign: components["schemas"]["Campaign"],
  events: components["schemas"]["EventList"],
): string[] {
  // @ts-expect-error the template list's entries are templates, not strings
  const wrong: string = templates.templates[0];
  return [wrong, templates.templates[0].status, campaign.state, events.events[0].event.type];
}
