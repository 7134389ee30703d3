// The MapLibre style: no basemap, no glyphs (text is drawn with local fonts), our vector layers.
import type {
  ExpressionSpecification,
  GeoJSONSourceSpecification,
  LayerSpecification,
  StyleSpecification,
  VectorSourceSpecification,
} from 'maplibre-gl';
import { entries, t, type Lang } from './i18n';
import { EMPTY, LABEL_SOURCE } from './labels';

export const BACKGROUND = '#f3f0e8';

/** Colours shared by the style and the legend. */
export const COLORS = {
  township: '#6a1b9a',
  village: '#8c3b12',
  villageFill: '#efe6d2',
  hamlet: '#a1887f',
  gridUnder: '#f2c14e',
  gridOk: '#7bc47f',
  gridOver: '#e5736b',
  gridUnknown: '#cfd8dc',
  gridLine: '#4e6a5a',
  lane: '#8fa39a',
  household: '#37474f',
  water: '#3d8fd6',
  roadPrimary: '#e07b24',
  roadSecondary: '#f0a830',
  roadTertiary: '#f6cf62',
  roadMinor: '#ffffff',
  roadCasing: '#9a9a9a',
  roadTrack: '#a1887f',
  hazardHigh: '#d32f2f',
  hazardMedium: '#f57c00',
  hazardLow: '#e6b800',
};

export const FACILITY_COLORS: Record<string, string> = {
  service_centre: '#c62828',
  clinic: '#00897b',
  school: '#1565c0',
  shelter: '#2e7d32',
  fire_station: '#e65100',
  canteen: '#8e24aa',
  toilet: '#6d4c41',
  camera: '#546e7a',
  police: '#283593',
  other: '#757575',
};

export const GRID_MIN = 30;
export const GRID_MAX = 60;

/** The source ids the server offers (GET /tiles). */
export const SOURCE_IDS = ['areas', 'households', 'facilities', 'hazards', 'roads', 'waterways'] as const;
export type SourceId = (typeof SOURCE_IDS)[number];

/** Which style layers a switcher checkbox controls. */
export const LAYER_GROUPS: Record<string, string[]> = {
  township: ['township-line'],
  villages: ['village-fill', 'village-line', 'hamlet-line'],
  grids: ['grid-fill', 'grid-line', 'lane-line'],
  households: ['households', 'household-clusters', 'household-cluster-count'],
  roads: ['roads-casing', 'roads'],
  rivers: ['waterways'],
  facilities: ['facilities', 'facility-label'],
  hazards: ['hazards-fill', 'hazards-outline', 'hazards-point'],
};

/** Layers a click can hit, most specific first. */
export const CLICKABLE_LAYERS = [
  'facilities',
  'hazards-point',
  'households',
  'hazards-fill',
  'roads',
  'waterways',
  'grid-fill',
  'village-fill',
];

const FONT = ['sans-serif'];

const polygon: ExpressionSpecification = ['==', ['geometry-type'], 'Polygon'];
const point: ExpressionSpecification = ['==', ['geometry-type'], 'Point'];
const line: ExpressionSpecification = ['==', ['geometry-type'], 'LineString'];
const kindIs = (k: string): ExpressionSpecification => ['==', ['get', 'kind'], k];

function matchTable(prop: string, table: Record<string, string>, fallback: string): ExpressionSpecification {
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(table)) {
    if (k === 'other') continue;
    pairs.push(k, v);
  }
  return ['match', ['to-string', ['get', prop]], ...pairs, fallback] as unknown as ExpressionSpecification;
}

/** The label of areas: village names at low zoom, grid names with household counts at higher zoom. */
export function areaLabelText(l: Lang): ExpressionSpecification {
  const suffix = t('label.householdsSuffix', l);
  const gridText: ExpressionSpecification = [
    'case',
    ['has', 'households'],
    ['concat', ['get', 'name'], ' (', ['to-string', ['get', 'households']], suffix, ')'],
    ['get', 'name'],
  ];
  // Layout expressions are evaluated at the tile's whole zoom level: keep the steps at integers.
  return [
    'step',
    ['zoom'],
    ['match', ['get', 'kind'], 'township', ['get', 'name'], ''],
    10,
    ['match', ['get', 'kind'], 'village', ['get', 'name'], ''],
    13,
    ['match', ['get', 'kind'], 'village', ['get', 'name'], 'grid', gridText, ''],
    15,
    ['match', ['get', 'kind'], 'village', ['get', 'name'], 'grid', gridText, 'lane', gridText, 'hamlet', ['get', 'name'], ''],
  ];
}

/** Facility label: its name, or the kind of facility when it has none. */
export function facilityLabelText(l: Lang): ExpressionSpecification {
  return [
    'coalesce',
    ['get', 'name'],
    matchTable('kind', entries('facility', l), t('facility.other', l)),
  ] as ExpressionSpecification;
}

export function buildStyle(sources: Partial<Record<SourceId, string>>, l: Lang): StyleSpecification {
  const srcs: Record<string, VectorSourceSpecification> = {};
  for (const [id, url] of Object.entries(sources)) {
    if (url) srcs[id] = { type: 'vector', url, promoteId: 'id' };
  }
  const srcs2: Record<string, GeoJSONSourceSpecification> = {};
  const has = (id: SourceId) => id in srcs;
  const layers: LayerSpecification[] = [
    { id: 'background', type: 'background', paint: { 'background-color': BACKGROUND } },
  ];

  // ---- fills -------------------------------------------------------------
  if (has('areas')) {
    layers.push(
      {
        id: 'village-fill',
        type: 'fill',
        source: 'areas',
        'source-layer': 'areas',
        filter: ['all', polygon, kindIs('village')],
        paint: { 'fill-color': COLORS.villageFill, 'fill-opacity': 0.55 },
      },
      {
        id: 'grid-fill',
        type: 'fill',
        source: 'areas',
        'source-layer': 'areas',
        filter: ['all', polygon, kindIs('grid')],
        paint: {
          'fill-color': [
            'case',
            ['!', ['has', 'households']],
            COLORS.gridUnknown,
            ['<', ['to-number', ['get', 'households']], GRID_MIN],
            COLORS.gridUnder,
            ['<=', ['to-number', ['get', 'households']], GRID_MAX],
            COLORS.gridOk,
            COLORS.gridOver,
          ],
          'fill-opacity': ['interpolate', ['linear'], ['zoom'], 11, 0.5, 16, 0.38],
        },
      },
    );
  }
  if (has('hazards')) {
    layers.push({
      id: 'hazards-fill',
      type: 'fill',
      source: 'hazards',
      'source-layer': 'hazards',
      filter: polygon,
      paint: {
        'fill-color': severityColor(),
        'fill-opacity': 0.35,
      },
    });
  }

  // ---- lines -------------------------------------------------------------
  if (has('waterways')) {
    layers.push({
      id: 'waterways',
      type: 'line',
      source: 'waterways',
      'source-layer': 'waterways',
      filter: line,
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: {
        'line-color': COLORS.water,
        // Rivers and canals stand out at township scale; streams and ditches come in closer.
        'line-opacity': ['interpolate', ['linear'], ['zoom'], 11, ['match', ['get', 'kind'], ['river', 'canal'], 1, 0.45], 14, 1],
        'line-width': [
          'interpolate',
          ['linear'],
          ['zoom'],
          11,
          ['match', ['get', 'kind'], 'river', 2.5, 'canal', 1.5, 1],
          16,
          ['match', ['get', 'kind'], 'river', 7, 'canal', 4, 'stream', 3, 2],
        ],
      },
    });
  }
  if (has('roads')) {
    // Width by class; `extra` pixels are added for the casing drawn below.
    const roadWidth = (extra: number): ExpressionSpecification => [
      'interpolate',
      ['exponential', 1.5],
      ['zoom'],
      11,
      ['+', extra, ['match', ['get', 'class'], ['primary', 'trunk', 'motorway'], 2.5, 'secondary', 2, 'tertiary', 1.6, ['residential', 'unclassified', 'living_street'], 1, 0.6]],
      17,
      ['+', extra, ['match', ['get', 'class'], ['primary', 'trunk', 'motorway'], 12, 'secondary', 10, 'tertiary', 8, ['residential', 'unclassified', 'living_street'], 6, 'service', 4, 2.5]],
    ];
    // Main roads from the start; lanes, tracks and paths fade in from zoom 12 so that the
    // township view stays readable.
    const minorFade: ExpressionSpecification = [
      'interpolate',
      ['linear'],
      ['zoom'],
      11.5,
      ['match', ['get', 'class'], ['motorway', 'trunk', 'primary', 'secondary', 'tertiary'], 1, 0],
      13,
      1,
    ];
    layers.push(
      {
        id: 'roads-casing',
        type: 'line',
        source: 'roads',
        'source-layer': 'roads',
        filter: ['all', line, ['!', ['match', ['get', 'class'], ['track', 'path', 'footway', 'cycleway', 'steps', 'bridleway'], true, false]]],
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': COLORS.roadCasing,
          'line-width': roadWidth(2),
          'line-opacity': minorFade,
        },
      },
      {
        id: 'roads',
        type: 'line',
        source: 'roads',
        'source-layer': 'roads',
        filter: line,
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': [
            'match',
            ['get', 'class'],
            ['primary', 'trunk', 'motorway'],
            COLORS.roadPrimary,
            'secondary',
            COLORS.roadSecondary,
            'tertiary',
            COLORS.roadTertiary,
            ['track', 'path', 'footway', 'cycleway', 'steps', 'bridleway'],
            COLORS.roadTrack,
            COLORS.roadMinor,
          ],
          'line-width': roadWidth(0),
          'line-opacity': minorFade,
        },
      },
    );
  }
  if (has('hazards')) {
    layers.push({
      id: 'hazards-outline',
      type: 'line',
      source: 'hazards',
      'source-layer': 'hazards',
      filter: polygon,
      paint: {
        'line-color': severityColor(),
        'line-width': 1.5,
        'line-dasharray': [3, 2],
      },
    });
  }
  if (has('areas')) {
    layers.push(
      {
        id: 'lane-line',
        type: 'line',
        source: 'areas',
        'source-layer': 'areas',
        minzoom: 14,
        filter: ['all', polygon, kindIs('lane')],
        paint: { 'line-color': COLORS.lane, 'line-width': 0.8, 'line-dasharray': [2, 2] },
      },
      {
        id: 'grid-line',
        type: 'line',
        source: 'areas',
        'source-layer': 'areas',
        filter: ['all', polygon, kindIs('grid')],
        layout: { 'line-join': 'round' },
        paint: {
          'line-color': COLORS.gridLine,
          'line-width': ['interpolate', ['linear'], ['zoom'], 11, 0.6, 14, 1.2, 17, 2],
          'line-opacity': 0.85,
        },
      },
      {
        id: 'hamlet-line',
        type: 'line',
        source: 'areas',
        'source-layer': 'areas',
        filter: ['all', polygon, kindIs('hamlet')],
        paint: { 'line-color': COLORS.hamlet, 'line-width': 1.2, 'line-dasharray': [4, 2] },
      },
      {
        id: 'village-line',
        type: 'line',
        source: 'areas',
        'source-layer': 'areas',
        filter: ['all', polygon, kindIs('village')],
        layout: { 'line-join': 'round' },
        paint: {
          'line-color': COLORS.village,
          'line-width': ['interpolate', ['linear'], ['zoom'], 10, 1.5, 14, 2.8, 17, 4],
        },
      },
      {
        id: 'township-line',
        type: 'line',
        source: 'areas',
        'source-layer': 'areas',
        filter: ['all', polygon, kindIs('township')],
        layout: { 'line-join': 'round' },
        paint: {
          'line-color': COLORS.township,
          'line-width': ['interpolate', ['linear'], ['zoom'], 9, 2, 14, 4, 17, 6],
          'line-dasharray': [4, 1.5],
          'line-opacity': 0.9,
        },
      },
    );
  }

  // ---- points ------------------------------------------------------------
  if (has('households')) {
    layers.push({
      id: 'households',
      type: 'circle',
      source: 'households',
      'source-layer': 'households',
      minzoom: 12.5,
      // Below z14 the server sends one point per grid with its count instead (clusters).
      filter: ['all', point, ['!', ['has', 'count']]],
      paint: {
        'circle-color': COLORS.household,
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 13, 1.8, 15, 3, 17, 5, 19, 7],
        'circle-stroke-color': '#ffffff',
        'circle-stroke-width': ['interpolate', ['linear'], ['zoom'], 13, 0.3, 16, 1],
        'circle-opacity': ['interpolate', ['linear'], ['zoom'], 12.5, 0, 13, 0.9],
        'circle-stroke-opacity': ['interpolate', ['linear'], ['zoom'], 12.5, 0, 13, 1],
      },
    });
  }
  if (has('households')) {
    const clustered: ExpressionSpecification = ['all', point, ['has', 'count']];
    layers.push(
      {
        id: 'household-clusters',
        type: 'circle',
        source: 'households',
        'source-layer': 'households',
        minzoom: 10,
        maxzoom: 14,
        filter: clustered,
        paint: {
          'circle-color': COLORS.household,
          'circle-opacity': 0.75,
          'circle-radius': ['interpolate', ['linear'], ['get', 'count'], 1, 7, 30, 11, 60, 14, 200, 20],
          'circle-stroke-color': '#ffffff',
          'circle-stroke-width': 1.5,
        },
      },
      {
        id: 'household-cluster-count',
        type: 'symbol',
        source: 'households',
        'source-layer': 'households',
        minzoom: 10,
        maxzoom: 14,
        filter: clustered,
        layout: {
          'text-field': ['to-string', ['get', 'count']],
          'text-font': FONT,
          'text-size': 11,
          // Where villages are dense the circles overlap; a count drawn on top of another
          // says nothing, so overlapping counts are left out until the map zooms in.
          'text-allow-overlap': false,
        },
        paint: { 'text-color': '#ffffff' },
      },
    );
  }
  if (has('hazards')) {
    layers.push({
      id: 'hazards-point',
      type: 'circle',
      source: 'hazards',
      'source-layer': 'hazards',
      filter: point,
      paint: {
        'circle-color': severityColor(),
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, 4, 16, ['match', ['get', 'severity'], 'high', 10, 'medium', 8, 7]],
        'circle-stroke-color': '#ffffff',
        'circle-stroke-width': 2,
        'circle-opacity': 0.9,
      },
    });
  }
  if (has('facilities')) {
    layers.push({
      id: 'facilities',
      type: 'circle',
      source: 'facilities',
      'source-layer': 'facilities',
      filter: point,
      paint: {
        'circle-color': matchTable('kind', FACILITY_COLORS, FACILITY_COLORS.other),
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, 3.5, 14, 6, 17, 9],
        'circle-stroke-color': '#ffffff',
        'circle-stroke-width': ['interpolate', ['linear'], ['zoom'], 11, 1, 14, 2],
      },
    });
  }

  // ---- labels ------------------------------------------------------------
  if (has('facilities')) {
    layers.push({
      id: 'facility-label',
      type: 'symbol',
      source: 'facilities',
      'source-layer': 'facilities',
      minzoom: 14.5,
      filter: point,
      layout: {
        'text-field': facilityLabelText(l),
        'text-font': FONT,
        'text-size': 12,
        'text-anchor': 'left',
        'text-offset': [0.9, 0],
        'text-max-width': 8,
        'text-optional': true,
      },
      paint: {
        'text-color': matchTable('kind', FACILITY_COLORS, FACILITY_COLORS.other),
        'text-halo-color': '#ffffff',
        'text-halo-width': 1.6,
      },
    });
  }
  if (has('areas')) {
    // One point per area (see labels.ts), not the tile pieces of the polygons.
    srcs2[LABEL_SOURCE] = { type: 'geojson', data: EMPTY };
    layers.push({
      id: 'area-label',
      type: 'symbol',
      source: LABEL_SOURCE,
      layout: {
        'text-field': areaLabelText(l),
        'text-font': FONT,
        'text-size': [
          'interpolate',
          ['linear'],
          ['zoom'],
          10,
          ['match', ['get', 'kind'], 'township', 16, 'village', 14, 12],
          13,
          ['match', ['get', 'kind'], 'township', 18, 'village', 17, 'grid', 12.5, 12],
          16,
          ['match', ['get', 'kind'], 'township', 20, 'village', 20, 'grid', 15, 13],
        ],
        'text-max-width': 9,
        'text-padding': 4,
        'symbol-sort-key': ['match', ['get', 'kind'], 'township', 0, 'village', 1, 'grid', 2, 3],
      },
      paint: {
        'text-color': ['match', ['get', 'kind'], 'township', COLORS.township, 'village', '#5a2209', '#0f2a1a'],
        'text-halo-color': 'rgba(255,255,255,0.95)',
        'text-halo-width': 2,
        'text-halo-blur': 0.5,
      },
    });
  }

  return {
    version: 8,
    name: 'cuntu',
    sources: { ...srcs, ...srcs2 },
    layers,
  };
}

function severityColor(): ExpressionSpecification {
  return ['match', ['get', 'severity'], 'high', COLORS.hazardHigh, 'medium', COLORS.hazardMedium, COLORS.hazardLow];
}
