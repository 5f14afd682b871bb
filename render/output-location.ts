import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OutputLocationError } from './errors.js';

/**
 * Where a render job's frames go. `file://` (and a plain path) is the local default: tasks write
 * there directly, which on the embedded farm and on shared storage is all that is needed.
 * `oss://` belongs to the data layer (uploads of each task's $OUTDIR) and is refused until then.
 */
export interface OutputLocation {
  /** As given, normalised: `file:///abs/dir/`. */
  url: string;
  /** Absolute directory the tasks write to. */
  dir: string;
}

export function parseOutputLocation(text: string, cwd: string = process.cwd()): OutputLocation {
  if (text === '') throw new OutputLocationError(text, 'the output location is empty', 'give --output file:///dir or --outdir DIR');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const dir = path.resolve(cwd, text);
    return { url: pathToFileURL(dir + path.sep).href, dir };
  }
  if (scheme === 'file') {
    let dir: string;
    try {
      dir = fileURLToPath(text);
    } catch (err) {
      throw new OutputLocationError(text, `output location ${text} is not a valid file:// URL: ${(err as Error).message}`, 'write it as file:///absolute/dir');
    }
    dir = path.resolve(dir);
    return { url: pathToFileURL(dir + path.sep).href, dir };
  }
  if (scheme === 'oss') {
    throw new OutputLocationError(text, `output location ${text}: oss:// outputs are not supported by qfarm render yet`, 'render to a file:// location (shared storage) for now');
  }
  throw new OutputLocationError(text, `output location ${text}: unknown scheme ${scheme}://`, 'use file:///dir (or a plain directory path)');
}
