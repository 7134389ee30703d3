// The login page (`/login`): same SPA, no map. On success a full navigation to `next` (a
// same-origin path) or `/`, so the map loads its household tiles with the new session.
import { ApiError, login } from './api';
import { t, type TKey } from './i18n';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** Where to go after logging in: the `next` query parameter if it is a path on this origin, else `/`. */
export function nextTarget(search: string = location.search): string {
  const raw = new URLSearchParams(search).get('next');
  // Only plain paths: not `//host`, not `/\host` (browsers read both as another origin), no scheme.
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  try {
    const url = new URL(raw, location.origin);
    if (url.origin !== location.origin) return '/';
    if (/^\/login\/?$/.test(url.pathname)) return '/';
    return url.pathname + url.search + url.hash;
  } catch {
    return '/';
  }
}

function showError(text: string | null): void {
  const el = $('login-error');
  el.textContent = text ?? '';
  el.hidden = text === null;
}

function setBusy(busy: boolean): void {
  const button = $<HTMLButtonElement>('login-submit');
  const key: TKey = busy ? 'auth.submitting' : 'auth.submit';
  button.disabled = busy;
  button.dataset.i18n = key;
  button.textContent = t(key);
}

export function startLogin(): void {
  const form = $<HTMLFormElement>('login-form');
  const username = $<HTMLInputElement>('login-username');
  const password = $<HTMLInputElement>('login-password');
  username.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = username.value.trim();
    const pass = password.value;
    if (!name || !pass) {
      showError(t('auth.missing'));
      (name ? password : username).focus();
      return;
    }
    showError(null);
    setBusy(true);
    try {
      await login(name, pass);
    } catch (err) {
      // 401 wrong user or password, 429 locked for a while: the server's message says which.
      showError(
        err instanceof ApiError ? (err.fromServer ? err.message : `${t('auth.failed')} (${err.status})`) : t('auth.network'),
      );
      setBusy(false);
      password.value = '';
      password.focus();
      return;
    }
    // Stay busy: the page is leaving.
    location.assign(nextTarget());
  });
}
