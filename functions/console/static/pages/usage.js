// Usage: the month's segments per number (GET /usage, with the estimated cost) and per day (summed from the
// archive's messages of the month), as inline SVG bar charts with the numbers in a table beside them.

import { h, replace, svg } from "../dom.js";

const DAY_PAGES = 10; // at most 1,000 messages read for the daily chart

function monthNow() {
  return new Date().toISOString().slice(0, 7);
}

export function barChart({ id, title, bars }) {
  const width = 600;
  const height = 200;
  const top = Math.max(1, ...bars.map((b) => b.value));
  const step = width / Math.max(bars.length, 1);
  return h(
    "figure",
    { class: "chart", id },
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height + 30}`, role: "img", "aria-label": `${title}: ${bars.map((b) => `${b.label} ${b.value}`).join(", ")}` },
      svg("line", { x1: 0, y1: height, x2: width, y2: height, stroke: "#4a4a4a" }),
      bars.map((bar, index) => {
        const barHeight = (bar.value / top) * (height - 20);
        const x = index * step + step * 0.15;
        return svg(
          "g",
          {},
          svg("rect", { x, y: height - barHeight, width: step * 0.7, height: barHeight, fill: "#0a58ca" }),
          svg("text", { x: x + step * 0.35, y: height - barHeight - 4, "text-anchor": "middle", "font-size": 12 }, String(bar.value)),
          svg("text", { x: x + step * 0.35, y: height + 16, "text-anchor": "middle", "font-size": 11 }, bar.label),
        );
      }),
    ),
    h("figcaption", {}, title),
  );
}

export async function usagePage({ api, main }) {
  const month = h("input", { type: "month", id: "usage-month", value: monthNow() });
  const body = h("div", { id: "usage" });
  replace(
    main,
    h("h1", {}, "Usage"),
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); show(); } },
      h("div", {}, h("label", { for: "usage-month" }, "Month (UTC)"), month),
      h("button", { type: "submit" }, "Show")),
    body,
  );
  async function show() {
    const chosen = month.value || monthNow();
    const usage = await api.get("/usage", { month: chosen });
    const perDay = await segmentsPerDay(api, chosen);
    replace(
      body,
      barChart({
        id: "chart-numbers",
        title: `Segments sent per number, ${chosen}`,
        bars: usage.items.map((item) => ({ label: String(item.number_id), value: item.outbound.segments })),
      }),
      barChart({
        id: "chart-days",
        title: `Segments sent per day, ${chosen}${perDay.partial ? " (the first 1,000 messages)" : ""}`,
        bars: perDay.days.map(([day, value]) => ({ label: day.slice(8), value })),
      }),
      h(
        "table",
        {},
        h("caption", {}, `Per number, ${chosen}`),
        h("thead", {}, h("tr", {}, ["Number", "Messages out", "Segments out", "Messages in", "Estimated cost"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          usage.items.map((item) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, String(item.number_id)),
              h("td", { class: "num" }, item.outbound.messages),
              h("td", { class: "num" }, item.outbound.segments),
              h("td", { class: "num" }, item.inbound.messages),
              h("td", { class: "num" }, item.estimated_cost ? `${item.estimated_cost.total} ${item.estimated_cost.currency}` : "no price table"),
            ),
          ),
        ),
      ),
    );
  }
  await show();
}

async function segmentsPerDay(api, month) {
  const [year, number] = month.split("-").map(Number);
  const since = `${month}-01T00:00:00Z`;
  const until = new Date(Date.UTC(year, number, 1) - 1).toISOString();
  const days = new Map();
  let cursor = null;
  let pages = 0;
  do {
    const page = await api.get("/messages", { direction: "outbound", since, until, limit: 100, cursor });
    for (const message of page.items) {
      const day = message.created_at.slice(0, 10);
      days.set(day, (days.get(day) || 0) + (message.segments || 0));
    }
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < DAY_PAGES);
  return { days: [...days.entries()].sort(), partial: Boolean(cursor) };
}
