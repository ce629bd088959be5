import { groupKey, type CompiledView, type ViewRow } from '../../shared/views/index.js';
import { hllRegisters, SKETCH_ALPHA, type HllState, type SketchState, type MeasureSpec } from '../../shared/measures/index.js';

export interface Difference {
  readonly kind: 'missing_in_lambda' | 'missing_in_kappa' | 'measure';
  readonly bucket: string;
  readonly dims: Record<string, string | null>;
  readonly measure?: string;
  readonly lambda?: unknown;
  readonly kappa?: unknown;
  /** how far apart, relative; Infinity for a missing row or differing registers */
  readonly relative: number;
}

export interface ViewVerification {
  readonly view: string;
  readonly definitionVersion: string;
  readonly rowsCompared: number;
  readonly missingInLambda: number;
  readonly missingInKappa: number;
  /** rows present on both sides with at least one measure differing beyond tolerance */
  readonly measureMismatches: number;
  /** every row that is missing on a side or differs */
  readonly mismatchingRows: number;
  /** the worst differences, at most `examples` */
  readonly examples: Difference[];
  readonly ok: boolean;
}

/** Merges sources into one state per group, the way a query would (without rolling up). */
export function mergeRows(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>): Map<string, ViewRow> {
  const out = new Map<string, ViewRow>();
  for (const source of sources) {
    for (const row of source) {
      const key = groupKey(row.bucket, row.dims);
      let have = out.get(key);
      if (!have) {
        have = { bucket: row.bucket, dims: row.dims, states: view.measures.map((m) => m.init()) };
        out.set(key, have);
      }
      for (let i = 0; i < view.measures.length; i++) have.states[i] = view.measures[i]!.absorb(have.states[i], row.states[i]);
    }
  }
  return out;
}

/**
 * Compares the Lambda and Kappa aggregates of one view bucket by bucket and group by group,
 * with design section 4's tolerances: count, min and max exact; sum and avg to 1e-9
 * relative; distinct by identical HLL registers; quantiles within the sketch's accuracy.
 */
export function compareView(
  view: CompiledView,
  lambda: ReadonlyMap<string, ViewRow>,
  kappa: ReadonlyMap<string, ViewRow>,
  examples = 10,
): ViewVerification {
  const differences: Difference[] = [];
  let missingInLambda = 0;
  let missingInKappa = 0;
  let measureMismatches = 0;
  let rowsCompared = 0;
  const describe = (row: ViewRow) => ({
    bucket: new Date(row.bucket).toISOString(),
    dims: Object.fromEntries(view.def.dimensions.map((d, i) => [d, row.dims[i] ?? null])),
  });
  for (const [key, l] of lambda) {
    const k = kappa.get(key);
    if (!k) {
      if (isEmptyRow(view, l)) continue;
      missingInKappa++;
      differences.push({ kind: 'missing_in_kappa', ...describe(l), relative: Infinity });
      continue;
    }
    rowsCompared++;
    let differs = false;
    view.measureNames.forEach((name, i) => {
      const d = measureDifference(view.def.measures[name]!, view.measures[i]!.result.bind(view.measures[i]), l.states[i], k.states[i]);
      if (d === undefined) return;
      differs = true;
      differences.push({ kind: 'measure', ...describe(l), measure: name, lambda: d.lambda, kappa: d.kappa, relative: d.relative });
    });
    if (differs) measureMismatches++;
  }
  for (const [key, k] of kappa) {
    if (lambda.has(key) || isEmptyRow(view, k)) continue;
    missingInLambda++;
    differences.push({ kind: 'missing_in_lambda', ...describe(k), relative: Infinity });
  }
  differences.sort((a, b) => b.relative - a.relative);
  const mismatchingRows = missingInLambda + missingInKappa + measureMismatches;
  return {
    view: view.def.name,
    definitionVersion: view.version,
    rowsCompared,
    missingInLambda,
    missingInKappa,
    measureMismatches,
    mismatchingRows,
    examples: differences.slice(0, examples),
    ok: mismatchingRows === 0,
  };
}

/** A group whose every state is the identity holds nothing; it may exist on one side only. */
function isEmptyRow(view: CompiledView, row: ViewRow): boolean {
  return view.measures.every((m, i) => m.kind === 'count' && row.states[i] === 0);
}

function measureDifference(
  spec: MeasureSpec,
  result: (s: unknown) => unknown,
  a: unknown,
  b: unknown,
): { lambda: unknown; kappa: unknown; relative: number } | undefined {
  const out = (relative: number) => ({ lambda: result(a), kappa: result(b), relative });
  switch (spec.kind) {
    case 'count':
    case 'min':
    case 'max':
      return a === b ? undefined : out(relativeDiff(a as number | null, b as number | null));
    case 'sum': {
      const r = relativeDiff(a as number | null, b as number | null);
      return r <= 1e-9 ? undefined : out(r);
    }
    case 'avg': {
      const x = a as { sum: number; count: number };
      const y = b as { sum: number; count: number };
      const r = x.count !== y.count ? Infinity : relativeDiff(x.sum, y.sum);
      return r <= 1e-9 ? undefined : out(r);
    }
    case 'distinct': {
      const x = hllRegisters(a as HllState);
      const y = hllRegisters(b as HllState);
      const same = x.length === y.length && x.every(([i, r], j) => y[j]![0] === i && y[j]![1] === r);
      return same ? undefined : out(Infinity);
    }
    case 'quantile': {
      const x = a as SketchState;
      const y = b as SketchState;
      if (x.count !== y.count) return out(Infinity);
      const rx = result(a) as Record<string, number | null> | null;
      const ry = result(b) as Record<string, number | null> | null;
      let worst = 0;
      for (const q of spec.q) worst = Math.max(worst, relativeDiff(rx?.[String(q)] ?? null, ry?.[String(q)] ?? null));
      return worst <= SKETCH_ALPHA * 2 ? undefined : out(worst);
    }
  }
}

function relativeDiff(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null || b === null) return Infinity;
  return Math.abs(a - b) / Math.max(1, Math.abs(a), Math.abs(b));
}
