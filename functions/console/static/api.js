// The gateway's API as the console calls it: same origin, the stage's path before /console, the person's token.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** `/Prod/console/index.html` -> `/Prod`; `/console/index.html` (the local stack) -> ``. */
export function apiBase() {
  return location.pathname.replace(/\/console(\/.*)?$/, "");
}

export class Api {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async call(method, path, { query, body } = {}) {
    const search = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v != null && v !== ""))}` : "";
    const answer = await fetch(`${apiBase()}${path}${search}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await answer.text();
    const document = text ? JSON.parse(text) : {};
    if (answer.status === 401) this.onUnauthorized();
    if (!answer.ok) {
      const error = document.error || {};
      throw new ApiError(answer.status, error.code || "error", error.message || `HTTP ${answer.status}`, error.details);
    }
    return document;
  }

  get(path, query) {
    return this.call("GET", path, { query });
  }

  post(path, body) {
    return this.call("POST", path, { body });
  }

  delete(path, query) {
    return this.call("DELETE", path, { query });
  }

  put(path, body) {
    return this.call("PUT", path, { body });
  }
}
