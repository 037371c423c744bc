// Signing people in: OAuth 2.0 authorization code with PKCE (S256) at the provider config.json names (Cognito's
// hosted UI deployed, the local sign-in provider on the local stack). The tokens stay in this tab's
// sessionStorage; the ID token is what the console sends to the API (Authorization: Bearer).

const SESSION = "sms-console.session";
const PENDING = "sms-console.pending";

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function redirectUri() {
  return `${location.origin}${location.pathname}`;
}

/** The claims of a JWT's payload (not verified here: the API's authorizer verifies every request). */
export function claimsOf(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(part + "=".repeat((4 - (part.length % 4)) % 4)), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The signed-in person ({token, name, email, groups, sub}), or null when nobody is (or the token expired). */
export function currentSession() {
  const stored = sessionStorage.getItem(SESSION);
  if (!stored) return null;
  const { id_token: token } = JSON.parse(stored);
  const claims = claimsOf(token);
  if (claims.exp * 1000 <= Date.now() + 30_000) {
    sessionStorage.removeItem(SESSION);
    return null;
  }
  return {
    token,
    sub: claims.sub,
    name: claims.name || claims.email || claims["cognito:username"],
    email: claims.email || "",
    groups: claims["cognito:groups"] || [],
  };
}

export async function signIn(config) {
  const verifier = randomText(48);
  const state = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scope,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${config.authorize_url}?${query}`);
}

/** Back from the provider with ?code=: exchange it for tokens. True when a session was made. */
export async function completeSignIn(config) {
  const query = new URLSearchParams(location.search);
  const code = query.get("code");
  if (!code) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", `${location.pathname}${pending?.hash || ""}`);
  if (!pending || pending.state !== query.get("state")) throw new Error("The sign-in did not come from this page.");
  const answer = await fetch(config.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  if (!answer.ok) throw new Error(`The sign-in provider refused the sign-in (${answer.status}).`);
  const tokens = await answer.json();
  sessionStorage.setItem(SESSION, JSON.stringify({ id_token: tokens.id_token }));
  return true;
}

export function signOut(config) {
  sessionStorage.removeItem(SESSION);
  const query = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() });
  location.assign(`${config.logout_url}?${query}`);
}
