// The overview: the cluster's members, the live plots of one node, the
// tenants table (sortable, filterable) and the form that creates a tenant.

import { api } from "./api.js";
import { h, $, fmtRate, fmtInt, showMsg } from "./dom.js";
import { renderPlot, sparkline } from "./plot.js";

const memberColumns = ["ID", "Role", "Voter", "Health", "Gossip", "Link", "Admin API", "Raft", "Gossip address", "Link address"];

// tenantColumns are the tenants table's columns: key (also the sort key),
// header, and whether a larger value sorts first.
const tenantColumns = [
  { key: "name", label: "Tenant" },
  { key: "listeners", label: "Listeners per node" },
  { key: "connections", label: "Connections", desc: true },
  { key: "in", label: "In/s", desc: true },
  { key: "out", label: "Out/s", desc: true },
  { key: "refusals", label: "Refusals", desc: true },
  { key: "dropped", label: "Dropped", desc: true },
  { key: "trend", label: "Messages in, last 5 min", nosort: true },
];

export class Overview {
  constructor(ctx) {
    this.ctx = ctx;
    this.node = "";
    this.sort = { key: "name", desc: false };
    this.filter = "";
  }

  // mount builds the view's skeleton into main.
  mount(main) {
    main.replaceChildren(
      h("section", { class: "card", id: "cluster" },
        h("h2", null, "Cluster"),
        h("table", { id: "members" },
          h("thead", null, h("tr", null, memberColumns.map((c) => h("th", null, c)))),
          h("tbody"))),
      h("section", { class: "card" },
        h("h2", null, "Node ", h("select", { id: "node-select", "aria-label": "Node", onchange: (e) => {
          this.node = e.target.value;
          this.update(this.ctx.store);
        } }), h("span", { class: "muted small" }, " all tenants, as this node serves them")),
        h("div", { class: "plots" },
          h("figure", { class: "plot", id: "plot-node-connections" }),
          h("figure", { class: "plot", id: "plot-node-messages" }))),
      h("section", { class: "card", id: "tenants-card" },
        h("h2", null, "Tenants ", h("span", { id: "tenant-count", class: "muted small" })),
        h("div", { class: "toolbar" },
          h("input", { id: "tenant-filter", type: "search", placeholder: "Filter by tenant, node or address",
            "aria-label": "Filter tenants", value: this.filter, oninput: (e) => {
              this.filter = e.target.value.trim().toLowerCase();
              this.update(this.ctx.store);
            } })),
        h("table", { id: "tenants" },
          h("thead", null, h("tr", null, tenantColumns.map((c) => h("th", { "data-key": c.key, class: c.desc ? "num" : null },
            c.nosort ? c.label : h("button", { type: "button", class: "sort", "data-sort": c.key,
              onclick: () => this.sortBy(c) }, c.label))))),
          h("tbody"))),
      this.createForm(),
    );
  }

  createForm() {
    const submit = async (e) => {
      e.preventDefault();
      const msg = $("create-tenant-msg");
      const name = $("new-tenant-name").value.trim();
      const spec = {
        name,
        listeners: { mqtt: port($("new-tenant-mqtt").value), ws: port($("new-tenant-ws").value) },
        auth: { allow_anonymous: $("new-tenant-anon").checked },
        limits: {},
      };
      const maxConn = $("new-tenant-maxconn").value.trim();
      if (maxConn !== "") spec.limits.max_connections = Number(maxConn);
      showMsg(msg, "Creating…", true);
      try {
        await api("POST", "/v1/tenants", { body: spec });
        showMsg(msg, `Tenant ${name} created.`, true);
        e.target.reset();
        this.ctx.navigate("#/tenants/" + encodeURIComponent(name));
      } catch (err) {
        showMsg(msg, err.message, false);
      }
    };
    return h("section", { class: "card" },
      h("h2", null, "Create a tenant"),
      h("form", { id: "create-tenant", class: "form-grid", onsubmit: submit },
        h("label", null, "Name", h("input", { id: "new-tenant-name", required: true, autocomplete: "off",
          placeholder: "plant1" })),
        h("label", null, "MQTT port", h("input", { id: "new-tenant-mqtt", value: "auto", placeholder: "auto, off or a number" })),
        h("label", null, "WebSocket port", h("input", { id: "new-tenant-ws", value: "auto", placeholder: "auto, off or a number" })),
        h("label", null, "Max connections", h("input", { id: "new-tenant-maxconn", type: "number", step: "1",
          placeholder: "default (10000)" })),
        h("label", { class: "check" }, h("input", { id: "new-tenant-anon", type: "checkbox" }), "Allow anonymous clients"),
        h("button", { type: "submit", id: "create-tenant-submit" }, "Create tenant")),
      h("p", { id: "create-tenant-msg", class: "msg", role: "status" }),
      h("p", { class: "muted small" }, "Users, ACL rules and the other limits are set on the tenant's page once it exists."));
  }

  sortBy(c) {
    this.sort = this.sort.key === c.key ? { key: c.key, desc: !this.sort.desc } : { key: c.key, desc: !!c.desc };
    this.update(this.ctx.store);
  }

  update(store) {
    this.renderMembers(store);
    this.renderNode(store);
    this.renderTenants(store);
  }

  renderMembers(store) {
    $("members").tBodies[0].replaceChildren(...store.members.map((m) => h("tr", {
      "data-member": m.id, "data-healthy": String(m.healthy), "data-role": m.role, "data-gossip": m.gossip || "",
      "data-link": m.link || "",
    },
      h("td", null, m.id, m.self ? h("span", { class: "tag" }, "this node") : null),
      h("td", null, m.role),
      h("td", null, m.voter ? "yes" : "no"),
      h("td", null, h("span", { class: m.healthy ? "badge good" : "badge bad" }, m.healthy ? "healthy" : "unreachable")),
      h("td", null, state(m.gossip, ["alive"], ["dead", "left", "suspect"])),
      h("td", null, state(m.link, ["up", "self"], ["down"])),
      h("td", { class: "mono" }, m.admin_addr || "–"),
      h("td", { class: "mono" }, m.raft_addr || "–"),
      h("td", { class: "mono" }, m.gossip_addr || "–"),
      h("td", { class: "mono" }, m.cluster_addr || "–"))));
  }

  renderNode(store) {
    const sel = $("node-select");
    const ids = store.members.map((m) => m.id);
    if (!this.node || !ids.includes(this.node)) this.node = store.self || ids[0] || "";
    if (sel.options.length !== ids.length || [...sel.options].some((o, i) => o.value !== ids[i])) {
      sel.replaceChildren(...ids.map((id) => h("option", { value: id }, id + (id === store.self ? " (this node)" : ""))));
    }
    sel.value = this.node;
    const hist = store.nodeHistory.get(this.node);
    if (!hist) return;
    renderPlot($("plot-node-connections"), "Connections", hist, [{ key: "connections", label: "connections", integer: true }], store.updated);
    renderPlot($("plot-node-messages"), "Messages per second", hist,
      [{ key: "in", label: "in" }, { key: "out", label: "out" }], store.updated);
  }

  renderTenants(store) {
    const rows = store.tenants.map((t) => {
      const f = store.figures.get(t.name) || {};
      const listeners = t.nodes.map((n) => ({
        node: n.node,
        text: Object.keys(n.listeners).sort().map((k) => `${k} ${n.listeners[k]}`).join(", ") || (n.error ? "error" : "none"),
        error: n.error,
      }));
      return { t, f, listeners, search: [t.name, ...listeners.map((l) => l.node + " " + l.text)].join(" ").toLowerCase() };
    }).filter((r) => !this.filter || r.search.includes(this.filter));
    const val = (r, key) => key === "name" ? r.t.name : key === "listeners" ? r.listeners.map((l) => l.node).join(",") : r.f[key] ?? -1;
    const { key, desc } = this.sort;
    rows.sort((a, b) => {
      const va = val(a, key), vb = val(b, key);
      const c = typeof va === "string" ? va.localeCompare(vb) : va - vb;
      return (desc ? -c : c) || a.t.name.localeCompare(b.t.name);
    });
    for (const th of $("tenants").tHead.rows[0].cells) {
      th.setAttribute("aria-sort", th.dataset.key === key ? (desc ? "descending" : "ascending") : "none");
    }
    $("tenant-count").textContent = `${rows.length} of ${store.tenants.length}`;
    $("tenants").tBodies[0].replaceChildren(...rows.map(({ t, f, listeners }) => h("tr", { "data-tenant": t.name },
      h("td", null, h("a", { href: "#/tenants/" + encodeURIComponent(t.name) }, t.name)),
      h("td", { class: "mono small" }, listeners.length ? listeners.map((l) => h("div", { class: l.error ? "bad-text" : null,
        title: l.error || null }, h("b", null, l.node), " ", l.text)) : h("span", { class: "muted" }, "not bound yet")),
      h("td", { class: "num", "data-col": "connections" }, fmtInt(f.connections)),
      h("td", { class: "num", "data-col": "in" }, fmtRate(f.in)),
      h("td", { class: "num", "data-col": "out" }, fmtRate(f.out)),
      h("td", { class: "num", "data-col": "refusals" }, fmtInt(f.refusals)),
      h("td", { class: "num", "data-col": "dropped" }, fmtInt(f.dropped)),
      h("td", null, store.tenantHistory.get(t.name) ? sparkline(store.tenantHistory.get(t.name), "in", store.updated) : null))));
    if (!rows.length) {
      $("tenants").tBodies[0].append(h("tr", null, h("td", { colspan: tenantColumns.length, class: "muted" },
        store.tenants.length ? "No tenant matches the filter." : "No tenants yet: create one below.")));
    }
  }
}

// port is a listener's port as the spec takes it: a number, or a word
// ("auto", "off") the API validates.
export function port(v) {
  v = v.trim();
  return /^\d+$/.test(v) ? Number(v) : v;
}

// state shows a gossip or link state, coloured good or bad.
function state(v, good, bad) {
  const cls = good.includes(v) ? "good-text" : bad.includes(v) ? "bad-text" : "muted";
  return h("span", { class: cls }, v || "unknown");
}
