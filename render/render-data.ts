import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { DataMapping, JobData } from '../protocol/job-data.js';
import { RenderError } from './errors.js';
import { TILES_DIR } from './output-layout.js';
import { ossPrefixUrl, type OutputLocation } from './output-location.js';

/**
 * The data options (protocol/job-data.ts) of render jobs: oss:// scenes and project inputs are
 * staged read-only on the node, and with an oss:// output each task's `$OUTDIR` is uploaded and
 * CRC-64 verified by the agent before the task counts as done. Tiles travel through the bucket:
 * the stitch job stages the render job's tiles/ prefix and uploads the frames it stitches.
 */

/**
 * Node directory under which a user's oss:// render inputs are staged when no target is given:
 * under the submitter's own home (the render job is built by the submitter's CLI), never a
 * fixed path in /tmp, which another user could create first and fill.
 */
export function stageRoot(home: string = os.homedir()): string {
  return path.posix.join(home, '.cache', 'qfarm-render');
}

/**
 * Where an oss:// prefix is staged on a node: named by the URL, so every task and job of the
 * user that reads the same prefix shares one staged tree (published once per node).
 */
export function stagedInputPath(sourceUrl: string): string {
  return path.posix.join(stageRoot(), `in-${createHash('sha256').update(sourceUrl).digest('hex').slice(0, 16)}`);
}

export function isOssUrl(text: string): boolean {
  return /^oss:\/\//i.test(text);
}

/**
 * `--scene oss://bucket/shots/a.blend`: the scene's folder (with textures and caches next to it,
 * as scenes usually have) is staged read-only; `$SCENE` is the staged file.
 */
export function ossSceneInput(sceneUrl: string): { mapping: DataMapping; scene: string } {
  const slash = sceneUrl.lastIndexOf('/');
  const name = sceneUrl.slice(slash + 1);
  if (slash < 'oss://'.length || name === '') throw new RenderError(`scene ${sceneUrl} names no file`, 'give the scene object, e.g. oss://bucket/shots/shot.blend');
  const source = ossPrefixUrl(sceneUrl.slice(0, slash + 1), 'scene location');
  const target = stagedInputPath(source);
  return { mapping: { kind: 'oss', source, target, readOnly: true }, scene: path.posix.join(target, name) };
}

/** A project input `{from: oss://..., to: /node/path}`: staged read-only where the project says. */
export function ossProjectInput(from: string, to: string, project: string): DataMapping {
  if (!path.posix.isAbsolute(to)) throw new RenderError(`project ${project}: input ${from} goes to ${to}, which is not an absolute path`, 'give "to" as an absolute path on the workers');
  return { kind: 'oss', source: ossPrefixUrl(from, `project ${project} input`), target: to, readOnly: true };
}

/** Data options of the render job, or undefined when it needs none (file:// in and out). */
export function renderJobData(inputs: readonly DataMapping[], output: OutputLocation): JobData | undefined {
  if (output.kind === 'oss') return { inputs: [...inputs], outputUrl: output.url };
  return inputs.length > 0 ? { inputs: [...inputs] } : undefined;
}

/** Where the tiles of a job with an oss:// output are, in the bucket. */
export function tilesUrl(output: OutputLocation & { kind: 'oss' }): string {
  return `${output.url}${TILES_DIR}/`;
}

/**
 * The stitch job's data: the render job's tiles staged on the node, frames uploaded beside them,
 * and the render job's own inputs (a Blender stitch renders the scene again, from its tiles).
 */
export function stitchJobData(output: OutputLocation & { kind: 'oss' }, inputs: readonly DataMapping[] = []): { data: JobData; tileDir: string } {
  const source = tilesUrl(output);
  const tileDir = stagedInputPath(source);
  return { data: { inputs: [...inputs, { kind: 'oss', source, target: tileDir, readOnly: true }], outputUrl: output.url }, tileDir };
}
