// The limits form: one field per limit of a tenant's spec (JSON names as
// in the API). An empty field, like 0, means the limit's default; a
// negative quota means no limit where the API allows it. The API
// validates what is sent, as for the CLI's `tenant update`.

import { h } from "./dom.js";

// fields: name, label, kind ("int", "float", "choice", "bool", "versions").
export const limitFields = [
  ["max_connections", "Max connections", "int"],
  ["max_connects_per_second", "Max connects per second", "float"],
  ["max_client_messages_per_second", "Max messages per second per client", "float"],
  ["max_client_bytes_per_second", "Max bytes per second per client", "float"],
  ["max_messages_per_second", "Max messages per second (tenant)", "float"],
  ["max_bytes_per_second", "Max bytes per second (tenant)", "float"],
  ["max_subscriptions_per_client", "Max subscriptions per client", "int"],
  ["max_subscription_bytes", "Max subscription bytes per client", "int"],
  ["max_retained_messages", "Max retained messages", "int"],
  ["max_retained_bytes", "Max retained bytes", "int"],
  ["max_packet_size", "Max packet size (bytes)", "int"],
  ["max_inflight", "Max in-flight per client", "int"],
  ["max_queued_messages", "Max queued messages per session", "int"],
  ["max_queued_bytes", "Max queued bytes per session", "int"],
  ["max_outbound_bytes", "Max outbound bytes per client", "int"],
  ["slow_consumer_wait_ms", "Slow consumer wait (ms)", "int"],
  ["max_memory", "Memory budget (bytes)", "int"],
  ["max_session_expiry", "Max session expiry (s)", "int"],
  ["min_keepalive", "Min keep alive (s)", "int"],
  ["max_keepalive", "Max keep alive (s)", "int"],
  ["max_qos", "Max QoS", "int"],
  ["protocol_versions", "Protocol versions (e.g. 4,5)", "versions"],
  ["cluster_ack", "Cluster acknowledgement", "choice"],
  ["persistence", "Persistence", "choice"],
  ["retain", "Retained messages", "bool"],
  ["wildcard_subscriptions", "Wildcard subscriptions", "bool"],
  ["shared_subscriptions", "Shared subscriptions", "bool"],
].map(([name, label, kind]) => ({ name, label, kind }));

// choices are the values of the "choice" limits, their default first.
const choices = {
  cluster_ack: ["all", "local"],
  persistence: ["default", "sync", "off"],
};

// limitInputs builds the form's fields.
export function limitInputs() {
  return limitFields.map((f) => {
    const id = "limit-" + f.name;
    let input;
    if (f.kind === "bool") {
      input = h("select", { id, name: f.name }, h("option", { value: "" }, "default (on)"),
        h("option", { value: "true" }, "on"), h("option", { value: "false" }, "off"));
    } else if (f.kind === "choice") {
      const values = choices[f.name];
      input = h("select", { id, name: f.name }, h("option", { value: "" }, `default (${values[0]})`),
        ...values.map((v) => h("option", { value: v }, v)));
    } else if (f.kind === "versions") {
      input = h("input", { id, name: f.name, placeholder: "default (3,4,5)", autocomplete: "off" });
    } else {
      input = h("input", { id, name: f.name, type: "number", step: f.kind === "int" ? "1" : "any", placeholder: "default" });
    }
    return h("label", null, f.label, input);
  });
}

// fillLimits shows limits (a spec's "limits" object) in the form.
export function fillLimits(form, limits) {
  for (const f of limitFields) {
    const v = limits[f.name];
    const el = form.elements[f.name];
    if (v === undefined || v === null || v === 0) el.value = "";
    else if (f.kind === "versions") el.value = v.join(",");
    else el.value = String(v);
  }
}

// readLimits returns limits with the form's values in place of the
// fields it shows (other fields are kept), or throws an Error naming a
// field it cannot read.
export function readLimits(form, limits) {
  const out = { ...limits };
  for (const f of limitFields) {
    const raw = form.elements[f.name].value.trim();
    delete out[f.name];
    if (raw === "") continue;
    switch (f.kind) {
      case "bool":
        out[f.name] = raw === "true";
        break;
      case "choice":
        out[f.name] = raw;
        break;
      case "versions": {
        const vs = raw.split(/[\s,]+/).filter(Boolean).map(Number);
        if (vs.some((v) => !Number.isInteger(v))) throw new Error(`${f.label}: want protocol levels such as 3,4,5`);
        out[f.name] = vs;
        break;
      }
      default:
        out[f.name] = Number(raw);
    }
  }
  return out;
}
