// Every user-visible string of the page lives in this one table.
// zh-CN is the default language; the choice is remembered in localStorage.

export type Lang = 'zh-CN' | 'en';

export const LANGS: Lang[] = ['zh-CN', 'en'];

const zh = {
  'app.title': '村图 · 一村一图',
  'app.short': '村图',
  'lang.zh': '中文',
  'lang.en': 'EN',
  'lang.switch': '切换语言',

  'panel.title': '图层',
  'panel.open': '图层',
  'panel.close': '收起',
  'panel.layers': '图层',
  'panel.legend': '图例',
  'panel.summary': '概况',

  'layer.township': '镇/乡边界',
  'layer.villages': '村/社区边界',
  'layer.grids': '网格',
  'layer.households': '户',
  'layer.roads': '道路',
  'layer.rivers': '河流',
  'layer.facilities': '设施',
  'layer.hazards': '风险隐患',

  'legend.township': '镇/乡界',
  'legend.village': '村/社区界',
  'legend.grid.under': '网格：少于30户',
  'legend.grid.ok': '网格：30–60户（标准）',
  'legend.grid.over': '网格：多于60户',
  'legend.grid.unknown': '网格：户数未知',
  'legend.household': '户（住户）',
  'legend.road.main': '主要道路',
  'legend.road.minor': '村道/巷道',
  'legend.road.track': '机耕路/小路',
  'legend.river': '河流/沟渠',
  'legend.hazard.high': '隐患：重大',
  'legend.hazard.medium': '隐患：较大',
  'legend.hazard.low': '隐患：一般',

  'summary.townships': '镇/乡',
  'summary.villages': '村/社区',
  'summary.grids': '网格',
  'summary.households': '户',
  'summary.facilities': '设施',
  'summary.hazards': '风险隐患',

  'kind.township': '镇/乡',
  'kind.village': '村/社区',
  'kind.hamlet': '自然村/村民小组',
  'kind.grid': '网格',
  'kind.lane': '街巷/微网格',
  'kind.household': '户',
  'kind.road': '道路',
  'kind.waterway': '水系',

  'facility.service_centre': '党群服务中心',
  'facility.clinic': '卫生室/诊所',
  'facility.school': '学校',
  'facility.shelter': '避难场所',
  'facility.fire_station': '消防站',
  'facility.canteen': '老年食堂',
  'facility.toilet': '公共厕所',
  'facility.camera': '监控',
  'facility.police': '警务室',
  'facility.other': '其他设施',

  'hazard.landslide': '地质灾害隐患点',
  'hazard.flood': '洪涝风险区',
  'hazard.dangerous_house': '危房',
  'hazard.fire': '火灾隐患',
  'hazard.water': '溺水危险点',
  'hazard.other': '其他隐患',

  'severity.low': '一般',
  'severity.medium': '较大',
  'severity.high': '重大',

  'road.primary': '国/省道',
  'road.secondary': '县道',
  'road.tertiary': '乡道',
  'road.residential': '村内道路',
  'road.unclassified': '村道',
  'road.service': '巷道',
  'road.track': '机耕路',
  'road.path': '小路',
  'road.footway': '步行道',
  'road.other': '道路',

  'waterway.river': '河流',
  'waterway.stream': '溪流',
  'waterway.canal': '水渠',
  'waterway.ditch': '沟渠',
  'waterway.drain': '排水渠',
  'waterway.other': '水系',

  'field.kind': '类型',
  'field.name': '名称',
  'field.code': '编码',
  'field.households': '户数',
  'field.area': '面积',
  'field.chain': '所属',
  'field.houseNumber': '门牌号',
  'field.grid': '所在网格',
  'field.severity': '等级',
  'field.class': '等级',
  'field.id': '编号',

  'fmt.households': '{n}户',
  'fmt.km2': '{n} 平方公里',
  'label.householdsSuffix': '户',
  'grid.rule.under': '（少于30户）',
  'grid.rule.ok': '（符合30–60户）',
  'grid.rule.over': '（超过60户）',

  'popup.loading': '加载中…',
  'popup.unnamed': '（未命名）',
  'popup.noHouseNumber': '（无门牌）',
  'popup.close': '关闭',
  'error.load': '地图数据加载失败：',
};

type Key = keyof typeof zh;

const en: Record<Key, string> = {
  'app.title': 'Cuntu · One village, one map',
  'app.short': 'Cuntu',
  'lang.zh': '中文',
  'lang.en': 'EN',
  'lang.switch': 'Switch language',

  'panel.title': 'Layers',
  'panel.open': 'Layers',
  'panel.close': 'Hide',
  'panel.layers': 'Layers',
  'panel.legend': 'Legend',
  'panel.summary': 'Overview',

  'layer.township': 'Township boundary',
  'layer.villages': 'Villages / communities',
  'layer.grids': 'Grids',
  'layer.households': 'Households',
  'layer.roads': 'Roads',
  'layer.rivers': 'Rivers',
  'layer.facilities': 'Facilities',
  'layer.hazards': 'Risks and hazards',

  'legend.township': 'Township boundary',
  'legend.village': 'Village boundary',
  'legend.grid.under': 'Grid: under 30 households',
  'legend.grid.ok': 'Grid: 30–60 households (standard)',
  'legend.grid.over': 'Grid: over 60 households',
  'legend.grid.unknown': 'Grid: count unknown',
  'legend.household': 'Household',
  'legend.road.main': 'Main road',
  'legend.road.minor': 'Village road / lane',
  'legend.road.track': 'Track / path',
  'legend.river': 'River / ditch',
  'legend.hazard.high': 'Hazard: major',
  'legend.hazard.medium': 'Hazard: serious',
  'legend.hazard.low': 'Hazard: ordinary',

  'summary.townships': 'Townships',
  'summary.villages': 'Villages',
  'summary.grids': 'Grids',
  'summary.households': 'Households',
  'summary.facilities': 'Facilities',
  'summary.hazards': 'Hazards',

  'kind.township': 'Township',
  'kind.village': 'Village / community',
  'kind.hamlet': 'Hamlet',
  'kind.grid': 'Grid',
  'kind.lane': 'Lane / micro-grid',
  'kind.household': 'Household',
  'kind.road': 'Road',
  'kind.waterway': 'Waterway',

  'facility.service_centre': 'Party-mass service centre',
  'facility.clinic': 'Clinic',
  'facility.school': 'School',
  'facility.shelter': 'Emergency shelter',
  'facility.fire_station': 'Fire station',
  'facility.canteen': 'Canteen for the elderly',
  'facility.toilet': 'Public toilet',
  'facility.camera': 'Camera',
  'facility.police': 'Police office',
  'facility.other': 'Other facility',

  'hazard.landslide': 'Geological hazard point',
  'hazard.flood': 'Flood risk zone',
  'hazard.dangerous_house': 'Dangerous house',
  'hazard.fire': 'Fire hazard',
  'hazard.water': 'Drowning danger point',
  'hazard.other': 'Other hazard',

  'severity.low': 'Ordinary',
  'severity.medium': 'Serious',
  'severity.high': 'Major',

  'road.primary': 'Primary road',
  'road.secondary': 'Secondary road',
  'road.tertiary': 'Tertiary road',
  'road.residential': 'Residential road',
  'road.unclassified': 'Village road',
  'road.service': 'Lane',
  'road.track': 'Track',
  'road.path': 'Path',
  'road.footway': 'Footway',
  'road.other': 'Road',

  'waterway.river': 'River',
  'waterway.stream': 'Stream',
  'waterway.canal': 'Canal',
  'waterway.ditch': 'Ditch',
  'waterway.drain': 'Drain',
  'waterway.other': 'Waterway',

  'field.kind': 'Kind',
  'field.name': 'Name',
  'field.code': 'Code',
  'field.households': 'Households',
  'field.area': 'Area',
  'field.chain': 'Part of',
  'field.houseNumber': 'House number',
  'field.grid': 'Grid',
  'field.severity': 'Severity',
  'field.class': 'Class',
  'field.id': 'ID',

  'fmt.households': '{n} households',
  'fmt.km2': '{n} km²',
  'label.householdsSuffix': ' hh',
  'grid.rule.under': ' (under 30)',
  'grid.rule.ok': ' (within 30–60)',
  'grid.rule.over': ' (over 60)',

  'popup.loading': 'Loading…',
  'popup.unnamed': '(unnamed)',
  'popup.noHouseNumber': '(no house number)',
  'popup.close': 'Close',
  'error.load': 'Could not load the map data: ',
};

export const TRANSLATIONS: Record<Lang, Record<Key, string>> = { 'zh-CN': zh, en };

export type TKey = Key;

const STORAGE_KEY = 'cuntu.lang';

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    /* storage may be disabled */
  }
  return 'zh-CN';
}

let current: Lang = initialLang();
const listeners: Array<(l: Lang) => void> = [];

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  if (l === current) return;
  current = l;
  try {
    localStorage.setItem(STORAGE_KEY, l);
  } catch {
    /* ignore */
  }
  for (const fn of listeners) fn(l);
}

export function onLangChange(fn: (l: Lang) => void): void {
  listeners.push(fn);
}

/** Translate a key in the current (or given) language. */
export function t(key: TKey, l: Lang = current): string {
  return TRANSLATIONS[l][key] ?? TRANSLATIONS['zh-CN'][key] ?? key;
}

/** Translate a key whose text has {name} placeholders. */
export function tf(key: TKey, values: Record<string, string | number>, l: Lang = current): string {
  return t(key, l).replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}

/** Translate a dynamic key like `facility.${kind}`, falling back to `${prefix}.other` or the raw value. */
export function tk(prefix: string, value: unknown, l: Lang = current): string {
  const key = `${prefix}.${String(value)}`;
  const table = TRANSLATIONS[l] as Record<string, string>;
  if (key in table) return table[key];
  const other = `${prefix}.other`;
  if (value === undefined || value === null || value === '') return table[other] ?? '';
  return String(value);
}

/** All values for a prefix (e.g. 'facility') in a language: { kind: label }. */
export function entries(prefix: string, l: Lang = current): Record<string, string> {
  const out: Record<string, string> = {};
  const table = TRANSLATIONS[l] as Record<string, string>;
  for (const k of Object.keys(table)) {
    if (k.startsWith(prefix + '.')) out[k.slice(prefix.length + 1)] = table[k];
  }
  return out;
}

/** Fill every element carrying data-i18n (text) or data-i18n-title / data-i18n-aria (attributes). */
export function applyDom(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>('[data-i18n]').forEach((el) => {
    el.textContent = t(el.dataset.i18n as TKey);
  });
  root.querySelectorAll<HTMLElement>('[data-i18n-title]').forEach((el) => {
    el.title = t(el.dataset.i18nTitle as TKey);
  });
  root.querySelectorAll<HTMLElement>('[data-i18n-aria]').forEach((el) => {
    el.setAttribute('aria-label', t(el.dataset.i18nAria as TKey));
  });
  document.documentElement.lang = current;
  document.title = t('app.title');
}
