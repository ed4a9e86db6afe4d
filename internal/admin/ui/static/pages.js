// pages.js: the pages of the dashboard. Each has show() (load and start)
// and optionally hide() (stop polling).

import { request } from "./api.js";
import { $, el, showError, usageBar, busy } from "./dom.js";
import { Series, sparkline, draw } from "./chart.js";
import { checkSettings, diffSettings, splitDomains, domainProblem } from "./domains.js";

const pollMs = 2000;
const samples = 60; // two minutes of history at pollMs

// counts are the live numbers of the overview, in display order; rate ones
// are shown per second from the difference of two polls.
const counts = [
  { key: "client_subscriptions", name: "Client subscriptions" },
  { key: "watched_contacts", name: "Watched contacts" },
  { key: "backend_subscriptions", name: "Backend subscriptions" },
  { key: "stream_clients", name: "Stream clients" },
  { key: "deliveries", name: "Deliveries per second", rate: true },
];

const overview = {
  timer: 0,
  gen: 0, // bumped by show and hide, so that at most one poll loop runs
  cards: null, // key -> {value, svg, series}
  last: null, // {deliveries, at} of the previous poll

  show() {
    if (!this.cards) {
      this.build();
    }
    this.last = null;
    clearTimeout(this.timer);
    this.poll(++this.gen);
  },
  hide() {
    clearTimeout(this.timer);
    this.gen++;
  },
  build() {
    this.cards = {};
    for (const c of counts) {
      const value = el("div", { class: "value", id: `count-${c.key}` }, "–");
      const svg = sparkline(`${c.name}, last two minutes`);
      $("counts").append(el("div", { class: "count" }, el("div", { class: "name" }, c.name), value, svg));
      this.cards[c.key] = { value, svg, series: new Series(samples) };
    }
  },
  async poll(gen) {
    await Promise.all([this.stats(), health(), this.endpoints()]);
    if (gen === this.gen) {
      this.timer = setTimeout(() => this.poll(gen), pollMs);
    }
  },
  async stats() {
    try {
      const st = await request("GET", "/v1/admin/stats");
      showError("overview-error", "");
      const now = performance.now();
      for (const c of counts) {
        let v = Number(st[c.key] ?? (c.key === "stream_clients" ? st.streams : 0)) || 0;
        if (c.rate) {
          const prev = this.last;
          this.last = { deliveries: v, at: now };
          if (!prev) {
            continue; // a rate needs two polls
          }
          v = Math.max(0, (v - prev.deliveries) / ((now - prev.at) / 1000));
          v = Math.round(v * 10) / 10;
        }
        const card = this.cards[c.key];
        card.value.textContent = v.toLocaleString("en");
        card.series.push(v);
        draw(card.svg, card.series);
      }
      status("backend", st.backend);
      status("directory", st.directory);
    } catch (err) {
      showError("overview-error", `Live counts unavailable: ${err.detail}`);
    }
  },
  async endpoints() {
    try {
      const res = await request("GET", "/v1/admin/endpoints");
      const rows = (res.endpoints || []).map((e) =>
        el("div", { class: "usage" }, el("span", {}, e.id),
          usageBar(e.used, e.max, `${e.id}: ${e.used} of ${e.max} used`),
          el("span", {}, `${e.used} / ${e.max}`)));
      $("overview-endpoints").replaceChildren(...(rows.length ? rows : [el("p", { class: "hint" }, "No endpoints.")]));
    } catch (err) {
      $("overview-endpoints").replaceChildren(el("p", { class: "error" }, `Endpoints unavailable: ${err.detail}`));
    }
  },
};

/** health shows /readyz: 200 ready, 503 with the reason. */
async function health() {
  try {
    await request("GET", "/readyz");
    badge("health", "ready", true, "");
  } catch (err) {
    badge("health", err.status === 503 ? "unavailable" : "unknown", false, err.problem.reason || err.detail);
  }
}

/** status shows a component state {state, detail} of the stats, if any. */
function status(id, s) {
  if (!s) {
    badge(`${id}-status`, "not reported", null, "");
    return;
  }
  badge(`${id}-status`, s.state, s.state === "none" ? null : s.state === "up" || s.state === "ok", s.detail || "");
}

function badge(id, text, ok, detail) {
  const b = $(id);
  b.textContent = text;
  b.className = ok === null ? "badge" : ok ? "badge ok" : "badge bad";
  const d = $(id.replace(/-status$/, "") + "-detail");
  d.textContent = detail;
}

const settings = {
  current: null, // the settings the server last returned
  wired: false,

  async show() {
    if (!this.wired) {
      this.wire();
    }
    $("settings-result").replaceChildren();
    try {
      this.current = await request("GET", "/v1/admin/settings");
      this.fill(this.current);
    } catch (err) {
      this.result("error", `Could not load the settings: ${err.detail}`);
    }
  },
  wire() {
    this.wired = true;
    $("domains").addEventListener("input", () => this.chips());
    $("settings-test").addEventListener("click", () => this.test());
    $("settings-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
  },
  fill(s) {
    $("ttl").value = s.subscription_ttl;
    $("allowlist-enabled").checked = s.allowlist.enabled;
    $("domains").value = (s.allowlist.domains || []).join("\n");
    showError("ttl-error", "", "ttl");
    showError("domains-error", "", "domains");
    this.chips();
  },
  chips() {
    const list = splitDomains($("domains").value);
    const items = list.map((d, i) => {
      const bad = domainProblem(d) !== "";
      const remove = el("button", { type: "button", "aria-label": `Remove ${d}` }, "×");
      remove.addEventListener("click", () => this.removeChip(i));
      return el("li", { class: bad ? "bad" : undefined }, el("span", {}, d), remove);
    });
    $("chips").replaceChildren(...items);
  },
  removeChip(i) {
    const list = splitDomains($("domains").value);
    list.splice(i, 1);
    $("domains").value = list.join("\n");
    this.chips();
    const buttons = $("chips").querySelectorAll("button");
    (buttons[Math.min(i, buttons.length - 1)] || $("domains")).focus();
  },
  /** check validates the form, shows problems next to the fields, and
   * returns the settings to send, or null. */
  check() {
    const { settings: next, problems } = checkSettings($("ttl").value, $("allowlist-enabled").checked, $("domains").value);
    showError("ttl-error", problems.ttl, "ttl");
    showError("domains-error", problems.domains, "domains");
    if (problems.ttl || problems.domains) {
      (problems.ttl ? $("ttl") : $("domains")).focus();
      this.result("error", "Fix the fields marked above.");
      return null;
    }
    return next;
  },
  /** test checks the form in the browser, then asks the server for a
   * dry run, which applies its own rules and changes nothing. */
  async test() {
    const next = this.check();
    if (!next) {
      return;
    }
    try {
      const res = await busy($("settings-test"), request("PUT", "/v1/admin/settings?dry_run=1", next));
      const changes = diffSettings(res.before, res.after);
      this.result("hint", changes.length ? "Valid. Saving would make these changes:" : "Valid. Saving would change nothing.", changes);
    } catch (err) {
      this.refused("Not valid", err);
    }
  },
  async save() {
    const next = this.check();
    if (!next) {
      return;
    }
    try {
      const before = this.current;
      this.current = await busy($("settings-save"), request("PUT", "/v1/admin/settings", next));
      const changes = before ? diffSettings(before, this.current) : [];
      this.fill(this.current);
      this.result("hint", changes.length ? "Saved and applied:" : "Saved; nothing changed.", changes);
    } catch (err) {
      this.refused("Not saved", err);
    }
  },
  /** refused puts the server's reasons next to the fields they name. */
  refused(what, err) {
    const at = { subscription_ttl: ["ttl-error", "ttl"], "allowlist.domains": ["domains-error", "domains"] };
    const rest = [];
    for (const fe of err.problem.errors || []) {
      if (at[fe.field]) {
        showError(at[fe.field][0], fe.detail, at[fe.field][1]);
        $(at[fe.field][1]).focus();
      } else {
        rest.push(`${fe.field}: ${fe.detail}`);
      }
    }
    const shown = (err.problem.errors || []).length > rest.length;
    this.result("error", `${what}: ${shown && rest.length === 0 ? "fix the fields marked above." : rest.join("; ") || err.detail}`);
  },
  result(kind, text, items = []) {
    const list = items.length ? el("ul", { class: "diff" }, ...items.map((t) => el("li", {}, t))) : null;
    $("settings-result").replaceChildren(...[el("p", { class: kind }, text), list].filter(Boolean));
  },
};

const applyWaitMs = 60000;

const backend = {
  wired: false,
  form: null, // the last GET /admin/api/backend

  async show() {
    if (!this.wired) {
      this.wired = true;
      $("backend-test").addEventListener("click", () => this.test());
      $("backend-reset").addEventListener("click", () => this.reset());
      $("backend-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        this.save();
      });
    }
    showError("backend-error", "");
    try {
      this.render(await request("GET", "/admin/api/backend"));
    } catch (err) {
      showError("backend-error", `Could not load the backend configuration: ${err.detail}`);
    }
  },
  render(f) {
    this.form = f;
    $("backend-kind").textContent = `Configured backend: ${f.kind}`;
    const saved = f.saved_by ? `Last saved in the dashboard by ${f.saved_by}, ${new Date(f.saved_at).toLocaleString()}.` : "Nothing saved in the dashboard yet: the values come from the configuration.";
    $("backend-saved").textContent = saved;
    $("backend-reset").hidden = !f.saved_by;
    if (f.error) {
      showError("backend-error", f.error);
    }
    $("backend-sections").replaceChildren(...(f.sections || []).map((s) =>
      el("fieldset", {}, el("legend", {}, s.title), ...s.fields.flatMap((fd) => fieldControl(fd)))));
  },
  /** values returns the fields changed from what the server sent (a
   * secret only when something was typed). */
  values() {
    const out = {};
    for (const s of this.form?.sections || []) {
      for (const f of s.fields) {
        const input = $(fieldId(f.key));
        if (!input || f.read_only) {
          continue;
        }
        const v = f.type === "bool" ? String(input.checked) : f.type === "list" ? splitList(input.value).join("\n") : input.value.trim();
        if (f.type === "secret" ? v !== "" : v !== (f.type === "list" ? splitList(f.value).join("\n") : f.value)) {
          out[f.key] = v;
        }
      }
    }
    return out;
  },
  clearErrors() {
    for (const e of $("backend-sections").querySelectorAll(".error")) {
      e.textContent = "";
      e.hidden = true;
    }
    for (const e of $("backend-sections").querySelectorAll("[aria-invalid]")) {
      e.removeAttribute("aria-invalid");
    }
  },
  /** fieldErrors puts each of the server's field messages next to its
   * field and returns the rest. */
  fieldErrors(err) {
    const rest = [];
    let first = null;
    for (const fe of err.problem.errors || []) {
      const id = fieldId(fe.field);
      if ($(id) && $(`${id}-error`)) {
        showError(`${id}-error`, fe.detail, id);
        first = first || $(id);
      } else {
        rest.push(`${fe.field}: ${fe.detail}`);
      }
    }
    first?.focus();
    return rest;
  },
  async test() {
    this.clearErrors();
    $("backend-steps").replaceChildren();
    this.summary("", "Testing…");
    try {
      const res = await busy($("backend-test"), request("POST", "/admin/api/backend/test", { values: this.values() }));
      const steps = res.steps || [];
      const items = steps.map((s) =>
        el("li", { class: s.ok ? "ok" : "failed" },
          `${s.ok ? "✓" : "✗ Failed:"} ${s.name}`, s.detail ? ` — ${s.detail}` : "", ` (${s.duration_ms} ms)`));
      const failed = steps.find((s) => !s.ok);
      $("backend-steps").replaceChildren(...items);
      this.summary(failed ? "error" : "", failed ? `Test failed at “${failed.name}”.` : "All steps passed.");
    } catch (err) {
      this.failure("The test did not run", err);
    }
  },
  async save() {
    this.clearErrors();
    $("backend-steps").replaceChildren();
    const values = this.values();
    if (Object.keys(values).length === 0) {
      this.summary("", "Nothing to save: no field was changed.");
      return;
    }
    try {
      const res = await busy($("backend-save"), request("PUT", "/admin/api/backend", { values }));
      this.summary("", `Saved (${res.changed} field(s)). Applying…`);
      await this.waitApplied(res.generation);
    } catch (err) {
      this.failure("Not saved", err);
    }
  },
  /** reset forgets the values saved here: the file's apply again. The
   * first click arms it, a second within a few seconds confirms. */
  async reset() {
    const button = $("backend-reset");
    if (!this.armed) {
      this.armed = true;
      button.textContent = "Confirm: forget the saved values";
      this.summary("", "Click again to forget every backend value saved in the dashboard and apply the configuration file's.");
      this.disarm = setTimeout(() => this.unarm(), 8000);
      return;
    }
    this.unarm();
    this.clearErrors();
    $("backend-steps").replaceChildren();
    try {
      const res = await busy($("backend-reset"), request("DELETE", "/admin/api/backend"));
      this.summary("", "Saved values forgotten. Applying the configuration file's…");
      await this.waitApplied(res.generation);
    } catch (err) {
      this.failure("Not reset", err);
    }
  },
  unarm() {
    clearTimeout(this.disarm);
    this.armed = false;
    $("backend-reset").textContent = "Use the configuration file";
  },
  /** waitApplied polls the page until generation runs, or fails. */
  async waitApplied(gen) {
    const until = performance.now() + applyWaitMs;
    while (performance.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      let f;
      try {
        f = await request("GET", "/admin/api/backend");
      } catch (err) {
        if (err.status === 503 || err.status === 0) {
          continue; // between two generations
        }
        throw err;
      }
      if (f.error && f.pending <= f.generation) {
        this.render(f);
        this.summary("error", `Saved values were not applied: ${f.error}`);
        return;
      }
      if (f.generation >= gen) {
        this.render(f);
        this.summary("", "Saved and applied: the backend runs with the new settings.");
        return;
      }
    }
    this.summary("error", "Saved, but not applied within a minute; see the overview and the logs.");
  },
  failure(what, err) {
    const rest = err.status === 400 ? this.fieldErrors(err) : [err.detail];
    this.summary("error", `${what}: ${rest.length ? rest.join("; ") : "fix the fields marked above."}`);
  },
  summary(kind, text) {
    $("backend-summary").className = kind;
    $("backend-summary").textContent = text;
  },
};

/** fieldId is the element id of a backend field key. */
function fieldId(key) {
  return "f-" + key.replace(/[^A-Za-z0-9_-]/g, "-");
}

function splitList(s) {
  return String(s || "").split(/[\s,;]+/).filter(Boolean);
}

const originText = {
  file: "From the configuration file.",
  dashboard: "Saved in the dashboard.",
  flag: "Set by a command-line flag, which overrides the dashboard: change it there.",
};

/** fieldControl returns the label, input, hints and error slot of f. */
function fieldControl(f) {
  const id = fieldId(f.key);
  const described = [`${id}-hint`, `${id}-error`].join(" ");
  let input;
  switch (f.type) {
    case "choice":
      input = el("select", { id, name: f.key, disabled: f.read_only, "aria-describedby": described },
        ...(f.choices || []).map((c) => el("option", { value: c, selected: c === f.value }, c === "" ? "(default)" : c)));
      break;
    case "list":
      input = el("textarea", { id, name: f.key, rows: 3, spellcheck: "false", readonly: f.read_only, "aria-describedby": described });
      input.value = f.value;
      break;
    case "bool":
      input = el("input", { id, name: f.key, type: "checkbox", disabled: f.read_only, "aria-describedby": described });
      input.checked = f.value === "true";
      break;
    case "secret":
      input = el("input", { id, name: f.key, type: "password", autocomplete: "new-password", readonly: f.read_only,
        placeholder: f.set ? "set: leave empty to keep" : "not set", "aria-describedby": described });
      break;
    default:
      input = el("input", { id, name: f.key, type: f.type === "number" ? "number" : "text", inputmode: f.type === "number" ? "numeric" : undefined,
        spellcheck: "false", readonly: f.read_only, "aria-describedby": described });
      input.value = f.value;
  }
  const origin = f.origin ? originText[f.origin] || `Set by ${f.origin}, which overrides the dashboard: change it there.` : "Default value.";
  const hint = el("p", { id: `${id}-hint`, class: "hint" }, f.help ? `${f.help} ` : "", el("span", { class: "origin" }, origin));
  const error = el("p", { id: `${id}-error`, class: "error" });
  error.hidden = true;
  const label = el("label", { for: id }, f.label);
  if (f.type === "bool") {
    return [el("div", { class: "check" }, input, label), hint, error];
  }
  return [label, input, hint, error];
}

const setup = {
  wired: false,
  show() {
    if (this.wired) {
      return;
    }
    this.wired = true;
    $("setup-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.create();
    });
  },
  async create() {
    const token = $("setup-token").value.trim();
    const name = $("setup-name").value.trim();
    const password = $("setup-password").value;
    const errors = {
      "setup-token-error": token ? "" : "Enter the setup token from the console.",
      "setup-name-error": /^[A-Za-z0-9._@-]{1,64}$/.test(name) ? "" : "Use 1 to 64 letters, digits and . _ @ -.",
      "setup-password-error": password.length < 12 ? "Use at least 12 characters." : password !== $("setup-password2").value ? "The two passwords differ." : "",
    };
    const fields = { "setup-token-error": ["setup-token"], "setup-name-error": ["setup-name"], "setup-password-error": ["setup-password", "setup-password2"] };
    let first = null;
    for (const [id, msg] of Object.entries(errors)) {
      showError(id, msg, ...fields[id]);
      if (msg && !first) {
        first = $(fields[id][0]);
      }
    }
    showError("setup-error", "");
    if (first) {
      first.focus();
      return;
    }
    try {
      await busy($("setup-submit"), request("POST", "/admin/api/setup", { token, name, password }));
      document.dispatchEvent(new CustomEvent("presenced:login", { detail: { name, password } }));
    } catch (err) {
      if (err.status === 403) {
        showError("setup-token-error", "This setup token is wrong, used or expired (or an account exists already).", "setup-token");
        $("setup-token").focus();
      } else if (err.status === 400 && /password/i.test(err.detail)) {
        showError("setup-password-error", err.detail, "setup-password");
      } else if (err.status === 400) {
        showError("setup-name-error", err.detail, "setup-name");
      } else {
        showError("setup-error", `Not created: ${err.detail}`);
      }
    }
  },
};

const endpoints = {
  async show() {
    showError("endpoints-error", "");
    try {
      const res = await request("GET", "/v1/admin/endpoints");
      $("endpoints-rows").replaceChildren(...(res.endpoints || []).map((e) =>
        el("tr", {}, el("td", {}, e.id), el("td", {}, String(e.used)), el("td", {}, String(e.max)),
          el("td", {}, usageBar(e.used, e.max, `${Math.round((100 * e.used) / (e.max || 1))}% used`)))));
    } catch (err) {
      showError("endpoints-error", `Could not load the endpoints: ${err.detail}`);
    }
  },
};

const subscriptions = {
  wired: false,
  show() {
    if (this.wired) {
      return;
    }
    this.wired = true;
    $("subs-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.lookup();
    });
  },
  async lookup() {
    const user = $("subs-user").value.trim();
    if (!/^[^@\s]+@[^@\s]+$/.test(user)) {
      showError("subs-error", "Enter an email address such as ada@example.com.", "subs-user");
      $("subs-user").focus();
      return;
    }
    showError("subs-error", "", "subs-user");
    try {
      const res = await busy($("subs-lookup"), request("GET", `/v1/admin/subscriptions?user=${encodeURIComponent(user)}`));
      const subs = res.subscriptions || [];
      if (subs.length === 0) {
        $("subs-result").replaceChildren(el("p", {}, `${res.user} has no client subscriptions.`));
        return;
      }
      $("subs-result").replaceChildren(el("p", {}, `${res.user}: ${subs.length} subscription(s)`), ...subs.map(subCard));
    } catch (err) {
      showError("subs-error", err.detail, "subs-user");
      $("subs-result").replaceChildren();
    }
  },
};

function subCard(s) {
  const rows = (s.presence || []).map((p) =>
    el("tr", {}, el("td", {}, p.user), el("td", {}, p.availability), el("td", {}, String(p.code)),
      el("td", {}, [p.reason, p.activity, p.note].filter(Boolean).join(" · "))));
  return el("div", { class: "card" },
    el("h2", {}, `Subscription ${s.id}`),
    el("p", { class: "hint" }, `TTL ${s.ttl} s, expires ${new Date(s.expires_at).toLocaleString()}, sequence ${s.sequence}${s.push ? ", push on" : ""}`),
    el("table", {},
      el("caption", {}, "What each contact shows"),
      el("thead", {}, el("tr", {}, ...["Contact", "Availability", "Code", "Details"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows)));
}

const auditPageSize = 50;

const audit = {
  wired: false,
  oldest: "",
  async show() {
    if (!this.wired) {
      this.wired = true;
      $("audit-more").addEventListener("click", () => this.load(true));
    }
    await this.load(false);
  },
  async load(more) {
    showError("audit-error", "");
    const q = new URLSearchParams({ limit: auditPageSize });
    if (more && this.oldest) {
      q.set("before", this.oldest);
    }
    try {
      const res = await request("GET", `/admin/api/audit?${q}`);
      const entries = res.entries || [];
      const rows = entries.map((e) =>
        el("tr", {}, el("td", {}, new Date(e.at).toLocaleString()), el("td", {}, e.actor), el("td", {}, e.action),
          el("td", {}, e.target || ""), el("td", {}, json(e.before)), el("td", {}, json(e.after))));
      if (more) {
        $("audit-rows").append(...rows);
      } else {
        $("audit-rows").replaceChildren(...rows);
      }
      if (!more && entries.length === 0) {
        $("audit-rows").replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No changes recorded yet.")));
      }
      this.oldest = entries.length ? String(entries[entries.length - 1].id) : this.oldest;
      $("audit-more").hidden = entries.length < auditPageSize;
    } catch (err) {
      showError("audit-error", `Could not load the audit log: ${err.detail}`);
    }
  },
};

function json(v) {
  return v === undefined || v === null ? "" : el("pre", {}, JSON.stringify(v, null, 1));
}

/** pages maps each route below /admin/ to its page. */
export const pages = { setup, overview, settings, backend, endpoints, subscriptions, audit };
