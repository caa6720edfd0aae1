// The signed-in user. The token lives in sessionStorage (this tab, until it closes),
// never in localStorage, so it does not outlive the tab or leak into other tabs.

const KEY = 'commerce.session';
const listeners = new Set();

/** `{token, user, expiresAt}` or null. */
export function current() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    if (session && session.expiresAt > Date.now()) return session;
  } catch {
    // unreadable: treated as signed out
  }
  return null;
}

/** Keeps the answer of `POST /api/auth/login`. */
export function signIn(login) {
  const session = {
    token: login.token,
    user: login.user,
    expiresAt: Date.now() + (login.expiresIn ?? 3600) * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  listeners.forEach((listener) => listener(session));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  listeners.forEach((listener) => listener(null));
}

export function role() {
  return current()?.user?.role ?? null;
}

/** Calls `listener(session)` whenever someone signs in or out. */
export function onChange(listener) {
  listeners.add(listener);
}
