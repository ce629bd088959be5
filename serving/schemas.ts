import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The API's shapes as TypeBox schemas: the routes declare them (OpenAPI at /docs, response
 * serialisation) and the CLI's client is typed from them, so both speak one contract.
 * Objects allow further properties: a newer server may say more than an older client reads.
 */
const Open = <T extends Record<string, TSchema>>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: true, ...(description ? { description } : {}) });

export const ErrorBody = Open({ error: Type.String(), message: Type.String() }, 'Every error: a code from the catalogue and what to do.');
export type ErrorBody = Static<typeof ErrorBody>;

/** partition → next offset */
export const PositionSchema = Type.Record(Type.String({ pattern: '^\\d+$' }), Type.Integer({ minimum: 0 }));

export const Accepted = Type.Object({ accepted: Type.Integer() });
export type Accepted = Static<typeof Accepted>;

const JobFields = {
  id: Type.String(),
  kind: Type.String(),
  state: Type.String(),
  startedAt: Type.String(),
  finishedAt: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  errorCode: Type.Optional(Type.String()),
};

export const BatchRunBody = Open(
  {
    ...JobFields,
    trigger: Type.String(),
    snapshot: Type.Optional(PositionSchema),
    version: Type.Optional(Type.Integer()),
    spilledBytes: Type.Optional(Type.Number()),
    full: Type.Boolean({ description: 'whether a full run was asked for' }),
    mode: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('incremental')], { description: 'how the run computes, once decided' })),
    fullBecause: Type.Optional(Type.String({ description: 'why the run is full' })),
    progress: Open({ viewsDone: Type.Integer(), viewsTotal: Type.Integer(), recordsRead: Type.Integer(), duplicates: Type.Optional(Type.Integer()), windowRecords: Type.Optional(Type.Integer()) }),
  },
  'A batch run: waiting_for_archive → computing → publishing → succeeded | failed. Incremental (the records after the serving version\'s S, merged into it) unless full.',
);

export const BatchRunRequest = Type.Object(
  { full: Type.Optional(Type.Boolean({ description: 'recompute every view from every archived record, not only what is new' })) },
  { additionalProperties: false },
);
export type BatchRunRequest = Static<typeof BatchRunRequest>;
export type BatchRunBody = Static<typeof BatchRunBody>;

export const ReplayBody = Open(
  {
    ...JobFields,
    target: PositionSchema,
    progress: Open({
      records: Type.Integer(),
      total: Type.Integer(),
      folded: Type.Integer(),
      duplicates: Type.Integer(),
      rate: Type.Number(),
      etaSeconds: Type.Union([Type.Number(), Type.Null()]),
      position: PositionSchema,
      resumedFrom: Type.Optional(PositionSchema),
      checkpoint: Type.Optional(Open({ position: PositionSchema, bytes: Type.Integer() })),
    }),
  },
  'A Kappa replay: running → succeeded | failed, with records read, rate and ETA; `resumedFrom` when it went on from a checkpoint.',
);
export type ReplayBody = Static<typeof ReplayBody>;

export const ViewVerificationBody = Open({
  view: Type.String(),
  definitionVersion: Type.String(),
  rowsCompared: Type.Integer(),
  missingInLambda: Type.Integer(),
  missingInKappa: Type.Integer(),
  measureMismatches: Type.Integer(),
  mismatchingRows: Type.Integer(),
  examples: Type.Array(Type.Unknown()),
  ok: Type.Boolean(),
});

export const VerificationBody = Open(
  {
    ...JobFields,
    trigger: Type.String(),
    position: Type.Optional(PositionSchema),
    batch: Type.Optional(Type.Union([Open({ version: Type.Integer(), snapshot: PositionSchema }), Type.Null()])),
    replayId: Type.Optional(Type.String()),
    viewsChecked: Type.Integer(),
    rowsCompared: Type.Integer(),
    mismatchingRows: Type.Integer(),
    ok: Type.Union([Type.Boolean(), Type.Null()]),
    views: Type.Array(ViewVerificationBody),
  },
  'A Lambda-vs-Kappa verification: every view compared bucket by bucket at one position.',
);
export type VerificationBody = Static<typeof VerificationBody>;

/** The body of POST /v1/replays (optional). */
export const ReplayRequest = Type.Object({ until: Type.Optional(PositionSchema) }, { additionalProperties: false });
export type ReplayRequest = Static<typeof ReplayRequest>;
