// api.js: the dashboard's one way to talk to the server. It sends the
// session's CSRF token on every change and turns problem+json answers into
// ApiError.

const tokenKey = "presenced.csrf";

/** ApiError is a failed request: status is the HTTP status (0 when the
 * server was not reached), detail the server's explanation. */
export class ApiError extends Error {
  constructor(status, detail, problem = {}, retryAfter = 0) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** csrfToken returns the CSRF token of this tab's session, or "". */
export function csrfToken() {
  return sessionStorage.getItem(tokenKey) || "";
}

/** setCsrfToken keeps the token for this tab; "" forgets it. */
export function setCsrfToken(token) {
  if (token) {
    sessionStorage.setItem(tokenKey, token);
  } else {
    sessionStorage.removeItem(tokenKey);
  }
}

let onUnauthorized = () => {};

/** whenUnauthorized sets what to do when the session has ended (401). */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** request sends method path with body as JSON and returns the decoded
 * answer (null for 204). It throws ApiError on failure. */
export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    headers["X-CSRF-Token"] = csrfToken();
  }
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `The server did not answer (${err.message}).`);
  }
  const data = await decode(res);
  if (res.ok) {
    return data;
  }
  const problem = data && typeof data === "object" ? data : {};
  const detail = problem.detail || problem.title || `${res.status} ${res.statusText}`;
  const retryAfter = Number(res.headers.get("Retry-After")) || 0;
  const err = new ApiError(res.status, detail, problem, retryAfter);
  if (res.status === 401 && path !== "/admin/api/login") {
    onUnauthorized(err);
  }
  throw err;
}

async function decode(res) {
  if (res.status === 204) {
    return null;
  }
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await res.json();
    } catch {
      return null;
    }
  }
  const text = await res.text();
  return text ? { detail: text.trim() } : null;
}
