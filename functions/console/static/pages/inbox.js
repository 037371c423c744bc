// The inbox: each number's conversations, newest first, unread inbound messages highlighted; a conversation's
// thread with every message's status and delivery history, and a reply box that counts segments as one types.
// "Read" is this person's, kept in this browser (the gateway keeps no read state): inbound messages newer than
// the last time the thread was open are unread.

import { ApiError } from "../api.js";
import { announce, h, replace, timeElement } from "../dom.js";
import { count, describe, suggestGsm } from "../segments.js";

const REFRESH_MS = 2000;
const PAGE = 100;

function contactOf(message) {
  return message.direction === "inbound" ? message.from : message.to;
}

function seenKey(session) {
  return `sms-console.seen.${session.sub}`;
}

function seenTimes(session) {
  return JSON.parse(localStorage.getItem(seenKey(session)) || "{}");
}

function markSeen(session, numberId, contact, at) {
  const seen = seenTimes(session);
  const key = `${numberId}|${contact}`;
  if (!seen[key] || seen[key] < at) {
    seen[key] = at;
    localStorage.setItem(seenKey(session), JSON.stringify(seen));
  }
}

function statusBadge(status) {
  return h("span", { class: `badge status status-${status}`, "data-status": status }, status);
}

async function conversationsOf(api, number, seen) {
  const page = await api.get("/messages", { number_id: number.number_id, limit: PAGE });
  const byContact = new Map();
  for (const message of page.items) {
    const contact = contactOf(message);
    if (!contact) continue;
    if (!byContact.has(contact)) byContact.set(contact, { contact, last: message, unread: 0 });
    const lastSeen = seen[`${number.number_id}|${contact}`] || "";
    if (message.direction === "inbound" && message.created_at > lastSeen) byContact.get(contact).unread += 1;
  }
  return [...byContact.values()]; // the archive answers newest first, so conversations are too
}

export async function inboxPage({ api, session, main }) {
  const list = h("div", { id: "inbox" });
  replace(main, h("h1", {}, "Inbox"), list);
  async function refresh() {
    const numbers = (await api.get("/numbers")).items;
    const seen = seenTimes(session);
    const sections = [];
    for (const number of numbers) {
      const conversations = await conversationsOf(api, number, seen);
      const heading = `${number.name || number.e164} (${number.e164})`;
      sections.push(
        h(
          "section",
          { "aria-label": heading, class: "number", dataset: { numberId: number.number_id } },
          h("h2", {}, heading),
          conversations.length
            ? h("ul", { class: "conversations" }, conversations.map((c) => conversationItem(number, c)))
            : h("p", { class: "muted" }, "No conversation yet."),
        ),
      );
    }
    replace(list, sections.length ? sections : h("p", {}, "No number is configured in the gateway yet."));
  }
  await refresh();
  return poll(refresh, REFRESH_MS * 2);
}

function conversationItem(number, conversation) {
  const { contact, last, unread } = conversation;
  const href = `#/thread/${number.number_id}/${encodeURIComponent(contact)}`;
  return h(
    "li",
    { class: unread ? "conversation unread" : "conversation", dataset: { contact } },
    h(
      "a",
      { href, "aria-label": `${contact}${unread ? `, ${unread} unread` : ""}, last message ${last.direction}` },
      h("span", { class: "contact" }, contact),
      h(
        "span",
        {},
        unread ? h("span", { class: "badge unread-count" }, `${unread} unread`) : null,
        " ",
        timeElement(last.created_at),
      ),
      h("span", { class: "preview" }, `${last.direction === "outbound" ? "You: " : ""}${last.text || "(media)"}`),
    ),
  );
}

export async function threadPage({ api, session, main }, [numberId, contact]) {
  const number = (await api.get(`/numbers/${numberId}`)).number;
  const thread = h("ol", { class: "thread", id: "thread", "aria-label": `Messages with ${contact}` });
  const form = replyForm(api, session, number, contact, () => refresh());
  replace(
    main,
    h("p", {}, h("a", { href: "#/inbox" }, "← Inbox")),
    h("h1", {}, `${contact}`),
    h("p", { class: "muted" }, `On ${number.name || ""} ${number.e164} (${number.mode} mode)`),
    thread,
    form,
  );
  async function refresh() {
    const page = await api.get("/messages", { number_id: numberId, contact, limit: PAGE });
    const messages = [...page.items].reverse();
    const open = new Set([...thread.querySelectorAll("li[data-id] > details[open]")].map((d) => d.parentElement.dataset.id));
    replace(thread, messages.map(messageItem));
    for (const item of thread.querySelectorAll("li[data-id]")) if (open.has(item.dataset.id)) item.querySelector("details").open = true;
    if (page.items.length) markSeen(session, numberId, contact, page.items[0].created_at);
  }
  await refresh();
  return poll(refresh, REFRESH_MS);
}

function messageItem(message) {
  const history = message.status_history || [];
  return h(
    "li",
    { class: message.direction, dataset: { id: message.id, status: message.status, direction: message.direction } },
    h("p", { class: "text" }, message.text || "(media)"),
    h(
      "div",
      { class: "meta" },
      timeElement(message.created_at),
      message.direction === "outbound" ? h("span", {}, message.human_author ? `by ${message.human_author}` : "automated") : null,
      h("span", {}, `${message.segments} segment${message.segments === 1 ? "" : "s"}, ${message.encoding || ""}`),
      h("span", {}, "Status: ", statusBadge(message.status)),
    ),
    history.length
      ? h(
          "details",
          {},
          h("summary", {}, "Delivery history"),
          h(
            "ol",
            { class: "history" },
            history.map((step) =>
              h("li", {}, `${step.status} — `, timeElement(step.at), ` (${step.source}${step.detail ? `: ${step.detail}` : ""})`),
            ),
          ),
        )
      : null,
    message.error ? h("p", { class: "error" }, `${message.error.code}: ${message.error.message}`) : null,
  );
}

function replyForm(api, session, number, contact, sent) {
  const text = h("textarea", { id: "reply-text", name: "text", rows: 4, "aria-describedby": "reply-count reply-gsm" });
  const counter = h("p", { id: "reply-count", class: "counter", "aria-live": "polite" });
  const gsm = h("div", { id: "reply-gsm" });
  const problem = h("p", { id: "reply-problem", class: "error", role: "alert" });
  const send = h("button", { type: "submit", id: "reply-send" }, "Send");
  function update() {
    const cost = count(text.value);
    const single = cost.encoding === "GSM-7" ? 160 : 70;
    counter.textContent = `${cost.segments} segment${cost.segments === 1 ? "" : "s"} · ${cost.encoding} · ${cost.units} ${
      cost.encoding === "GSM-7" ? "septets" : "UTF-16 units"
    } (${single} fit in one)`;
    replace(gsm);
    if (cost.non_gsm_characters.length) {
      const suggestion = suggestGsm(text.value);
      gsm.append(
        h(
          "div",
          { class: "non-gsm" },
          h("p", {}, "Not in the GSM alphabet (they make the message UCS-2):"),
          h("ul", { class: "non-gsm-list" }, cost.non_gsm_characters.map((c) => h("li", {}, describe(c)))),
          suggestion.replacements.length
            ? h(
                "button",
                {
                  type: "button",
                  id: "reply-replace",
                  class: "secondary",
                  onclick: () => {
                    text.value = suggestion.text;
                    update();
                    text.focus();
                    announce(`Replaced: now ${count(text.value).segments} segment(s), ${count(text.value).encoding}.`);
                  },
                },
                `Replace ${suggestion.replacements.map(([c]) => c).join(" ")} with GSM characters` +
                  ` (${suggestion.segments_after} segment${suggestion.segments_after === 1 ? "" : "s"})`,
              )
            : null,
        ),
      );
    }
  }
  text.addEventListener("input", update);
  update();
  return h(
    "form",
    {
      class: "reply",
      id: "reply",
      onsubmit: async (event) => {
        event.preventDefault();
        problem.textContent = "";
        if (!text.value.trim()) {
          problem.textContent = "Write a message first.";
          return;
        }
        send.disabled = true;
        try {
          const answer = await api.post("/messages", {
            from: number.number_id,
            to: contact,
            text: text.value,
            human_author: session.name,
          });
          text.value = "";
          update();
          announce(`Sent: ${answer.message.status}.`);
          await sent();
        } catch (error) {
          problem.textContent = error instanceof ApiError ? `${error.message} (${error.code})` : error.message;
        } finally {
          send.disabled = false;
        }
      },
    },
    h("label", { for: "reply-text" }, `Reply to ${contact} as ${session.name}`),
    text,
    counter,
    gsm,
    problem,
    h("div", {}, send),
  );
}

/** Run `refresh` every `ms` while the page is open; the returned function stops it. */
export function poll(refresh, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await refresh();
    } catch {
      // a failed refresh keeps what is shown; the next one tries again
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
