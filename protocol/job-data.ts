import { Type, type Static } from '@sinclair/typebox';
import { compile } from './validate.js';

/**
 * Data options of a job and the proof of its outputs — the parts of the data layer
 * (storage/) that cross process boundaries: qsub → master (mappings, output location) and
 * agent → master (the verified output manifest that lets the master commit a task).
 * Not yet referenced by JobSubmission or the agent frames; the wiring adds them there.
 */

/** `oss://bucket/prefix/:/local/path[:ro]`, `nas://host:/export:/local/path[:ro]`, `file:///dir/:/local/path[:ro]`. */
export const DataMapping = Type.Object({
  kind: Type.Union([Type.Literal('oss'), Type.Literal('nas'), Type.Literal('file')]),
  source: Type.String({ minLength: 1, maxLength: 2048, pattern: '^(oss|nas|file)://' }),
  /** Absolute path on the node. */
  target: Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' }),
  readOnly: Type.Boolean(),
});
export type DataMapping = Static<typeof DataMapping>;

export const JobData = Type.Object({
  inputs: Type.Array(DataMapping, { maxItems: 64 }),
  /** Where `$OUTDIR` goes after the task succeeds: `oss://bucket/prefix/` or `file:///dir/`. */
  outputUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, pattern: '^(oss|file)://' })),
});
export type JobData = Static<typeof JobData>;

export const OutputManifestEntry = Type.Object({
  /** Relative to $OUTDIR, `/`-separated. */
  path: Type.String({ minLength: 1 }),
  url: Type.String({ minLength: 1 }),
  size: Type.Integer({ minimum: 0 }),
  /** CRC-64/XZ as a decimal string (OSS `x-oss-hash-crc64ecma`), verified after upload. */
  crc64: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$' })),
  etag: Type.String(),
});
export type OutputManifestEntry = Static<typeof OutputManifestEntry>;

/** What storage/upload-outputs.ts returns; a task is committed only with one of these. */
export const OutputManifest = Type.Object({
  destination: Type.String({ minLength: 1 }),
  files: Type.Array(OutputManifestEntry),
  totalBytes: Type.Integer({ minimum: 0 }),
  elapsedMs: Type.Integer({ minimum: 0 }),
});
export type OutputManifest = Static<typeof OutputManifest>;

export const jobDataValidators = {
  dataMapping: compile('data mapping', DataMapping),
  jobData: compile('job data options', JobData),
  outputManifest: compile('output manifest', OutputManifest),
};
