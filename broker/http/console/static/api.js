// The one way the console talks to hookstream: the public /v2 API, with the signed-in token
// in the Authorization header (never in a URL). The token lives in sessionStorage: this tab
// only, gone when it closes.

const TOKEN = 'hookstream.token';
const MODE = 'hookstream.mode';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  get readOnly() { return sessionStorage.getItem(MODE) === 'read-only'; },
  start(token) { sessionStorage.setItem(TOKEN, token); sessionStorage.removeItem(MODE); },
  markReadOnly() { sessionStorage.setItem(MODE, 'read-only'); },
  end() { sessionStorage.removeItem(TOKEN); sessionStorage.removeItem(MODE); },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// What app.js does on a refused token (401) and a refused action (403).
const handlers = { unauthorized() {}, forbidden() {} };
export function onRefusal(given) { Object.assign(handlers, given); }

// `query` values may be arrays (repeated parameters); empty values are left out.
export function apiUrl(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query)) {
    for (const one of [].concat(value)) {
      if (one !== undefined && one !== null && one !== '') url.searchParams.append(key, one);
    }
  }
  return url;
}

export async function api(method, path, { query, json, body, headers } = {}) {
  const init = {
    method,
    headers: { Authorization: `Bearer ${session.token}`, ...headers },
    cache: 'no-store',
    credentials: 'omit',
  };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(apiUrl(path, query), init);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`);
    if (response.status === 401) handlers.unauthorized(error);
    if (response.status === 403) handlers.forbidden(error);
    throw error;
  }
  return data;
}
