// The console: sign-in, then one page at a time by the URL's fragment (#/inbox, #/thread/<number>/<contact>,
// #/numbers, #/usage, #/contacts). Pages refresh themselves while open (new messages, statuses, quotas).

import { Api } from "./api.js";
import { completeSignIn, currentSession, signIn, signOut } from "./auth.js";
import { h, replace } from "./dom.js";
import { contactsPage } from "./pages/contacts.js";
import { inboxPage, threadPage } from "./pages/inbox.js";
import { numbersPage } from "./pages/numbers.js";
import { usagePage } from "./pages/usage.js";

const main = document.getElementById("main");
let config = null;
let stopPage = null;

async function start() {
  config = (await (await fetch("config.json")).json()).sign_in;
  try {
    await completeSignIn(config);
  } catch (error) {
    showSignIn(error.message);
    return;
  }
  const session = currentSession();
  if (!session) {
    showSignIn();
    return;
  }
  showWho(session);
  const api = new Api(session.token, () => {
    sessionStorage.clear();
    showSignIn("Your session ended: sign in again.");
  });
  const context = { api, session, main };
  window.addEventListener("hashchange", () => route(context));
  document.getElementById("nav").hidden = false;
  route(context);
}

function showSignIn(problem) {
  document.getElementById("nav").hidden = true;
  replace(document.getElementById("who"));
  replace(
    main,
    h("h1", {}, "Sign in"),
    h("p", {}, "The console shows your numbers' conversations, quotas and usage. Sign in with your work account."),
    problem ? h("p", { role: "alert", class: "error" }, problem) : null,
    h("button", { type: "button", id: "sign-in", onclick: () => signIn(config) }, "Sign in"),
  );
}

function showWho(session) {
  replace(
    document.getElementById("who"),
    h("span", { id: "person" }, session.name),
    h("button", { type: "button", class: "secondary", onclick: () => signOut(config) }, "Sign out"),
  );
}

const PAGES = { inbox: inboxPage, thread: threadPage, numbers: numbersPage, usage: usagePage, contacts: contactsPage };

async function route(context) {
  if (stopPage) stopPage();
  stopPage = null;
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES[name] ? name : "inbox";
  for (const link of document.querySelectorAll("#nav a")) {
    const current = link.dataset.page === (page === "thread" ? "inbox" : page);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  replace(main);
  try {
    stopPage = (await PAGES[page](context, rest.map(decodeURIComponent))) || null;
  } catch (error) {
    replace(main, h("h1", {}, "Something went wrong"), h("p", { role: "alert", class: "error" }, error.message));
  }
  main.focus({ preventScroll: true });
}

start();
