// Contacts: a number's opt-outs (or the company-wide ones), a contact's consents, and the right to erasure
// (DELETE /contacts/{phone}), asked to be confirmed first.

import { ApiError } from "../api.js";
import { announce, h, replace, timeElement } from "../dom.js";

function failure(error) {
  return h("p", { role: "alert", class: "error" }, error instanceof ApiError ? `${error.message} (${error.code})` : error.message);
}

export async function contactsPage({ api, main }) {
  const numbers = (await api.get("/numbers")).items;
  const scope = h(
    "select",
    { id: "optouts-number" },
    h("option", { value: "" }, "Every number (company-wide)"),
    numbers.map((n) => h("option", { value: n.number_id }, `${n.name || ""} ${n.e164}`)),
  );
  const optOuts = h("div", { id: "optouts" });
  const phone = h("input", { id: "contact-phone", type: "tel", autocomplete: "off", required: true, placeholder: "+33612345679" });
  const found = h("div", { id: "contact-found", "aria-live": "polite" });
  const confirm = h("dialog", { id: "erase-dialog", "aria-labelledby": "erase-title" });
  replace(
    main,
    h("h1", {}, "Contacts"),
    h("h2", {}, "Opt-outs"),
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); listOptOuts(); } },
      h("div", {}, h("label", { for: "optouts-number" }, "Number"), scope),
      h("button", { type: "submit" }, "Show opt-outs")),
    optOuts,
    h("h2", {}, "A contact"),
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); lookUp(); } },
      h("div", {}, h("label", { for: "contact-phone" }, "Phone number"), phone),
      h("button", { type: "submit" }, "Show consents"),
      h("button", { type: "button", class: "danger", id: "erase", onclick: () => askErase() }, "Erase…")),
    found,
    confirm,
  );

  async function listOptOuts() {
    try {
      const page = await api.get("/opt-outs", { number_id: scope.value, limit: 100 });
      replace(
        optOuts,
        page.items.length
          ? h("table", {}, h("thead", {}, h("tr", {}, ["Contact", "Number", "Since", "Source"].map((t) => h("th", { scope: "col" }, t)))),
              h("tbody", {}, page.items.map((o) => h("tr", {}, h("td", {}, o.contact), h("td", {}, o.number_id ?? "every"), h("td", {}, timeElement(o.at)), h("td", {}, o.source || "")))))
          : h("p", { class: "muted" }, "No opt-out."),
      );
    } catch (error) {
      replace(optOuts, failure(error));
    }
  }

  async function lookUp() {
    try {
      const answer = await api.get(`/consents/${encodeURIComponent(phone.value.trim())}`);
      replace(
        found,
        h("p", {}, `Consents of ${answer.contact}:`),
        answer.consents.length
          ? h("ul", {}, answer.consents.map((c) => h("li", {}, `${c.purpose} on ${c.number_id ?? "every number"}, ${c.source}, `, timeElement(c.captured_at))))
          : h("p", { class: "muted" }, "No consent recorded."),
      );
    } catch (error) {
      replace(found, failure(error));
    }
  }

  function askErase() {
    const contact = phone.value.trim();
    if (!contact) {
      replace(found, h("p", { role: "alert", class: "error" }, "Enter the phone number to erase."));
      phone.focus();
      return;
    }
    replace(
      confirm,
      h("h2", { id: "erase-title" }, "Erase this contact?"),
      h("p", {}, `Every message with ${contact}, its consents and conversation windows are deleted for good. Its opt-out stays.`),
      h("form", { method: "dialog", class: "inline" },
        h("button", { value: "cancel", class: "secondary", autofocus: true }, "Cancel"),
        h("button", { value: "erase", class: "danger", id: "erase-confirm" }, "Erase")),
    );
    confirm.onclose = async () => {
      if (confirm.returnValue !== "erase") return;
      try {
        const answer = await api.delete(`/contacts/${encodeURIComponent(contact)}`);
        replace(found, h("p", { id: "erase-result" }, `Erased: ${JSON.stringify(answer.erased || answer)}`));
        announce("The contact was erased.");
      } catch (error) {
        replace(found, failure(error));
      }
    };
    confirm.showModal();
  }

  await listOptOuts();
}
