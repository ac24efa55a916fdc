/* The page's one CSRF token and JSON POST, for the editor's autosave and the workspace's runs and estimates. */

// base.html puts the token in the body's hx-headers (htmx sends it from there); the cookie is the fallback.
export function csrfToken() {
  try {
    const headers = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
    if (headers['X-CSRFToken']) return headers['X-CSRFToken'];
  } catch (e) { /* fall through to the cookie */ }
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

// POSTs `body` as JSON with the CSRF token; `options` adds to fetch's (keepalive, more headers).
export function postJson(url, body, options = {}) {
  const { headers = {}, ...rest } = options;
  return fetch(url, {
    method: 'POST', credentials: 'same-origin', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken(), ...headers },
    ...rest,
  });
}
