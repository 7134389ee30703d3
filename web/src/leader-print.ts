// Printing the leader's map, in the browser: a second MapLibre map, off screen, at the paper's
// pixel size (same style, same data, the same view), drawn once; its canvas goes onto a page
// with the title, the legend, a scale bar, a north arrow, the date and the OSM attribution. The
// page is a PNG, or a PDF (jsPDF) holding that PNG on an A4/A3 page. Everything is drawn into the
// image with the browser's own fonts, so Chinese needs no font inside the PDF.
import { Map as MapLibreMap, type LngLatBoundsLike, type StyleSpecification } from 'maplibre-gl';

export type Paper = 'a4' | 'a3';
export type Orientation = 'portrait' | 'landscape';

export type LegendItem =
  | { type: 'fill'; color: string; stroke?: string; label: string }
  | { type: 'line'; color: string; dashed?: boolean; label: string }
  | { type: 'circle'; color: string; stroke?: string; radius?: number; label: string }
  | { type: 'ramp'; colors: string[]; label: string }
  | { type: 'heading'; label: string };

export interface PrintText {
  title: string;
  subtitle?: string;
  legendTitle: string;
  north: string;
  date: string;
  attribution: string;
  scaleUnit: (m: number) => string;
}

export interface SidePanel {
  heading: string;
  lines: Array<{ label: string; value: string; strong?: boolean }>;
}

const MM: Record<Paper, [number, number]> = { a4: [210, 297], a3: [297, 420] };
/** Pixels per millimetre of the page image: 150 dpi for A4, 120 dpi for A3 (about the same file size). */
const PX_PER_MM: Record<Paper, number> = { a4: 150 / 25.4, a3: 120 / 25.4 };
const FONT = 'system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif';

export function pageSizeMm(paper: Paper, o: Orientation): [number, number] {
  const [a, b] = MM[paper];
  return o === 'portrait' ? [a, b] : [b, a];
}

/** Draw `style` at `bounds` into a map of w×h device pixels, off screen; resolves with its canvas once drawn. */
export async function renderMapImage(
  style: StyleSpecification,
  bounds: LngLatBoundsLike,
  w: number,
  h: number,
  extra?: (m: MapLibreMap) => void,
): Promise<{ canvas: HTMLCanvasElement; metresPerPixel: number }> {
  // Map pixels at twice the CSS pixels: lines and labels print at a legible size.
  const ratio = 2;
  const box = document.createElement('div');
  box.style.cssText = `position:fixed;left:-${w + 100}px;top:0;width:${Math.round(w / ratio)}px;height:${Math.round(h / ratio)}px;visibility:hidden;pointer-events:none`;
  box.setAttribute('aria-hidden', 'true');
  document.body.append(box);
  const m = new MapLibreMap({
    container: box,
    style,
    bounds,
    fitBoundsOptions: { padding: 10 },
    interactive: false,
    attributionControl: false,
    pixelRatio: ratio,
    fadeDuration: 0,
    canvasContextAttributes: { preserveDrawingBuffer: true, antialias: true },
    localIdeographFontFamily: '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", sans-serif',
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = window.setTimeout(() => reject(new Error('print map timed out')), 60_000);
      m.once('load', () => {
        extra?.(m);
        m.once('idle', () => {
          window.clearTimeout(timer);
          resolve();
        });
        m.triggerRepaint();
      });
    });
    const src = m.getCanvas();
    const out = document.createElement('canvas');
    out.width = src.width;
    out.height = src.height;
    out.getContext('2d')!.drawImage(src, 0, 0);
    const lat = m.getCenter().lat;
    // Web Mercator with 512-pixel tiles, per CSS pixel, then per device pixel.
    const mpp = (40_075_016.686 * Math.cos((lat * Math.PI) / 180)) / (512 * 2 ** m.getZoom()) / ratio;
    return { canvas: out, metresPerPixel: mpp };
  } finally {
    m.remove();
    box.remove();
  }
}

function niceLength(maxMetres: number): number {
  const p = 10 ** Math.floor(Math.log10(maxMetres));
  for (const f of [5, 2, 1]) if (f * p <= maxMetres) return f * p;
  return p;
}

function drawSwatch(ctx: CanvasRenderingContext2D, item: LegendItem, x: number, y: number, s: number): void {
  ctx.save();
  switch (item.type) {
    case 'fill':
      ctx.fillStyle = item.color;
      ctx.fillRect(x, y, s * 1.4, s);
      ctx.strokeStyle = item.stroke ?? 'rgba(0,0,0,0.4)';
      ctx.lineWidth = Math.max(1, s / 12);
      ctx.strokeRect(x, y, s * 1.4, s);
      break;
    case 'line':
      ctx.strokeStyle = item.color;
      ctx.lineWidth = Math.max(2, s / 5);
      if (item.dashed) ctx.setLineDash([s / 3, s / 5]);
      ctx.beginPath();
      ctx.moveTo(x, y + s / 2);
      ctx.lineTo(x + s * 1.4, y + s / 2);
      ctx.stroke();
      break;
    case 'circle': {
      const r = (item.radius ?? 0.35) * s;
      ctx.fillStyle = item.color;
      ctx.beginPath();
      ctx.arc(x + s * 0.7, y + s / 2, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.strokeStyle = item.stroke ?? '#fff';
      ctx.lineWidth = Math.max(1.5, s / 10);
      ctx.stroke();
      break;
    }
    case 'ramp': {
      const g = ctx.createLinearGradient(x, 0, x + s * 1.4, 0);
      item.colors.forEach((c, i) => g.addColorStop(i / Math.max(1, item.colors.length - 1), c));
      ctx.fillStyle = g;
      ctx.fillRect(x, y, s * 1.4, s);
      break;
    }
    case 'heading':
      break;
  }
  ctx.restore();
}

/** Lines of `text` that fit `width` (breaks anywhere for Chinese, at spaces for others). */
function wrap(ctx: CanvasRenderingContext2D, text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  const tokens = /\s/.test(text) && !/[\u4e00-\u9fff]/.test(text) ? text.split(/(\s+)/) : [...text];
  for (const tok of tokens) {
    const next = line + tok;
    if (line && ctx.measureText(next).width > width) {
      out.push(line.trimEnd());
      line = tok.trimStart();
    } else line = next;
  }
  if (line) out.push(line);
  return out;
}

/**
 * The page image: title on top, the map in a frame, legend (and an optional side panel: the
 * noticeboard's staff) on the right (landscape) or below (portrait), scale bar and north arrow on
 * the map, date and attribution at the foot.
 */
export async function composePage(opts: {
  paper: Paper;
  orientation: Orientation;
  style: StyleSpecification;
  bounds: LngLatBoundsLike;
  legend: LegendItem[];
  text: PrintText;
  side?: SidePanel;
  extra?: (m: MapLibreMap) => void;
}): Promise<HTMLCanvasElement> {
  const [wMm, hMm] = pageSizeMm(opts.paper, opts.orientation);
  const k = PX_PER_MM[opts.paper];
  const W = Math.round(wMm * k);
  const H = Math.round(hMm * k);
  const u = k; // one millimetre
  const margin = 10 * u;
  const titleH = 16 * u;
  const footH = 10 * u;
  const landscape = opts.orientation === 'landscape';
  const sideW = landscape ? 62 * u : 0;
  const sideH = landscape ? 0 : 58 * u;
  const frame = {
    x: margin,
    y: margin + titleH,
    w: W - 2 * margin - (landscape ? sideW + 6 * u : 0),
    h: H - 2 * margin - titleH - footH - (landscape ? 0 : sideH + 5 * u),
  };
  const { canvas: mapImg, metresPerPixel } = await renderMapImage(opts.style, opts.bounds, Math.round(frame.w), Math.round(frame.h), opts.extra);

  const c = document.createElement('canvas');
  c.width = W;
  c.height = H;
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, W, H);
  ctx.textBaseline = 'alphabetic';

  // Title and subtitle.
  ctx.fillStyle = '#222';
  ctx.font = `700 ${Math.round(8 * u)}px ${FONT}`;
  ctx.fillText(opts.text.title, margin, margin + 8 * u, W - 2 * margin);
  if (opts.text.subtitle) {
    ctx.font = `${Math.round(4 * u)}px ${FONT}`;
    ctx.fillStyle = '#555';
    ctx.fillText(opts.text.subtitle, margin, margin + 14 * u, W - 2 * margin);
  }

  // The map, scaled to the frame (it was drawn at the frame's size, so the scale is ~1).
  const sx = frame.w / mapImg.width;
  ctx.drawImage(mapImg, frame.x, frame.y, frame.w, frame.h);
  ctx.strokeStyle = '#333';
  ctx.lineWidth = Math.max(2, 0.4 * u);
  ctx.strokeRect(frame.x, frame.y, frame.w, frame.h);

  // Scale bar, bottom left inside the frame.
  const mPerPagePx = metresPerPixel / sx;
  const len = niceLength(mPerPagePx * frame.w * 0.25);
  const barPx = len / mPerPagePx;
  const bx = frame.x + 5 * u;
  const by = frame.y + frame.h - 6 * u;
  ctx.fillStyle = 'rgba(255,255,255,0.85)';
  ctx.fillRect(bx - 2 * u, by - 7 * u, barPx + 4 * u + 20 * u, 10 * u);
  ctx.fillStyle = '#222';
  for (let i = 0; i < 4; i++) {
    ctx.fillStyle = i % 2 ? '#fff' : '#222';
    ctx.fillRect(bx + (barPx / 4) * i, by, barPx / 4, 1.6 * u);
  }
  ctx.strokeStyle = '#222';
  ctx.lineWidth = Math.max(1, 0.25 * u);
  ctx.strokeRect(bx, by, barPx, 1.6 * u);
  ctx.fillStyle = '#222';
  ctx.font = `${Math.round(3.2 * u)}px ${FONT}`;
  ctx.fillText('0', bx - 0.8 * u, by - 1.2 * u);
  ctx.fillText(opts.text.scaleUnit(len), bx + barPx - 2 * u, by - 1.2 * u);

  // North arrow, top right inside the frame (the print map is never rotated).
  const nx = frame.x + frame.w - 12 * u;
  const ny = frame.y + 7 * u;
  ctx.fillStyle = 'rgba(255,255,255,0.85)';
  ctx.beginPath();
  ctx.arc(nx, ny + 7 * u, 8 * u, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#222';
  ctx.beginPath();
  ctx.moveTo(nx, ny + 1 * u);
  ctx.lineTo(nx + 3.5 * u, ny + 12 * u);
  ctx.lineTo(nx, ny + 9.5 * u);
  ctx.closePath();
  ctx.fill();
  ctx.fillStyle = '#fff';
  ctx.strokeStyle = '#222';
  ctx.lineWidth = Math.max(1, 0.25 * u);
  ctx.beginPath();
  ctx.moveTo(nx, ny + 1 * u);
  ctx.lineTo(nx - 3.5 * u, ny + 12 * u);
  ctx.lineTo(nx, ny + 9.5 * u);
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = '#222';
  ctx.font = `700 ${Math.round(4 * u)}px ${FONT}`;
  ctx.textAlign = 'center';
  ctx.fillText(opts.text.north, nx, ny - 0.5 * u);
  ctx.textAlign = 'left';

  // Legend (and the side panel) on the right or below.
  let lx = landscape ? frame.x + frame.w + 6 * u : margin;
  let ly = landscape ? frame.y : frame.y + frame.h + 5 * u;
  const colW = landscape ? sideW : (W - 2 * margin) / (opts.side ? 2 : 1);
  const s = 4.2 * u;
  const legendTop = ly;
  const drawPanelHeading = (text: string) => {
    ctx.fillStyle = '#222';
    ctx.font = `700 ${Math.round(4.4 * u)}px ${FONT}`;
    ctx.fillText(text, lx, ly + 4.4 * u);
    ly += 7.5 * u;
  };
  if (opts.side) {
    drawPanelHeading(opts.side.heading);
    for (const l of opts.side.lines) {
      ctx.font = `${Math.round(3.4 * u)}px ${FONT}`;
      ctx.fillStyle = '#666';
      ctx.fillText(l.label, lx, ly + 3.4 * u, colW - 2 * u);
      ly += 4.6 * u;
      ctx.font = `${l.strong ? '700 ' : ''}${Math.round(4 * u)}px ${FONT}`;
      ctx.fillStyle = '#111';
      for (const w of l.value.split('\n').flatMap((part) => wrap(ctx, part, colW - 2 * u))) {
        ctx.fillText(w, lx, ly + 4 * u);
        ly += 5.4 * u;
      }
      ly += 1.5 * u;
    }
    if (landscape) ly += 4 * u;
    else {
      lx = margin + colW;
      ly = legendTop;
    }
  }
  drawPanelHeading(opts.text.legendTitle);
  const cols = !landscape && !opts.side ? 2 : 1;
  const itemW = colW / cols;
  const startY = ly;
  const maxY = landscape ? frame.y + frame.h : H - margin - footH;
  let col = 0;
  for (const item of opts.legend) {
    if (ly + s > maxY) {
      if (col + 1 >= cols) break;
      col++;
      ly = startY;
    }
    const x = lx + col * itemW;
    ctx.font = `${item.type === 'heading' ? '700 ' : ''}${Math.round(3.4 * u)}px ${FONT}`;
    ctx.fillStyle = '#222';
    if (item.type === 'heading') {
      ctx.fillText(item.label, x, ly + s * 0.85, itemW - 2 * u);
      ly += s + 1.6 * u;
      continue;
    }
    drawSwatch(ctx, item, x, ly, s);
    ctx.fillText(item.label, x + s * 1.4 + 2.5 * u, ly + s * 0.85, itemW - s * 1.4 - 4 * u);
    ly += s + 1.6 * u;
  }

  // Foot: date on the left, attribution on the right.
  ctx.font = `${Math.round(3.2 * u)}px ${FONT}`;
  ctx.fillStyle = '#444';
  const fy = H - margin - 2 * u;
  ctx.fillText(opts.text.date, margin, fy);
  ctx.textAlign = 'right';
  ctx.fillText(opts.text.attribution, W - margin, fy);
  ctx.textAlign = 'left';
  return c;
}

export function canvasBlob(c: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'));
}

/** A PDF of one page at the paper's size, holding the page image edge to edge. */
export async function pdfBlob(c: HTMLCanvasElement, paper: Paper, orientation: Orientation, title: string): Promise<Blob> {
  const { jsPDF } = await import('jspdf');
  const [w, h] = pageSizeMm(paper, orientation);
  const doc = new jsPDF({ orientation, unit: 'mm', format: paper, compress: true });
  doc.setProperties({ title, creator: 'cuntu 村图' });
  doc.addImage(c, 'PNG', 0, 0, w, h, undefined, 'FAST');
  return doc.output('blob');
}

export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 30_000);
}
