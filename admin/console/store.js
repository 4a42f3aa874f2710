// The console's model: what the last poll of the admin API returned, and
// the live figures derived from it. Rates are computed here from the
// counters' deltas between two polls (a counter that went down, as after
// a node restart, gives no rate for that interval). "In" is what clients
// published on a node; "out" what the node sent to its clients.

import { api, tenantPath } from "./api.js";
import { History } from "./plot.js";

// statusConcurrency bounds the tenant status requests in flight.
const statusConcurrency = 6;

export class Store {
  constructor() {
    this.clear();
  }

  // clear forgets everything (when the token is refused).
  clear() {
    this.members = [];
    this.self = "";
    this.tenants = [];
    this.status = new Map(); // tenant → [NodeStatus]
    this.figures = new Map(); // tenant → figures (see tenantFigures)
    this.tenantHistory = new Map(); // tenant → History of connections, in, out
    this.nodeHistory = new Map(); // node → History of connections, in, out
    this.prev = new Map(); // "tenant/node" → {t, in, out}
    this.updated = 0;
  }

  // refresh polls the members, the tenants and every tenant's status.
  async refresh() {
    const [members, tenants] = await Promise.all([
      api("GET", "/v1/cluster/members"),
      api("GET", "/v1/tenants"),
    ]);
    const status = new Map();
    const times = new Map();
    const queue = tenants.map((t) => t.name);
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        status.set(name, await api("GET", tenantPath(name, "status")));
        times.set(name, Date.now());
      }
    };
    await Promise.all(Array.from({ length: Math.min(statusConcurrency, queue.length) }, worker));

    this.members = members;
    this.self = (members.find((m) => m.self) || {}).id || "";
    this.tenants = tenants;
    this.status = status;
    this.updated = Date.now();
    this.derive(times);
  }

  // derive computes each tenant's and each node's figures and rates, and
  // appends them to the histories.
  derive(times) {
    const now = this.updated;
    const nodes = new Map(this.members.map((m) => [m.id, { connections: 0, in: 0, out: 0, rated: false, tenants: 0 }]));
    const seen = new Set();
    const figures = new Map();
    for (const t of this.tenants) {
      const f = { connections: 0, in: null, out: null, refusals: 0, dropped: 0, nodes: new Map() };
      for (const st of this.status.get(t.name) || []) {
        const key = t.name + "/" + st.node;
        seen.add(key);
        if (st.error) {
          f.nodes.set(st.node, { in: null, out: null });
          continue;
        }
        const tm = times.get(t.name) || now;
        const prev = this.prev.get(key);
        const msgsIn = clientMessagesIn(st);
        let rin = null, rout = null;
        if (prev && tm > prev.t && msgsIn >= prev.in && st.messages_out >= prev.out) {
          const dt = (tm - prev.t) / 1000;
          rin = (msgsIn - prev.in) / dt;
          rout = (st.messages_out - prev.out) / dt;
        }
        this.prev.set(key, { t: tm, in: msgsIn, out: st.messages_out });
        f.nodes.set(st.node, { in: rin, out: rout });
        f.connections += st.connections;
        f.dropped += st.dropped;
        for (const n of Object.values(st.refusals || {})) f.refusals += n;
        if (rin !== null) {
          f.in = (f.in || 0) + rin;
          f.out = (f.out || 0) + rout;
        }
        let nd = nodes.get(st.node);
        if (!nd) nodes.set(st.node, (nd = { connections: 0, in: 0, out: 0, rated: false, tenants: 0 }));
        nd.tenants++;
        nd.connections += st.connections;
        if (rin !== null) {
          nd.in += rin;
          nd.out += rout;
          nd.rated = true;
        }
      }
      figures.set(t.name, f);
      history(this.tenantHistory, t.name).push(now, { connections: f.connections, in: f.in, out: f.out });
    }
    for (const key of [...this.prev.keys()]) if (!seen.has(key)) this.prev.delete(key);
    for (const name of [...this.tenantHistory.keys()]) if (!figures.has(name)) this.tenantHistory.delete(name);
    for (const [id, nd] of nodes) {
      const known = nd.rated || nd.tenants === 0;
      history(this.nodeHistory, id).push(now, {
        connections: nd.connections,
        in: known ? nd.in : null,
        out: known ? nd.out : null,
      });
    }
    this.figures = figures;
  }

  tenant(name) {
    return this.tenants.find((t) => t.name === name);
  }
}

// clientMessagesIn is what a node's clients published: its messages_in
// less the messages other nodes forwarded to it (counted there already),
// so that a tenant's total counts every message once.
function clientMessagesIn(st) {
  let forwarded = 0;
  for (const p of Object.values(st.peers || {})) forwarded += p.forwarded_in || 0;
  return st.messages_in - forwarded;
}

function history(map, key) {
  let h = map.get(key);
  if (!h) map.set(key, (h = new History()));
  return h;
}
