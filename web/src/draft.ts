// A proposal of grids being adjusted on the page before it is accepted (issue 5).
//
// Nothing of it is saved until "Accept": the server computes the proposal, the page only moves
// shared vertices and keeps an undo history, then sends the adjusted features to the dry run
// and to accept. Household counts are not recomputed here: the page has no households, and the
// dry run of accept answers with the true numbers.
import type { MultiPolygon, Polygon, Position } from 'geojson';
import type { DraftFeature, Proposal } from './api';

/**
 * Two vertices closer than this (degrees, ~1 cm) are the same vertex. The proposal's grids share
 * their edges, but a shared vertex can come out of the server's arithmetic a few ulps apart in
 * each polygon; moving only the exact matches would open a gap.
 */
export const NEAR = 1e-7;

export const near = (a: Position, b: Position): boolean => Math.abs(a[0] - b[0]) <= NEAR && Math.abs(a[1] - b[1]) <= NEAR;

type Geometry = MultiPolygon | Polygon;

/** `g` with every vertex near `from` at `to`; the same object when none is. */
export function moveInGeometry(g: Geometry, from: Position, to: Position): Geometry {
  let hit = false;
  const ring = (r: Position[]) =>
    r.map((c) => {
      if (!near(c, from)) return c;
      hit = true;
      return to;
    });
  const moved: Geometry =
    g.type === 'Polygon'
      ? { type: 'Polygon', coordinates: g.coordinates.map(ring) }
      : { type: 'MultiPolygon', coordinates: g.coordinates.map((p) => p.map(ring)) };
  return hit ? moved : g;
}

/** The distinct vertices of a geometry (a ring repeats its first vertex at the end). */
export function verticesOfGeometry(g: Geometry): Position[] {
  const polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
  const out: Position[] = [];
  const seen = new Set<string>();
  for (const p of polys) for (const r of p) for (let i = 0; i < r.length - 1; i++) {
    // A key on a 1e-7 lattice finds nearly all duplicates without comparing every pair.
    const k = `${Math.round(r[i][0] / NEAR)},${Math.round(r[i][1] / NEAR)}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r[i]);
  }
  return out;
}

export class Draft {
  features: DraftFeature[];
  private undoStack: Geometry[][] = [];
  private redoStack: Geometry[][] = [];

  constructor(
    readonly proposal: Proposal,
    readonly keepExisting: boolean,
  ) {
    this.features = proposal.features.map((f) => ({ ...f, properties: { ...f.properties } }));
  }

  /** How many moves the current geometry differs from the proposal by (undone ones not counted). */
  get adjustments(): number {
    return this.undoStack.length;
  }

  canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** The features as they would be with `from` at `to` (for drawing while a vertex is dragged). */
  preview(from: Position, to: Position): DraftFeature[] {
    return this.features.map((f) => {
      const g = moveInGeometry(f.geometry, from, to);
      return g === f.geometry ? f : { ...f, geometry: g };
    });
  }

  /** Move the vertex `from` to `to` in every draft grid holding it; the number of grids moved. */
  moveVertex(from: Position, to: Position): number {
    const before = this.features.map((f) => f.geometry);
    const after = this.preview(from, to);
    const moved = after.filter((f, i) => f.geometry !== before[i]).length;
    if (!moved) return 0;
    this.undoStack.push(before);
    this.redoStack = [];
    this.features = after;
    return moved;
  }

  undo(): void {
    const g = this.undoStack.pop();
    if (!g) return;
    this.redoStack.push(this.features.map((f) => f.geometry));
    this.setGeometry(g);
  }

  redo(): void {
    const g = this.redoStack.pop();
    if (!g) return;
    this.undoStack.push(this.features.map((f) => f.geometry));
    this.setGeometry(g);
  }

  byDraft(n: number | null): DraftFeature | null {
    if (n === null) return null;
    return this.features.find((f) => f.properties.draft === n) ?? null;
  }

  private setGeometry(g: Geometry[]): void {
    this.features = this.features.map((f, i) => ({ ...f, geometry: g[i] }));
  }
}
