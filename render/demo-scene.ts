import { execFile } from 'node:child_process';
import { RenderError } from './errors.js';

/**
 * A small animated Blender scene, built by Blender's own Python (no .blend in the repo): a
 * turning cube, a rising sphere, a floor, a camera and a sun, 320x180, Cycles at 8 samples on
 * the CPU with a fixed seed and denoising off. Used by the demo and the tests.
 */
export const DEMO_SCENE_PYTHON = `
import bpy, sys, math
out = sys.argv[sys.argv.index('--') + 1]
frames = int(sys.argv[sys.argv.index('--') + 2])
bpy.ops.wm.read_factory_settings(use_empty=True)
s = bpy.context.scene
s.render.engine = 'CYCLES'
s.render.resolution_x = 320
s.render.resolution_y = 180
s.render.resolution_percentage = 100
s.render.image_settings.file_format = 'PNG'
s.frame_start = 1
s.frame_end = frames
s.cycles.device = 'CPU'
s.cycles.samples = 8
s.cycles.seed = 0
s.cycles.use_denoising = False
def material(name, rgb):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    m.node_tree.nodes['Principled BSDF'].inputs['Base Color'].default_value = (*rgb, 1)
    m.diffuse_color = (*rgb, 1)
    return m
bpy.ops.mesh.primitive_cube_add(location=(0, 0, 0))
cube = bpy.context.object
cube.data.materials.append(material('red', (0.8, 0.1, 0.1)))
cube.keyframe_insert('rotation_euler', frame=1)
cube.rotation_euler = (0, 0, math.pi / 2)
cube.keyframe_insert('rotation_euler', frame=frames)
bpy.ops.mesh.primitive_uv_sphere_add(location=(2.2, 0.5, 0))
sphere = bpy.context.object
sphere.data.materials.append(material('blue', (0.1, 0.2, 0.8)))
sphere.keyframe_insert('location', frame=1)
sphere.location = (2.2, 0.5, 1.5)
sphere.keyframe_insert('location', frame=frames)
bpy.ops.mesh.primitive_plane_add(size=12, location=(0, 0, -1))
bpy.context.object.data.materials.append(material('grey', (0.6, 0.6, 0.6)))
bpy.ops.object.camera_add(location=(7, -7, 5), rotation=(math.radians(63), 0, math.radians(45)))
s.camera = bpy.context.object
bpy.ops.object.light_add(type='SUN', location=(3, -2, 6))
bpy.context.object.data.energy = 3
world = bpy.data.worlds.new('sky')
world.color = (0.05, 0.07, 0.1)
s.world = world
bpy.ops.wm.save_as_mainfile(filepath=out)
`;

/** Builds the demo scene into `file` (any path: it goes to Blender as one argv word). */
export function createDemoScene(file: string, frames = 6, blender = 'blender'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(blender, ['-b', '--factory-startup', '--python-expr', DEMO_SCENE_PYTHON, '--', file, String(frames)], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new RenderError(`could not build the demo scene ${file} with ${blender}: ${err.message}\n${stdout}${stderr}`.trim()));
      else resolve();
    });
  });
}
