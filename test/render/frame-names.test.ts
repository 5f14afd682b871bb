import t from 'tap';
import { anyExtensionStem, frameFileName, isFrameFile } from '../../render/frame-names.js';

// The dashboard and the frame download find a frame's file by its pattern: `frame_#####.*`
// (Blender keeps the scene's format) takes whatever extension the format has.

t.test('an exact pattern names one file', async (t) => {
  t.equal(frameFileName('frame_#####.png', 7), 'frame_00007.png');
  t.ok(isFrameFile('frame_#####.png', 7, 'frame_00007.png'));
  t.notOk(isFrameFile('frame_#####.png', 7, 'frame_00007.exr'));
  t.equal(anyExtensionStem('frame_#####.png'), null);
});

t.test('an any-extension pattern matches the frame with one extension of letters and digits', async (t) => {
  t.equal(anyExtensionStem('frame_#####.*'), 'frame_#####');
  for (const name of ['frame_00007.exr', 'frame_00007.tif', 'frame_00007.png', 'frame_00007.jp2']) t.ok(isFrameFile('frame_#####.*', 7, name), name);
  for (const name of ['frame_00008.exr', 'frame_00007', 'frame_00007.', 'frame_00007.exr.tmp', 'frame_000070.exr', 'xframe_00007.exr']) t.notOk(isFrameFile('frame_#####.*', 7, name), name);
});
