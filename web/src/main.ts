// The page's entry: header, language switch and the choice of view by path. `/login` shows the
// login form, `/draw` the grid editor, `/worker` the grid worker's page; every other path shows
// the map (each loaded on demand, with MapLibre).
// MapLibre's CSS first: app.css overrides some of its rules at the same specificity.
import 'maplibre-gl/dist/maplibre-gl.css';
import './app.css';
import { initAccount } from './account';
import { applyDom, lang, onLangChange, setLang, t, type Lang } from './i18n';
import { startLogin } from './login';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function markLang(): void {
  document.querySelectorAll<HTMLButtonElement>('.lang-switch button').forEach((b) => {
    const on = b.dataset.lang === lang();
    b.classList.toggle('active', on);
    b.setAttribute('aria-pressed', String(on));
  });
}

function initLangSwitch(): void {
  document.querySelectorAll<HTMLButtonElement>('.lang-switch button').forEach((b) => {
    b.addEventListener('click', () => setLang(b.dataset.lang as Lang));
  });
  onLangChange(() => {
    markLang();
    applyDom();
  });
  markLang();
  applyDom();
}

function fatal(e: unknown): void {
  console.error(e);
  const box = $('error');
  box.hidden = false;
  box.dataset.message = e instanceof Error ? e.message : String(e);
  box.textContent = t('error.load') + box.dataset.message;
}

const isLogin = /^\/login\/?$/.test(location.pathname);
// The server only serves /draw to a session that may edit grids; the page still asks the API.
const isDraw = /^\/draw\/?$/.test(location.pathname);
// The server serves /worker to anyone; the page sends a visitor to the login (GET /api/me is 401).
const isWorker = /^\/worker\/?$/.test(location.pathname);
// /leader: the township leader's risk map; the page sends a visitor to the login, other roles get a note.
const isLeader = /^\/leader\/?$/.test(location.pathname);
// /incidents: incidents in the caller's scope (issue 8); the page sends a visitor to the login.
const isIncidents = /^\/incidents\/?$/.test(location.pathname);
// /import: file imports for township admins and village cadres (issue 9); a visitor goes to the login.
const isImport = /^\/import\/?$/.test(location.pathname);
document.body.classList.add(
  isLogin ? 'page-login' : isDraw ? 'page-draw' : isWorker ? 'page-worker' : isLeader ? 'page-leader' : isIncidents ? 'page-incidents' : isImport ? 'page-import' : 'page-map',
);
initLangSwitch();

if (isLogin) {
  $('login-view').hidden = false;
  startLogin();
} else if (isDraw) {
  $('stage').hidden = false;
  void initAccount();
  import('./draw')
    .then((m) => m.startDraw())
    .catch(fatal);
} else if (isWorker) {
  $('stage').hidden = false;
  void initAccount();
  import('./worker')
    .then((m) => m.startWorker())
    .catch(fatal);
} else if (isLeader) {
  $('stage').hidden = false;
  void initAccount();
  import('./leader')
    .then((m) => m.startLeader())
    .catch(fatal);
} else if (isIncidents) {
  $('stage').hidden = false;
  void initAccount();
  import('./incidents')
    .then((m) => m.startIncidents())
    .catch(fatal);
} else if (isImport) {
  void initAccount();
  import('./import')
    .then((m) => m.startImport())
    .catch(fatal);
} else {
  $('stage').hidden = false;
  void initAccount();
  import('./map')
    .then((m) => m.startMap())
    .catch(fatal);
}
