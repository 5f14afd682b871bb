import { MAX_THUMBNAIL_BYTES, THUMBNAIL_PREFIX, THUMBNAIL_WIDTH } from './thumbnail.js';

/**
 * Blender writes the dashboard's thumbnail of every frame itself, whatever the scene's format
 * (8/16-bit PNG, TIFF, OpenEXR, multilayer EXR...), for whole frames and stitched ones alike:
 * a `render_write` handler (called right after Blender wrote a frame) loads the written file
 * with Blender's image API, saves it as an 8-bit PNG through a scratch scene, scales that to
 * THUMBNAIL_WIDTH and prints it as a `qfarm-thumbnail <file> <base64>` line (render/thumbnail.ts)
 * on stdout, where it reaches the master with the task's log.
 *
 * Colour: a linear frame (EXR, HDR) is shown through the scene's view transform, look, exposure
 * and gamma, as Blender shows it; a display-referred frame (PNG, TIFF, JPEG...) already has them
 * baked in, so it is shown as written (Standard), not transformed twice (measured, Blender 3.4:
 * the thumbnails of a PNG, a TIFF and an EXR of the same frame agree to the byte).
 * Blender's own Render Result is no source: `blender -b ... -a` keeps none.
 * A thumbnail that cannot be made is a `qfarm-render: warning:` line; the frame stays good.
 */
export function blenderThumbnailPython(): string[] {
  return [
    'def qfarm_thumbnail(scene, *_):',
    '    import base64, os, shutil, tempfile',
    '    path = scene.render.frame_path(frame=scene.frame_current)',
    '    tmp = tempfile.mkdtemp(prefix="qfarm-thumbnail-")',
    '    try:',
    '        thumb = bpy.data.scenes.get("qfarm-thumbnail") or bpy.data.scenes.new("qfarm-thumbnail")',
    '        f = thumb.render.image_settings',
    '        f.file_format = "PNG"; f.color_mode = "RGB"; f.color_depth = "8"; f.compression = 100',
    '        thumb.display_settings.display_device = scene.display_settings.display_device',
    '        v = thumb.view_settings',
    '        if scene.render.image_settings.file_format in ("OPEN_EXR", "OPEN_EXR_MULTILAYER", "HDR"):',
    '            for k in ("view_transform", "look", "exposure", "gamma", "use_curve_mapping"): setattr(v, k, getattr(scene.view_settings, k))',
    '        else:',
    '            v.view_transform = "Standard"; v.look = "None"; v.exposure = 0; v.gamma = 1; v.use_curve_mapping = False',
    '        frame = bpy.data.images.load(path, check_existing=False)',
    '        full = os.path.join(tmp, "full.png")',
    '        try: frame.save_render(full, scene=thumb)',
    '        finally: bpy.data.images.remove(frame)',
    '        small = bpy.data.images.load(full, check_existing=False)',
    '        try:',
    '            w, h = small.size',
    `            if w > ${THUMBNAIL_WIDTH}: small.scale(${THUMBNAIL_WIDTH}, max(1, round(h * ${THUMBNAIL_WIDTH} / w)))`,
    '            small.filepath_raw = os.path.join(tmp, "small.png"); small.file_format = "PNG"; small.save()',
    '        finally: bpy.data.images.remove(small)',
    '        with open(os.path.join(tmp, "small.png"), "rb") as fh: data = fh.read()',
    `        if len(data) > ${MAX_THUMBNAIL_BYTES}: raise ValueError("the thumbnail is %d bytes, more than ${MAX_THUMBNAIL_BYTES}" % len(data))`,
    `        print("${THUMBNAIL_PREFIX}" + os.path.basename(path) + " " + base64.b64encode(data).decode("ascii"), flush=True)`,
    '    except Exception as err:',
    '        print("qfarm-render: warning: no thumbnail of " + path + " (the frame is fine): " + str(err), flush=True)',
    '    finally:',
    '        shutil.rmtree(tmp, ignore_errors=True)',
    'bpy.app.handlers.render_write.append(qfarm_thumbnail)',
  ];
}
