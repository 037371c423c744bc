// Numbers: each configured number's mode and registration, its quota windows as gauges with their reset times,
// and the company's Aircall request budget of the minute.

import { h, replace, svg, timeElement } from "../dom.js";
import { poll } from "./inbox.js";

const WINDOWS = [
  ["hour", "This hour"],
  ["day", "Today"],
  ["month", "This month"],
];

export function gauge({ id, label, used, limit, resetsAt }) {
  const share = limit > 0 ? Math.min(used / limit, 1) : 0;
  const level = share >= 0.9 ? "#a4161a" : share >= 0.7 ? "#7a4b00" : "#0f6b2f";
  const text = `${label}: ${used} of ${limit} used`;
  return h(
    "div",
    { class: "gauge", dataset: { gauge: id, used, limit } },
    h("div", { class: "label" }, h("span", {}, text), resetsAt ? h("span", {}, "resets ", timeElement(resetsAt)) : null),
    svg(
      "svg",
      { viewBox: "0 0 100 10", preserveAspectRatio: "none", role: "img", "aria-label": `${text}, ${Math.round(share * 100)}%` },
      svg("rect", { x: 0, y: 0, width: 100, height: 10, fill: "#e6e6e6" }),
      svg("rect", { x: 0, y: 0, width: (share * 100).toFixed(2), height: 10, fill: level }),
    ),
  );
}

export async function numbersPage({ api, main }) {
  const cards = h("div", { class: "cards", id: "numbers" });
  const company = h("section", { id: "company", "aria-label": "Company budget" });
  replace(main, h("h1", {}, "Numbers"), company, cards);
  async function refresh() {
    const numbers = (await api.get("/numbers")).items;
    const quotas = await Promise.all(numbers.map((n) => api.get(`/numbers/${n.number_id}/quota`)));
    replace(cards, numbers.map((number, index) => card(number, quotas[index])));
    const budget = quotas[0]?.company;
    replace(
      company,
      h("h2", {}, "Company budget (Aircall requests per minute)"),
      budget
        ? [
            gauge({ id: "company", label: "This minute", used: budget.used, limit: budget.limit, resetsAt: budget.resets_at }),
            budget.blocked_until ? h("p", { class: "error" }, "Aircall asked to wait until ", timeElement(budget.blocked_until)) : null,
          ]
        : h("p", { class: "muted" }, "No number configured yet."),
    );
  }
  await refresh();
  return poll(refresh, 3000);
}

function card(number, quota) {
  return h(
    "section",
    { class: "card", dataset: { numberId: number.number_id }, "aria-label": number.name || number.e164 },
    h("h2", {}, number.name || number.e164),
    h(
      "dl",
      {},
      h("dt", {}, "Number"), h("dd", {}, number.e164),
      h("dt", {}, "Country"), h("dd", {}, `${number.region} ${number.kind || ""}`),
      h("dt", {}, "Mode"), h("dd", {}, number.mode),
      h("dt", {}, "Registration"), h("dd", {}, number.registration || "none"),
    ),
    WINDOWS.map(([window, label]) =>
      gauge({
        id: `${number.number_id}-${window}`,
        label: `${label} (segments)`,
        used: quota.used[window],
        limit: quota.limits[window],
        resetsAt: quota.resets_at[window],
      }),
    ),
  );
}
