import { kindOf } from '../../shared/measures/index.js';
import { GroupTable, type CompiledView, type ViewRow } from '../../shared/views/index.js';

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
export function mergeRows(view: CompiledView, sources: ReadonlyArray<Iterable<ViewRow>>): ReadonlyMap<string, ViewRow> {
  return new GroupTable(view.measures).mergeAll(sources).rows;
}

/**
 * Compares the Lambda and Kappa aggregates of one view bucket by bucket and group by group,
 * each measure with its kind's tolerance (contract §4): count, min and max exact; sum
 * and avg to 1e-9 relative; distinct by identical HLL registers; quantiles within the
 * sketch's accuracy.
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
      const spec = view.def.measures[name]!;
      const d = kindOf(spec).difference(spec, view.measures[i]!, l.states[i], k.states[i]);
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
  return view.measureNames.every((name, i) => kindOf(view.def.measures[name]!).isEmpty(row.states[i]));
}
