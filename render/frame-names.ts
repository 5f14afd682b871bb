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
