/**
 * Frame file names as Blender writes them: each run of `#` in a pattern becomes the frame
 * number zero-padded to the run's length (`frame_#####.png` → `frame_00007.png`). A pattern
 * without `#` gets the frame appended, 4 digits, as Blender does for `-o /out/name`.
 */
export function frameFileName(pattern: string, frame: number): string {
  const digits = (width: number): string => {
    const text = String(Math.abs(frame)).padStart(width, '0');
    return frame < 0 ? `-${text}` : text;
  };
  if (!pattern.includes('#')) return pattern + digits(4);
  return pattern.replace(/#+/g, (run) => digits(run.length));
}

/** software.ts ANY_EXTENSION: a pattern ending in it takes the extension of the scene's format. */
const ANY_EXTENSION = '.*';

/** The pattern without its any-extension ending, when it has one (`frame_#####.*` → `frame_#####`). */
export function anyExtensionStem(pattern: string): string | null {
  return pattern.endsWith(ANY_EXTENSION) ? pattern.slice(0, -ANY_EXTENSION.length) : null;
}

/**
 * Whether `name` is the file of `frame` under `pattern`: its exact name, or for an
 * any-extension pattern the frame's name with one extension of letters and digits
 * (`frame_00007.exr`, `frame_00007.tif`), as Blender names the scene's format.
 */
export function isFrameFile(pattern: string, frame: number, name: string): boolean {
  const stem = anyExtensionStem(pattern);
  if (stem === null) return name === frameFileName(pattern, frame);
  const base = frameFileName(stem, frame);
  return name.startsWith(`${base}.`) && /^[A-Za-z0-9]+$/.test(name.slice(base.length + 1));
}
