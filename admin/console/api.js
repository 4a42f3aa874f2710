// The admin API client: same-origin fetches of /v1, with the admin token
// (kept in sessionStorage: this tab only, never a cookie or the URL) as
// "Authorization: Bearer". Writes send Content-Type: application/json, as
// the API's cross-site rules require.

const tokenKey = "jmqx-admin-token";

// ApiError is an answer other than 2xx: status and the API's message.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function getToken() {
  return sessionStorage.getItem(tokenKey) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(tokenKey, token);
  else sessionStorage.removeItem(tokenKey);
}

// api sends method path (under the page's origin) and returns the decoded
// answer (null for 204). opts: body (sent as JSON), token (instead of the
// stored one, to try a new token), headers (more request headers). It
// throws an ApiError with the API's message, or status 0 when the node is
// unreachable.
export async function api(method, path, opts = {}) {
  const { body, token } = opts;
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  const tok = token === undefined ? getToken() : token;
  if (tok) headers.Authorization = "Bearer " + tok;
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "cannot reach the node: " + e.message);
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(resp.status, `${method} ${path}: ${resp.status} ${resp.statusText}: not JSON`);
    }
  }
  if (!resp.ok) {
    const msg = data && data.error ? data.error : `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, msg);
  }
  return data;
}

// tenantPath is the API path of a tenant, with optional suffix segments.
export function tenantPath(name, ...rest) {
  return ["/v1/tenants", encodeURIComponent(name), ...rest.map(encodeURIComponent)].join("/");
}
