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

/**
 * `exr_passes(file)`: the passes of a multilayer EXR by layer, `{layer: {pass: (chanid, type)}}`,
 * read from its header's channel list (`ViewLayer.Normal.X`...); Combined is always there.
 */
const EXR_PASSES_PYTHON = [
  'def exr_channels(path):',
  '    with open(path, "rb") as f:',
  '        data = f.read(1 << 20)',
  '    if data[:4] != b"\\x76\\x2f\\x31\\x01": fail("tile %s is not an OpenEXR file" % path)',
  '    at = 8',
  '    while True:',
  '        end = data.index(b"\\0", at); name = data[at:end].decode("latin-1"); at = data.index(b"\\0", end + 1) + 1',
  '        if name == "": return []',
  '        size = struct.unpack_from("<i", data, at)[0]; value = data[at + 4:at + 4 + size]; at += 4 + size',
  '        if name == "channels":',
  '            out, p = [], 0',
  '            while value[p] != 0:',
  '                end = value.index(b"\\0", p); out.append(value[p:end].decode("latin-1")); p = end + 17',
  '            return out',
  'def exr_passes(path):',
  '    letters_of = {}',
  '    for channel in exr_channels(path):',
  '        parts = channel.split(".")',
  '        if len(parts) == 3 and parts[1] != "Combined":',
  '            letters_of.setdefault((parts[0], parts[1]), set()).add(parts[2])',
  '    out = {}',
  '    for (layer, name), letters in letters_of.items():',
  '        order = "RGBA" if letters <= set("RGBA") else "XYZW" if letters <= set("XYZW") else "".join(sorted(letters))',
  '        chanid = "".join(c for c in order if c in letters)',
  '        kind = "VALUE" if len(chanid) == 1 else "COLOR" if letters <= set("RGBA") else "VECTOR"',
  '        out.setdefault(layer, {})[name] = (chanid, kind)',
  '    return out',
];

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
    'def tile_files(frame):',
    '    name = re.sub("#+", lambda run: str(frame).zfill(len(run.group(0))), STEM) + ".exr"',
    '    return [os.path.join(t[4], name) for t in TILES]',
    ...EXR_PASSES_PYTHON,
    'class QfarmTiles(bpy.types.RenderEngine):',
    '    bl_idname = "QFARM_TILES"',
    '    bl_label = "qfarm tiles"',
    '    bl_use_postprocess = True',
    '    # The passes of the tiles (normal, AO, cryptomatte...) exist in the result only when registered.',
    '    def update_render_passes(self, scene=None, renderlayer=None):',
    '        first = tile_files(scene.frame_current)[0]',
    '        if not os.path.isfile(first): return',
    '        for name, (chanid, kind) in exr_passes(first).get(renderlayer.name, {}).items():',
    '            self.register_pass(scene, renderlayer, name, len(chanid), chanid, kind)',
    '    def render(self, depsgraph):',
    '        frame = depsgraph.scene.frame_current',
    '        files = tile_files(frame)',
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
