import { blenderSetupPython } from './blender-setup.js';
import { tileDirName } from './output-layout.js';
import { frameTiles } from './plan.js';

/**
 * Blender stitches Blender's tiles: the stitch task renders the artist's scene with a tiny
 * Python render engine whose "render" loads each tile's multilayer EXR into its rectangle of
 * the render result (RenderEngine.begin_result + RenderResult.load_from_file). Blender's own
 * pipeline then does what it does after any render: the scene's compositing, colour
 * management, dither and file format (8/16-bit PNG, TIFF, OpenEXR, multilayer EXR with every
 * pass), so nothing is down-converted and the result equals the whole-frame render.
 * Tile rectangles follow Blender's border rounding (tile-pixels.ts), in single precision.
 */

export interface BlenderStitchOptions {
  tilesX: number;
  tilesY: number;
  /** Directory with one tile-xX-yY directory per tile (node path). */
  tileDir: string;
  /** The tiles' file name pattern without extension (frame_#####); tiles are `.exr`; the frame is Blender's -f. */
  stem: string;
  /** -P values of the render job (the output settings the user overrode apply here too). */
  parameters: Readonly<Record<string, string>>;
}

/** Python for `--python-expr` of the stitch render (values are numbers or JSON strings). */
export function blenderStitchPython(options: BlenderStitchOptions): string {
  const tiles = frameTiles(options.tilesX, options.tilesY).map((t) => [t.minX, t.maxX, t.minY, t.maxY, `${options.tileDir}/${tileDirName(t)}`]);
  const setup = blenderSetupPython(options.parameters, null);
  return [
    setup,
    'import os, re, struct, sys',
    `TILES = ${JSON.stringify(tiles)}`,
    `STEM = ${JSON.stringify(options.stem)}`,
    'def fail(message):',
    '    sys.stderr.write("qfarm-stitch: " + message + "\\n"); sys.stderr.flush(); os._exit(75)',
    'f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]',
    '# Blender: disprect.xmin = rd->border.xmin * winx, in float, truncated.',
    'px = lambda fraction, size: int(f32(f32(fraction) * size))',
    'class QfarmTiles(bpy.types.RenderEngine):',
    '    bl_idname = "QFARM_TILES"',
    '    bl_label = "qfarm tiles"',
    '    bl_use_postprocess = True',
    '    def render(self, depsgraph):',
    '        frame = depsgraph.scene.frame_current',
    '        name = re.sub("#+", lambda run: str(frame).zfill(len(run.group(0))), STEM) + ".exr"',
    '        files = [os.path.join(t[4], name) for t in TILES]',
    '        missing = [f for f in files if not os.path.isfile(f)]',
    '        if missing:',
    '            fail("frame %d: %d of %d tiles missing: %s; rerun the failed tile tasks of the render job (qfarm render status JOB lists them), then this stitch task" % (frame, len(missing), len(files), ", ".join(missing)))',
    '        rd = depsgraph.scene.render',
    '        w = rd.resolution_x * rd.resolution_percentage // 100',
    '        h = rd.resolution_y * rd.resolution_percentage // 100',
    '        for (min_x, max_x, min_y, max_y, _), path in zip(TILES, files):',
    '            x0, x1, y0, y1 = px(min_x, w), px(max_x, w), px(min_y, h), px(max_y, h)',
    '            result = self.begin_result(x0, y0, x1 - x0, y1 - y0)',
    '            try:',
    '                result.load_from_file(path)',
    '            except Exception as err:',
    '                fail("tile %s does not fit its %dx%d rectangle of the %dx%d frame (rendered from another scene or resolution?): %s" % (path, x1 - x0, y1 - y0, w, h, err))',
    '            self.end_result(result)',
    'bpy.utils.register_class(QfarmTiles)',
    'r.use_border = False',
    'r.engine = "QFARM_TILES"',
  ].join('\n');
}
