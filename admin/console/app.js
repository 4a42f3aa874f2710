// The jmqx web console: a single page over the admin API. It polls the API
// every few seconds, shows the overview (#/) or a tenant's page
// (#/tenants/NAME), and asks for the admin token when the API answers 401.

import { api, ApiError, getToken, setToken } from "./api.js";
import { $, showMsg } from "./dom.js";
import { Store } from "./store.js";
import { Overview } from "./overview.js";
import { TenantPage } from "./tenant.js";

// pollMs is the refresh period of the figures and plots (longer when a
// refresh takes more than half of it).
const pollMs = 2000;

class App {
  constructor() {
    this.store = new Store();
    this.view = null;
    this.timer = 0;
    this.polling = false;
    this.signedOut = false;
    this.overview = new Overview(this);
  }

  start() {
    window.addEventListener("hashchange", () => this.route());
    $("login-form").addEventListener("submit", (e) => this.signIn(e));
    $("forget-token").addEventListener("click", () => {
      setToken("");
      this.unauthorized(null);
    });
    $("forget-token").hidden = !getToken();
    this.route();
    this.poll();
  }

  // route mounts the view the location's hash names.
  route() {
    const m = /^#\/tenants\/([^/]+)$/.exec(location.hash);
    this.view = m ? new TenantPage(this, decodeURIComponent(m[1])) : this.overview;
    this.view.mount($("main"));
    if (this.store.updated) this.view.update(this.store);
    window.scrollTo(0, 0);
  }

  navigate(hash) {
    if (location.hash === hash) this.route();
    else location.hash = hash;
    this.refreshNow();
  }

  // poll refreshes the store and the view, then schedules the next poll.
  async poll() {
    clearTimeout(this.timer);
    if (this.polling || this.signedOut) return;
    this.polling = true;
    const started = Date.now();
    try {
      await this.store.refresh();
      this.setStatus("ok", "updated " + new Date(this.store.updated).toLocaleTimeString());
      $("node-name").textContent = this.store.self ? "node " + this.store.self : "";
      $("main").hidden = false;
      this.banner("");
      this.view.update(this.store);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.unauthorized(err);
        return;
      }
      this.setStatus("error", "not updated");
      this.banner(err.message);
    } finally {
      this.polling = false;
    }
    // A refresh that took long (many tenants, a slow node) waits as long
    // again before the next, so the console never keeps the API busy.
    if (!this.signedOut) this.timer = setTimeout(() => this.poll(), Math.max(pollMs, 2 * (Date.now() - started)));
  }

  refreshNow() {
    if (!this.polling) this.poll();
  }

  // unauthorized hides every figure and asks for the token. err is the
  // API's 401, null when the operator forgot the token.
  unauthorized(err) {
    clearTimeout(this.timer);
    this.signedOut = true;
    this.store.clear();
    $("main").replaceChildren();
    $("main").hidden = true;
    $("node-name").textContent = "";
    $("forget-token").hidden = true;
    this.banner("");
    this.setStatus("locked", "token required");
    const msg = $("login-msg");
    if (err && getToken()) {
      showMsg(msg, "The node refused the token this tab had (it changed?): enter the current one.", false);
      setToken("");
    } else {
      showMsg(msg, "", true);
    }
    $("login").hidden = false;
    $("token").focus();
  }

  async signIn(e) {
    e.preventDefault();
    const token = $("token").value.trim();
    const msg = $("login-msg");
    try {
      await api("GET", "/v1/cluster/members", { token });
    } catch (err) {
      if (err.status === 401) {
        showMsg(msg, "Wrong token: the node refused it. Copy it again from the file admin-token in the node's data directory.", false);
      } else {
        showMsg(msg, err.message, false);
      }
      $("token").select();
      return;
    }
    setToken(token);
    $("token").value = "";
    showMsg(msg, "", true);
    $("login").hidden = true;
    $("forget-token").hidden = false;
    this.signedOut = false;
    this.route();
    this.poll();
  }

  // flash shows a message above the view until the next poll error.
  flash(text) {
    this.banner(text, true);
  }

  banner(text, ok) {
    const b = $("banner");
    if (!text && b.dataset.kind === "ok" && Date.now() - Number(b.dataset.at) < 6000) return;
    b.hidden = !text;
    b.textContent = text;
    b.dataset.kind = ok ? "ok" : "error";
    b.dataset.at = String(Date.now());
  }

  setStatus(state, text) {
    const s = $("status");
    s.dataset.state = state;
    s.textContent = text;
  }
}

new App().start();
