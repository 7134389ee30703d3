// The leader's dashboard: the township's figures and three charts (Chart.js, bundled). Every figure
// and every bar is a way onto the map: the page passes what a click on each should do.
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import type { Dashboard } from './leader-api';
import { HAZARD_KINDS, SEVERITIES } from './leader-api';
import { lang, t, tf, tk, type TKey } from './i18n';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, DoughnutController, ArcElement, Tooltip, Legend);

export const KIND_COLORS: Record<string, string> = {
  landslide: '#8d5a2b',
  flood: '#1e6fd9',
  dangerous_house: '#8e24aa',
  fire: '#e53935',
  water: '#00a3b4',
};
export const SEVERITY_COLORS: Record<string, string> = { high: '#b71c1c', medium: '#ef6c00', low: '#f2b705' };
const TAG_COLOR = '#6a1b9a';

export interface DashboardActions {
  villages: () => void;
  grids: () => void;
  households: () => void;
  persons: () => void;
  exposed: () => void;
  shelters: () => void;
  coverage: () => void;
  keyPopulation: (tag: string | null) => void;
  hazardKind: (kind: string) => void;
  severity: (sev: string) => void;
}

const charts: Chart[] = [];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
}

const num = (n: number | string | null | undefined): string =>
  typeof n === 'number' ? new Intl.NumberFormat(lang()).format(n) : n === null || n === undefined ? '–' : String(n);
const pct = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) : 0);
const asNumber = (v: number | string | null | undefined) => (typeof v === 'number' ? v : 0);

function figure(testid: string, label: string, value: string, sub: string | null, onClick: () => void): HTMLElement {
  const b = el(
    'button',
    { type: 'button', class: 'dash-figure', 'data-testid': testid, title: t('leader.dash.showOnMap') },
    el('span', { class: 'dash-value', text: value }),
    el('span', { class: 'dash-label', text: label }),
  );
  if (sub) b.append(el('span', { class: 'dash-sub', text: sub }));
  b.addEventListener('click', onClick);
  return b;
}

function chartBox(testid: string, heading: TKey, height: number): { box: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = el('canvas', { 'data-testid': testid, role: 'img', 'aria-label': t(heading) });
  const wrap = el('div', { class: 'dash-chart' }, canvas);
  wrap.style.height = `${height}px`;
  return { box: el('section', { class: 'dash-section' }, el('h3', { text: t(heading) }), wrap), canvas };
}

function barChart(canvas: HTMLCanvasElement, labels: string[], values: number[], colors: string[], texts: string[], horizontal: boolean, onPick: (i: number) => void): Chart {
  const cfg: ChartConfiguration<'bar'> = {
    type: 'bar',
    data: { labels, datasets: [{ data: values, backgroundColor: colors, borderRadius: 3 }] },
    options: {
      indexAxis: horizontal ? 'y' : 'x',
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => texts[c.dataIndex] ?? String(c.raw) } },
      },
      scales: {
        x: { ticks: { precision: 0, font: { size: 11 } }, grid: { display: horizontal } },
        y: { ticks: { precision: 0, font: { size: 11 } }, grid: { display: !horizontal } },
      },
      onClick: (_e, els) => {
        if (els.length) onPick(els[0].index);
      },
      onHover: (e, els) => {
        const target = e.native?.target as HTMLElement | undefined;
        if (target) target.style.cursor = els.length ? 'pointer' : '';
      },
    },
  };
  return new Chart(canvas, cfg);
}

export function renderDashboard(box: HTMLElement, d: Dashboard, act: DashboardActions): void {
  for (const c of charts.splice(0)) c.destroy();
  box.replaceChildren();
  box.append(el('p', { class: 'muted dash-hint', text: t('leader.dash.hint') }));
  const cov = d.coverage;
  const totalHazards = Object.values(d.hazards.by_kind).reduce((a, b) => a + b, 0);
  const keyTotal = Object.values(d.key_population).reduce<number>((a, b) => a + asNumber(b), 0);
  const figs = el(
    'div',
    { class: 'dash-figures' },
    figure('dash-villages', t('leader.dash.villages'), num(d.villages), null, act.villages),
    figure('dash-grids', t('leader.dash.grids'), num(d.grids), null, act.grids),
    figure('dash-households', t('leader.dash.households'), num(d.households), tf('leader.dash.persons', { n: num(d.persons) }), act.households),
    figure('dash-key', t('leader.dash.keyPopulation'), num(keyTotal), null, () => act.keyPopulation(null)),
    figure('dash-hazards', t('leader.dash.hazards'), num(totalHazards), null, act.exposed),
    figure('dash-exposed', t('leader.dash.exposed'), num(d.exposed_households), null, act.exposed),
    figure('dash-shelters', t('leader.dash.shelters'), num(d.shelters.count), tf('leader.dash.capacity', { n: num(d.shelters.capacity) }) + (d.shelters.over_capacity ? tf('leader.dash.overCapacity', { n: d.shelters.over_capacity }) : ''), act.shelters),
    figure('dash-coverage', t('leader.dash.coverage'), `${pct(cov.visited, cov.total)}%`, tf('leader.dash.coverageSub', { v: num(cov.visited), n: num(cov.total), k: pct(cov.key_visited, cov.key_total) }), act.coverage),
  );
  box.append(figs);

  // Hazards by kind: a click selects every hazard of that kind and zooms to them.
  const kinds = HAZARD_KINDS.filter((k) => (d.hazards.by_kind[k] ?? 0) > 0 || k in d.hazards.by_kind);
  const k1 = chartBox('chart-hazards', 'leader.dash.byKind', 40 + kinds.length * 30);
  k1.canvas.dataset.keys = JSON.stringify(kinds);
  box.append(k1.box);
  charts.push(
    barChart(
      k1.canvas,
      kinds.map((k) => tk('hazard', k)),
      kinds.map((k) => d.hazards.by_kind[k] ?? 0),
      kinds.map((k) => KIND_COLORS[k] ?? '#777'),
      kinds.map((k) => `${tk('hazard', k)}: ${d.hazards.by_kind[k] ?? 0}`),
      true,
      (i) => act.hazardKind(kinds[i]),
    ),
  );

  // Hazards by severity.
  const sevs = SEVERITIES.filter((s) => s in d.hazards.by_severity);
  const s1 = chartBox('chart-severity', 'leader.dash.bySeverity', 150);
  box.append(s1.box);
  const sevChart = new Chart(s1.canvas, {
    type: 'doughnut',
    data: {
      labels: sevs.map((s) => tk('severity', s)),
      datasets: [{ data: sevs.map((s) => d.hazards.by_severity[s] ?? 0), backgroundColor: sevs.map((s) => SEVERITY_COLORS[s]) }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { position: 'right', labels: { boxWidth: 12, font: { size: 12 } } } },
      onClick: (_e, els) => {
        if (els.length) act.severity(sevs[els[0].index]);
      },
    },
  });
  charts.push(sevChart);

  // Key populations by tag: a click shows their density and the choropleth of key populations.
  const tags = Object.keys(d.key_population);
  const p1 = chartBox('chart-keypop', 'leader.dash.keyPopChart', 40 + tags.length * 28);
  box.append(p1.box);
  charts.push(
    barChart(
      p1.canvas,
      tags.map((tag) => tk('tag', tag)),
      tags.map((tag) => asNumber(d.key_population[tag])),
      tags.map(() => TAG_COLOR),
      tags.map((tag) => `${tk('tag', tag)}: ${num(d.key_population[tag])}`),
      true,
      (i) => act.keyPopulation(tags[i]),
    ),
  );
}

/** Where each bar of a chart is on the page, by its key (a test hook: the bars are drawn on a canvas). */
export function barCentres(canvas: HTMLCanvasElement | null): Array<{ key: string; x: number; y: number }> {
  const chart = canvas ? Chart.getChart(canvas) : undefined;
  if (!canvas || !chart) return [];
  const keys = JSON.parse(canvas.dataset.keys ?? '[]') as string[];
  const r = canvas.getBoundingClientRect();
  return chart.getDatasetMeta(0).data.map((e, i) => {
    const p = e.getProps(['x', 'y', 'base'], true) as { x: number; y: number; base: number };
    // A horizontal bar runs from base to x: its middle.
    return { key: keys[i], x: r.left + (p.x + p.base) / 2, y: r.top + p.y };
  });
}

export function destroyCharts(): void {
  for (const c of charts.splice(0)) c.destroy();
}
