// DOM helpers: elements are built node by node and text is set as text,
// never parsed as markup, so a tenant's user names and ACL topics are
// shown, never run.

// h creates an element. attrs: event handlers ("onclick": a function),
// the properties value and checked, and attributes (true: present);
// null, undefined and false leave an attribute out. children: nodes,
// strings, numbers, or nested arrays of them; null and false are skipped.
export function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value" || k === "checked") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// $ is document.getElementById.
export const $ = (id) => document.getElementById(id);

// fmtRate formats a per-second figure: "–" when unknown.
export function fmtRate(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// fmtInt formats a count with thousands separators.
export function fmtInt(v) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString("en-US");
}

// showMsg writes an action's outcome into el: an error (the API's message)
// or a success.
export function showMsg(el, text, ok) {
  el.textContent = text;
  el.classList.toggle("error", !ok);
  el.classList.toggle("ok", !!ok);
}
