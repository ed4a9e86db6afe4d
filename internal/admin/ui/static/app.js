// app.js: the dashboard shell: routes, login and logout. Each page lives in
// pages.js and is shown by path (/admin/<page>).

import { request, setCsrfToken, csrfToken, whenUnauthorized, ApiError } from "./api.js";
import { $, showError, busy } from "./dom.js";
import { pages } from "./pages.js";

const base = "/admin/";
let current = null; // the page shown, from pages
let afterLogin = "overview";

function pageOf(path) {
  const name = path.startsWith(base) ? path.slice(base.length).replace(/\/$/, "") : "";
  return name === "" ? "overview" : name;
}

/** go shows the page of path, adding it to the history when push is set. */
function go(path, push) {
  let name = pageOf(path);
  const open = name === "login" || name === "setup"; // pages without a session
  if (!open && !csrfToken()) {
    afterLogin = pages[name] ? name : "overview";
    name = "login";
  }
  if (open && csrfToken()) {
    name = "overview";
  }
  if (!pages[name] && name !== "login") {
    name = "overview";
  }
  if (push) {
    history.pushState(null, "", base + name);
  } else if (pageOf(location.pathname) !== name) {
    history.replaceState(null, "", base + name);
  }
  show(name);
}

function show(name) {
  if (current) {
    current.hide?.();
  }
  for (const s of document.querySelectorAll("main > section")) {
    s.hidden = s.dataset.page !== name;
  }
  $("nav").hidden = name === "login" || name === "setup";
  for (const a of $("nav").querySelectorAll("a")) {
    if (pageOf(a.pathname) === name) {
      a.setAttribute("aria-current", "page");
    } else {
      a.removeAttribute("aria-current");
    }
  }
  const title = document.querySelector(`#page-${name} h1`).textContent;
  document.title = `${title} · presenced admin`;
  current = pages[name] || null;
  current?.show();
  if (name === "login") {
    $("login-name").focus();
    offerSetup();
  } else if (name === "setup") {
    $("setup-token").focus();
  } else {
    $("main").focus();
  }
}

function flash(message) {
  $("flash").textContent = message;
  $("flash").hidden = message === "";
}

/** offerSetup shows the setup link while no admin account exists. */
async function offerSetup() {
  try {
    const res = await request("GET", "/admin/api/setup");
    $("login-setup").hidden = !res.needed;
  } catch {
    $("login-setup").hidden = true;
  }
}

async function login(ev) {
  ev.preventDefault();
  await logIn($("login-name").value.trim(), $("login-password").value);
}

/** logIn starts a session as name and opens the page asked for. */
async function logIn(name, password) {
  if (!name || !password) {
    showError("login-error", "Enter the account and the password.", ...(name ? [] : ["login-name"]), ...(password ? [] : ["login-password"]));
    return;
  }
  showError("login-error", "", "login-name", "login-password");
  try {
    const res = await busy($("login-submit"), request("POST", "/admin/api/login", { name, password }));
    if (!res || !res.csrf) {
      throw new ApiError(500, "The server did not return a session token.");
    }
    setCsrfToken(res.csrf);
    $("login-password").value = "";
    flash("");
    go(base + afterLogin, true);
  } catch (err) {
    let msg = err.detail || String(err);
    if (err.status === 401) {
      msg = "Wrong account or password.";
    } else if (err.status === 429) {
      msg = `Too many attempts. Try again in ${err.retryAfter || "a few"} seconds.`;
    }
    showError("login-error", msg, "login-name", "login-password");
    $("login-password").select();
  }
}

async function logout() {
  try {
    await request("POST", "/admin/api/logout");
  } catch (err) {
    // The session is forgotten here either way; say so if the server did
    // not confirm.
    if (err.status !== 401) {
      flash(`Logged out here; the server said: ${err.detail}`);
    }
  }
  setCsrfToken("");
  go(base + "login", true);
}

/** resume takes over the session of the cookie, if it is live, in a tab
 * that has no CSRF token yet (a new tab, a reopened browser). */
async function resume() {
  if (csrfToken()) {
    return;
  }
  try {
    const res = await request("GET", "/admin/api/session");
    if (res && res.csrf) {
      setCsrfToken(res.csrf);
    }
  } catch {
    // No live session: the login page is shown.
  }
}

async function start() {
  whenUnauthorized(() => {
    if (csrfToken()) {
      setCsrfToken("");
      flash("Your session has ended. Log in again.");
      afterLogin = pageOf(location.pathname);
      go(base + "login", true);
    }
  });
  $("login-form").addEventListener("submit", login);
  // The setup page creates the first account, then logs in with it.
  document.addEventListener("presenced:login", (ev) => {
    $("login-name").value = ev.detail.name;
    logIn(ev.detail.name, ev.detail.password);
  });
  $("logout").addEventListener("click", logout);
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[href^='/admin/']");
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
      return;
    }
    ev.preventDefault();
    flash("");
    go(a.pathname, true);
  });
  addEventListener("popstate", () => go(location.pathname, false));
  await resume();
  go(location.pathname, false);
}

start();
