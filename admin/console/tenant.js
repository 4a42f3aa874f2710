// A tenant's page: its live figures per node and plots, refusals by
// reason with their meaning, users (add, remove), ACL, listeners and
// limits (change), and delete.

import { api, tenantPath } from "./api.js";
import { h, $, fmtRate, fmtInt, showMsg } from "./dom.js";
import { renderPlot } from "./plot.js";
import { parseReason } from "./reasons.js";
import { limitInputs, fillLimits, readLimits } from "./limits.js";

const listenerKinds = ["mqtt", "mqtts", "ws", "wss"];

export class TenantPage {
  constructor(ctx, name) {
    this.ctx = ctx;
    this.name = name;
    this.base = null; // the tenant view the limits form was filled from
    this.loading = false;
    this.usersAt = 0;
  }

  mount(main) {
    const name = this.name;
    main.replaceChildren(
      h("p", null, h("a", { href: "#/" }, "← Overview")),
      h("div", { class: "title-row" },
        h("h1", null, "Tenant ", h("span", { id: "tenant-name" }, name)),
        h("button", { type: "button", id: "delete-tenant", class: "danger", onclick: (e) => this.deleteTenant(e.target) },
          "Delete tenant")),
      h("p", { id: "tenant-msg", class: "msg", role: "status" }),
      h("section", { class: "card" },
        h("h2", null, "Live figures"),
        h("table", { id: "tenant-nodes" }, h("thead", null, h("tr", null,
          ["Node", ...listenerKinds.map((k) => k.toUpperCase())].map((c) => h("th", null, c)),
          ["Connections", "Sessions", "Subscriptions", "Retained", "In/s", "Out/s", "Dropped", "Remote routes"]
            .map((c) => h("th", { class: "num" }, c)), h("th", null, "State"))), h("tbody")),
        h("div", { class: "plots" },
          h("figure", { class: "plot", id: "plot-tenant-connections" }),
          h("figure", { class: "plot", id: "plot-tenant-messages" }))),
      h("section", { class: "card" },
        h("h2", null, "Refusals by reason"),
        h("table", { id: "refusals" }, h("thead", null, h("tr", null,
          ["Code", "Reason", "Count", "Per node", "What it means"].map((c) => h("th", null, c)))), h("tbody"))),
      h("section", { class: "card" },
        h("h2", null, "Users"),
        h("table", { id: "users" }, h("thead", null, h("tr", null,
          h("th", null, "User"), h("th", { class: "num" }, "Passwords"), h("th"))), h("tbody")),
        h("form", { id: "add-user", class: "form-grid", autocomplete: "off", onsubmit: (e) => this.addUser(e) },
          h("label", null, "User name", h("input", { id: "user-name", required: true, autocomplete: "off" })),
          h("label", null, "Password", h("input", { id: "user-password", type: "password", required: true,
            autocomplete: "new-password" })),
          h("button", { type: "submit", id: "add-user-submit" }, "Add user")),
        h("p", { id: "user-msg", class: "msg", role: "status" }),
        h("p", { class: "muted small" }, "The password goes to the admin API, which stores only its hash; it is never shown again. ",
          "Clients connected as a removed user are disconnected.")),
      h("section", { class: "card" },
        h("h2", null, "Access"),
        h("div", { id: "spec-auth" }),
        h("h3", null, "ACL rules ", h("span", { class: "muted small" }, "the first rule that applies decides")),
        h("table", { id: "acl" }, h("thead", null, h("tr", null,
          ["#", "Action", "Access", "Topic", "User"].map((c) => h("th", null, c)))), h("tbody")),
        h("p", { id: "acl-default" })),
      h("section", { class: "card" },
        h("h2", null, "Listeners"),
        h("div", { id: "spec-listeners" })),
      h("section", { class: "card" },
        h("h2", null, "Limits"),
        h("form", { id: "limits-form", class: "form-grid limits", onsubmit: (e) => this.saveLimits(e) },
          limitInputs(),
          h("div", { class: "buttons" },
            h("button", { type: "submit", id: "limits-submit" }, "Save limits"),
            h("button", { type: "button", class: "secondary", onclick: () => this.loadLimits(true) }, "Reload"))),
        h("p", { id: "limits-msg", class: "msg", role: "status" }),
        h("p", { class: "muted small" }, "Empty or 0 means the default; a negative quota means no limit.")),
    );
  }

  update(store) {
    const t = store.tenant(this.name);
    if (!t) {
      showMsg($("tenant-msg"), `Tenant ${this.name} does not exist (any more).`, false);
      return;
    }
    if (!this.base && !this.loading) this.loadLimits(false);
    if (Date.now() - this.usersAt > 10000) this.loadUsers();
    this.renderSpec(t.spec);
    this.renderNodes(store, t);
    const hist = store.tenantHistory.get(this.name);
    if (hist) {
      renderPlot($("plot-tenant-connections"), "Connections", hist, [{ key: "connections", label: "connections", integer: true }], store.updated);
      renderPlot($("plot-tenant-messages"), "Messages per second", hist,
        [{ key: "in", label: "in" }, { key: "out", label: "out" }], store.updated);
    }
    this.renderRefusals(store.status.get(this.name) || []);
  }

  renderNodes(store, t) {
    const f = store.figures.get(this.name);
    const bound = new Map(t.nodes.map((n) => [n.node, n.listeners]));
    $("tenant-nodes").tBodies[0].replaceChildren(...(store.status.get(this.name) || []).map((st) => {
      const listeners = Object.keys(st.listeners).length ? st.listeners : bound.get(st.node) || {};
      const r = (f && f.nodes.get(st.node)) || {};
      return h("tr", { "data-node": st.node },
        h("td", null, st.node),
        listenerKinds.map((k) => h("td", { class: "mono", "data-listener": k }, listeners[k] || "–")),
        [["connections", st.connections], ["sessions", st.sessions], ["subscriptions", st.subscriptions],
          ["retained", st.retained]].map(([k, v]) => h("td", { class: "num", "data-col": k }, st.error ? "–" : fmtInt(v))),
        h("td", { class: "num", "data-col": "in" }, fmtRate(r.in)),
        h("td", { class: "num", "data-col": "out" }, fmtRate(r.out)),
        h("td", { class: "num", "data-col": "dropped" }, st.error ? "–" : fmtInt(st.dropped)),
        h("td", { class: "num", "data-col": "remote_routes" }, st.error ? "–" : fmtInt(st.remote_routes || 0)),
        h("td", { class: st.error ? "bad-text" : "good-text" }, st.error || "serving"));
    }));
  }

  renderRefusals(statuses) {
    const byReason = new Map();
    for (const st of statuses) {
      for (const [key, n] of Object.entries(st.refusals || {})) {
        const e = byReason.get(key) || { total: 0, nodes: [] };
        e.total += n;
        e.nodes.push(`${st.node}: ${fmtInt(n)}`);
        byReason.set(key, e);
      }
    }
    const rows = [...byReason.entries()].sort((a, b) => b[1].total - a[1].total).map(([key, e]) => {
      const r = parseReason(key);
      return h("tr", { "data-reason": r.code || key },
        h("td", { class: "mono" }, r.code), h("td", null, r.name), h("td", { class: "num" }, fmtInt(e.total)),
        h("td", { class: "small" }, e.nodes.join(", ")), h("td", { class: "small" }, r.meaning || "–"));
    });
    if (!rows.length) rows.push(h("tr", null, h("td", { colspan: 5, class: "muted" }, "Nothing refused since the nodes started.")));
    $("refusals").tBodies[0].replaceChildren(...rows);
  }

  renderSpec(spec) {
    const auth = spec.auth || {};
    $("spec-auth").replaceChildren(h("dl", null,
      h("dt", null, "Anonymous clients"), h("dd", null, auth.allow_anonymous ? "allowed" : "refused"),
      h("dt", null, "Certificate common names"), h("dd", null, (auth.certificate_cns || []).join(", ") || "none")));
    const acl = spec.acl || {};
    const rules = acl.rules || [];
    $("acl").tBodies[0].replaceChildren(...(rules.length ? rules.map((r, i) => h("tr", null,
      h("td", null, i), h("td", null, r.action), h("td", null, r.access || "all"), h("td", { class: "mono" }, r.topic),
      h("td", null, r.user || "every client"))) : [h("tr", null, h("td", { colspan: 5, class: "muted" }, "No rules."))]));
    $("acl-default").textContent = `When no rule applies: ${acl.default || "allow"}.`;
    const l = spec.listeners || {};
    $("spec-listeners").replaceChildren(h("dl", null,
      listenerKinds.map((k) => [h("dt", null, k.toUpperCase()), h("dd", null, String(l[k] ?? "default"))]),
      h("dt", null, "WebSocket path"), h("dd", null, l.ws_path || "/mqtt"),
      h("dt", null, "TLS"), h("dd", null, l.tls ? `certificate ${l.tls.cert_file}, client certificates ${l.tls.client_auth || "none"}` :
        "the node's certificate, when it has one")));
  }

  async loadUsers() {
    this.usersAt = Date.now();
    try {
      const users = await api("GET", tenantPath(this.name, "users"));
      this.renderUsers(users);
    } catch (err) {
      if (err.status === 401) return this.ctx.unauthorized(err);
      showMsg($("user-msg"), err.message, false);
    }
  }

  renderUsers(users) {
    const rows = users.map((u) => h("tr", { "data-user": u.name },
      h("td", null, u.name), h("td", { class: "num" }, u.credentials),
      h("td", null, h("button", { type: "button", class: "danger small", "data-remove": u.name,
        onclick: (e) => this.removeUser(e.target, u.name) }, "Remove"))));
    if (!rows.length) rows.push(h("tr", null, h("td", { colspan: 3, class: "muted" }, "No users.")));
    $("users").tBodies[0].replaceChildren(...rows);
  }

  async addUser(e) {
    e.preventDefault();
    const nameEl = $("user-name"), pwEl = $("user-password"), msg = $("user-msg");
    const user = nameEl.value.trim(), password = pwEl.value;
    pwEl.value = ""; // typed once, sent once, never kept
    try {
      await api("POST", tenantPath(this.name, "users"), { body: { name: user, password } });
      nameEl.value = "";
      showMsg(msg, `User ${user} added.`, true);
    } catch (err) {
      showMsg(msg, err.message, false);
    }
    this.loadUsers();
  }

  async removeUser(btn, user) {
    if (!confirmed(btn, "Confirm remove")) return;
    try {
      await api("DELETE", tenantPath(this.name, "users", user));
      showMsg($("user-msg"), `User ${user} removed.`, true);
    } catch (err) {
      showMsg($("user-msg"), err.message, false);
    }
    this.loadUsers();
  }

  async loadLimits(announce) {
    this.loading = true;
    try {
      this.base = await api("GET", tenantPath(this.name));
      fillLimits($("limits-form"), this.base.spec.limits || {});
      $("limits-form").dataset.revision = this.base.revision;
      if (announce) showMsg($("limits-msg"), "Reloaded.", true);
    } catch (err) {
      if (err.status === 401) return this.ctx.unauthorized(err);
      showMsg($("limits-msg"), err.message, false);
    } finally {
      this.loading = false;
    }
  }

  async saveLimits(e) {
    e.preventDefault();
    const msg = $("limits-msg");
    if (!this.base) return showMsg(msg, "The tenant's spec is not loaded yet.", false);
    let limits;
    try {
      limits = readLimits(e.target, this.base.spec.limits || {});
    } catch (err) {
      return showMsg(msg, err.message, false);
    }
    const spec = { ...this.base.spec, limits };
    try {
      this.base = await api("PUT", tenantPath(this.name), { body: spec, headers: { "If-Match": this.base.revision } });
      fillLimits(e.target, this.base.spec.limits || {});
      e.target.dataset.revision = this.base.revision;
      showMsg(msg, "Limits saved.", true);
      this.ctx.refreshNow();
    } catch (err) {
      showMsg(msg, err.message, false);
    }
  }

  async deleteTenant(btn) {
    if (!confirmed(btn, `Confirm: delete ${this.name} and disconnect its clients`)) return;
    try {
      await api("DELETE", tenantPath(this.name));
      this.ctx.flash(`Tenant ${this.name} deleted.`);
      this.ctx.navigate("#/");
    } catch (err) {
      showMsg($("tenant-msg"), err.message, false);
    }
  }
}

// confirmed turns a destructive button into its confirmation for a few
// seconds: the first click arms it, a second click within them confirms.
function confirmed(btn, label) {
  if (btn.dataset.armed === "true") return true;
  const text = btn.textContent;
  btn.dataset.armed = "true";
  btn.textContent = label;
  setTimeout(() => {
    btn.dataset.armed = "false";
    btn.textContent = text;
  }, 5000);
  return false;
}
