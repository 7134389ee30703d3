// The account corner of the header on the map page: a login link, or the user's name, role and
// area with a menu to change the password or log out.
import { ApiError, changePassword, fetchMe, logout, type RoleAssignment, type User } from './api';
import { onLangChange, t, tk, type TKey } from './i18n';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

let user: User | null = null;
let resolveReady: (u: User | null) => void = () => {};

/** Resolves once `GET /api/me` has answered: the user, or null when not logged in. */
export const accountReady: Promise<User | null> = new Promise((resolve) => {
  resolveReady = resolve;
});

export function currentUser(): User | null {
  return user;
}

export function roleLabel(r: RoleAssignment): string {
  return tk('role', r.role);
}

function roleText(r: RoleAssignment): string {
  return r.area_name ? `${roleLabel(r)} · ${r.area_name}` : roleLabel(r);
}

function render(): void {
  const loggedIn = user !== null;
  $('login-link').hidden = loggedIn;
  $('user-box').hidden = !loggedIn;
  document.body.classList.toggle('logged-in', loggedIn);
  if (!user) return;
  const name = user.display_name || user.username;
  const roles = user.roles ?? [];
  $('user-name').textContent = name;
  const first = roles[0];
  const role = $('user-role');
  role.textContent = first ? roleLabel(first) : '';
  role.dataset.role = first?.role ?? '';
  $('user-button').title = [name, ...roles.map(roleText)].join('\n');
  $('user-menu-name').textContent = `${name} (${user.username})`;
  const list = $('user-menu-roles');
  list.replaceChildren();
  for (const r of roles) {
    const li = document.createElement('li');
    li.dataset.role = r.role;
    li.textContent = roleText(r);
    list.append(li);
  }
  const area = document.createElement('span');
  area.className = 'user-area';
  area.textContent = first?.area_name ? ` · ${first.area_name}` : '';
  role.append(area);
}

// ---- menu ------------------------------------------------------------------

function setMenuOpen(open: boolean): void {
  $('user-menu').hidden = !open;
  $('user-button').setAttribute('aria-expanded', String(open));
  if (!open) $('logout-error').hidden = true;
}

function initMenu(): void {
  const button = $('user-button');
  const menu = $('user-menu');
  button.addEventListener('click', () => setMenuOpen(menu.hidden));
  document.addEventListener('click', (e) => {
    if (!menu.hidden && !$('user-box').contains(e.target as Node)) setMenuOpen(false);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !menu.hidden) {
      setMenuOpen(false);
      button.focus();
    }
  });
  $('logout').addEventListener('click', () => void doLogout());
  $('change-password').addEventListener('click', () => {
    setMenuOpen(false);
    openPasswordDialog();
  });
}

async function doLogout(): Promise<void> {
  const btn = $<HTMLButtonElement>('logout');
  const err = $('logout-error');
  btn.disabled = true;
  err.hidden = true;
  try {
    await logout();
  } catch (e) {
    // 401: the session had already ended, which is what we wanted.
    if (!(e instanceof ApiError && e.status === 401)) {
      err.textContent = t('auth.logoutFailed') + (e instanceof Error ? e.message : String(e));
      err.hidden = false;
      btn.disabled = false;
      return;
    }
  }
  // A full navigation: the map must fetch its household tiles again without the session.
  location.assign('/login');
}

// ---- change password -------------------------------------------------------

function formError(id: string, text: string | null): void {
  const el = $(id);
  el.textContent = text ?? '';
  el.hidden = text === null;
}

function openPasswordDialog(): void {
  const dialog = $<HTMLDialogElement>('password-dialog');
  $<HTMLFormElement>('password-form').reset();
  formError('password-error', null);
  if (!dialog.open) dialog.showModal();
  $('current-password').focus();
}

function setBusy(button: HTMLButtonElement, busy: boolean, idle: TKey, working: TKey): void {
  button.disabled = busy;
  button.dataset.i18n = busy ? working : idle;
  button.textContent = t(busy ? working : idle);
}

function initPasswordDialog(): void {
  const dialog = $<HTMLDialogElement>('password-dialog');
  const form = $<HTMLFormElement>('password-form');
  const save = $<HTMLButtonElement>('password-save');
  $('password-cancel').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const current = $<HTMLInputElement>('current-password').value;
    const next = $<HTMLInputElement>('new-password').value;
    const confirm = $<HTMLInputElement>('confirm-password').value;
    if (next !== confirm) {
      formError('password-error', t('auth.mismatch'));
      $('confirm-password').focus();
      return;
    }
    formError('password-error', null);
    setBusy(save, true, 'auth.save', 'auth.saving');
    try {
      await changePassword(current, next);
      dialog.close();
      toast(t('auth.passwordChanged'));
    } catch (err) {
      // 400 (new password too short) or 401 (current password wrong): the server says which.
      formError(
        'password-error',
        err instanceof ApiError ? (err.fromServer ? err.message : `${t('auth.failed')} (${err.status})`) : t('auth.network'),
      );
    } finally {
      setBusy(save, false, 'auth.save', 'auth.saving');
    }
  });
}

let toastTimer = 0;

function toast(text: string): void {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => {
    el.hidden = true;
  }, 3000);
}

/** Ask the server who is logged in and draw the header's account corner. */
export async function initAccount(): Promise<User | null> {
  initMenu();
  initPasswordDialog();
  try {
    user = await fetchMe();
  } catch (e) {
    // The server is down or confused: show the page as for a visitor.
    console.warn('GET /api/me failed', e);
    user = null;
  }
  render();
  $('account').hidden = false;
  onLangChange(render);
  resolveReady(user);
  return user;
}
