import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OutputLocationError } from './errors.js';

/**
 * Where a render job's frames go. `file://` (and a plain path) is the local default: tasks write
 * there directly, which on the embedded farm and on shared storage is all that is needed.
 * `oss://bucket/prefix/`: each task writes into the agent's `$OUTDIR`, and the agent uploads
 * and verifies it under the prefix before the task counts as done (the data layer).
 */
export type OutputLocation =
  | {
      kind: 'file';
      /** As given, normalised: `file:///abs/dir/`. */
      url: string;
      /** Absolute directory the tasks write to. */
      dir: string;
    }
  | {
      kind: 'oss';
      /** `oss://bucket/prefix/`, always ending in `/`. */
      url: string;
    };

/** Bucket names as OSS allows them: 3-63 of a-z 0-9 -, not starting or ending with -. */
const OSS_URL = /^oss:\/\/([a-z0-9][a-z0-9-]{1,61}[a-z0-9])(\/.*)?$/;

export function parseOutputLocation(text: string, cwd: string = process.cwd()): OutputLocation {
  if (text === '') throw new OutputLocationError(text, 'the output location is empty', 'give --output file:///dir, --output oss://bucket/prefix/ or --outdir DIR');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const dir = path.resolve(cwd, text);
    return { kind: 'file', url: pathToFileURL(dir + path.sep).href, dir };
  }
  if (scheme === 'file') {
    let dir: string;
    try {
      dir = fileURLToPath(text);
    } catch (err) {
      throw new OutputLocationError(text, `output location ${text} is not a valid file:// URL: ${(err as Error).message}`, 'write it as file:///absolute/dir');
    }
    dir = path.resolve(dir);
    return { kind: 'file', url: pathToFileURL(dir + path.sep).href, dir };
  }
  if (scheme === 'oss') return { kind: 'oss', url: ossPrefixUrl(text, 'output location') };
  throw new OutputLocationError(text, `output location ${text}: unknown scheme ${scheme}://`, 'use file:///dir, oss://bucket/prefix/ (or a plain directory path)');
}

/** `oss://bucket/prefix` checked and normalised to end in `/` (a prefix, never one object). */
export function ossPrefixUrl(text: string, what: string): string {
  const match = OSS_URL.exec(text);
  if (match === null) throw new OutputLocationError(text, `${what} ${text} is not a valid oss:// URL`, 'write it as oss://bucket/prefix/ (bucket: 3-63 of a-z, 0-9 and -)');
  const rest = (match[2] ?? '/').replace(/\/+$/, '');
  if (rest.split('/').some((part, i) => i > 0 && (part === '' || part === '.' || part === '..'))) {
    throw new OutputLocationError(text, `${what} ${text} has an empty, . or .. path segment`, 'write it as oss://bucket/prefix/');
  }
  return `oss://${match[1]}${rest}/`;
}

/** The directory of a file:// location; an oss:// location has none on this machine. */
export function localOutputDir(output: OutputLocation): string {
  if (output.kind !== 'file') throw new OutputLocationError(output.url, `output location ${output.url} is not a local directory`);
  return output.dir;
}
