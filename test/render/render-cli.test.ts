import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import t from 'tap';
import { validators } from '../../protocol/api.js';
import { SoftwareConfigError, UnknownTemplateVariableError } from '../../render/errors.js';
import { localOutputDir } from '../../render/output-location.js';
import { buildStitchJob } from '../../render/render-job.js';
import { renderJobFromOptions, renderSubmission, renderSubmit, type RenderSubmitOptions } from '../../cli/render/render-submit.js';
import { registerRenderCommands } from '../../cli/render/register.js';
import { run, tempDir, writeArgvEcho, cleanEnv } from './helpers.js';

const HOSTILE_SCENE = `shots/it's a "test" $(touch pwned) \`id\`.blend`;

async function dryRun(options: RenderSubmitOptions, cwd: string): Promise<string[]> {
  const lines: string[] = [];
  await renderSubmit({ ...options, dryRun: true }, { cwd, environment: { QFARM_HOME: path.join(cwd, 'no-farm') }, out: (l) => lines.push(l), err: () => {} });
  return lines;
}

t.test('dry run prints every task command, needs no master', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const lines = await dryRun({ scene: HOSTILE_SCENE, start: 1, end: 10, framesPerTask: 4 }, dir);
  t.match(lines[0], /^# qfarm render it's a "test" \$\(touch pwned\) `id`: 10 frame\(s\), 3 task\(s\)/);
  t.equal(lines.filter((l) => l.startsWith('QFARM_BLENDER_SETUP=')).length, 1, 'the setup Python once: the job script sets it before any task');
  const commands = lines.filter((l) => !l.startsWith('#') && !l.startsWith('QFARM_BLENDER_SETUP='));
  t.equal(commands.length, 3);
  t.ok(commands.every((c) => c.includes('--python-expr "$QFARM_BLENDER_SETUP"')), 'every task refers to it');
  t.ok(lines.some((l) => /^# task 1: frames 1-4 -> /.test(l)));
  t.match(commands[2], /-s '9' -e '10' -j '1' -a$/);
});

t.test('the scene path with spaces, quotes and $(...) reaches blender intact', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const bin = path.join(dir, 'bin');
  await run('mkdir', ['-p', bin]);
  writeArgvEcho(bin);
  const lines = await dryRun({ scene: HOSTILE_SCENE, start: 3, end: 3, tilesX: 2, tilesY: 1, param: ['SAMPLES=8'] }, dir);
  const command = lines.filter((l) => !l.startsWith('#') && l.startsWith('blender'))[1]!;
  const res = await run('/bin/sh', ['-c', command], { env: cleanEnv({ PATH: `${bin}:${process.env.PATH}`, NSLOTS: '4' }), cwd: dir });
  t.equal(res.code, 0, res.stderr);
  // One <arg> per argument; the setup Python spans lines.
  const argv = res.stdout.trim().slice(1, -1).split('>\n<');
  t.equal(argv[0], '-b');
  t.equal(argv[1], path.join(dir, HOSTILE_SCENE), 'one argument, exactly the absolute scene path');
  t.equal(argv[argv.indexOf('-t') + 1], '4', '$CPU is the task slots');
  const python = argv[argv.indexOf('--python-expr') + 1]!;
  t.match(python, /r\.border_min_x = 0\.5\nr\.border_max_x = 1\nr\.border_min_y = 0\nr\.border_max_y = 1/);
  t.match(python, /s\.cycles\.samples = 8/, 'the -P value given');
  t.notMatch(python, /^s\.cycles\.(seed|use_animated_seed|use_denoising) = /m, "the scene's seed, animated seed and denoiser are kept");
  t.match(python, /file_format = "OPEN_EXR_MULTILAYER"/, 'a tile is written as multilayer float EXR for the stitch');
  t.same(argv.slice(-7), ['-s', '3', '-e', '3', '-j', '1', '-a'], 'the range comes last, right before -a renders');
  t.match(argv[argv.indexOf('-o') + 1], /tiles\/tile-x1-y0\/frame_#####$/);
  t.notOk(existsSync(path.join(dir, 'pwned')), 'nothing in the path ran');
  t.match(lines.join('\n'), /# then stitch job .*\.stitch: one task per frame/);
  t.match(lines.join('\n'), /# stitch task 1: frame 3\nblender -b '.*' -o '.*'\/'frame_#####' --python-expr '<stitch from .*\/tiles>' -f 3/);
  t.match(lines.join('\n'), /# scene settings changed \(everything else is the scene's own\):\n# {3}Cycles samples 8 \(-P SAMPLES=8\)\n# {3}file extension on/, '-d lists every override');
});

t.test('unknown variables and parameters are errors that list what is known', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const unknown = await t.rejects(dryRun({ template: 'render $SCNE', start: 1 }, dir));
  t.ok(unknown);
  t.rejects(dryRun({ template: 'render $SCNE', start: 1 }, dir), UnknownTemplateVariableError);
  t.rejects(dryRun({ template: 'render $SCNE', start: 1 }, dir), { message: /unknown variable \$SCNE .*\$SCENE/ });
  t.rejects(dryRun({ scene: 'a.blend', start: 1, param: ['SAMPLE=8'] }, dir), { message: /blender has no parameter SAMPLE; its parameters: ENGINE FORMAT COLOR_DEPTH SEED ANIMATED_SEED SAMPLES/ });
  t.rejects(dryRun({ scene: 'a.blend', start: 1, param: ['SAMPLES=8; import os'] }, dir), SoftwareConfigError);
  t.rejects(dryRun({ scene: 'a.blend', start: 1, param: ['START=3'] }, dir), { message: /-P START/ });
  t.rejects(dryRun({ scene: 'a.mb', start: 1 }, dir), { message: /not a blender scene \(expected a file ending in .blend\)/ });
  t.rejects(dryRun({ start: 1 }, dir), { message: /uses \$SCENE but no scene was given/ });
  t.rejects(dryRun({ scene: 'a.blend' }, dir), { message: /no frame range/ });
  t.rejects(dryRun({ template: 'echo $START', expect: 'f_#.png', start: 1, tilesX: 2 }, dir), { message: /tiles need a template that uses \$SF_MIN_X/ });
  t.rejects(dryRun({ template: 'r $SF_MIN_X', expect: 'f_#.exr', start: 1, tilesX: 2 }, dir), { message: /tiles of template are stitched from PNG files by qfarm-stitch, but it writes f_#.exr/ });
  t.rejects(dryRun({ scene: 'a.blend', output: 'oss://Bad_Bucket/x/', start: 1 }, dir), { message: /output location oss:\/\/Bad_Bucket\/x\/ is not a valid oss:\/\/ URL/ });
  t.rejects(dryRun({ scene: 'a.blend', output: 'oss://bucket/a/../b/', start: 1 }, dir), { message: /has an empty, \. or \.\. path segment/ });
});

t.test('--debug-frame submits one frame, named as a debug run', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const job = renderJobFromOptions({ scene: 'shot.blend', debugFrame: 42 }, { cwd: dir, environment: {} });
  t.equal(job.tasks.length, 1);
  t.same(job.tasks[0]!.frames, [42]);
  t.equal(job.request.name, 'shot.debug');
  t.equal(localOutputDir(job.request.output), path.join(dir, 'shot.debug-frames'));
  t.throws(() => renderJobFromOptions({ scene: 'shot.blend', debugFrame: 42, start: 1 }, { cwd: dir, environment: {} }), /leave out -s/);
});

t.test('the submission bodies are valid POST /jobs requests', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const job = renderJobFromOptions({ scene: 'shot.blend', start: 1, end: 4, tilesX: 2, tilesY: 2 }, { cwd: dir, environment: {} });
  const body = renderSubmission('shot', job.script, 'shot.render.sh', job.tasks.length, job, { slots: 2 }, { cwd: dir, environment: {} });
  t.ok(validators.jobSubmitRequest.check(body));
  t.same(body.array, { first: 1, last: 16, step: 1 });
  t.equal(body.slots, 2);
  t.equal(body.shell, '/bin/sh');
  t.equal(body.command.kind, 'script');
  const stitch = renderSubmission('shot.stitch', '#!/bin/sh\n', 'x.sh', 4, job, {}, { cwd: dir, environment: {} }, ['17']);
  t.same(stitch.holdJobs, ['17']);
});

t.test('commander wiring: qfarm render submit -d parses every option', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const program = new Command('qfarm').exitOverride();
  registerRenderCommands(program);
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    await program.parseAsync(['render', 'submit', '-d', '--scene', 'x y.blend', '-s', '2', '-e', '9', '-j', '3', '-S', '2', '-R', '5', '-P', 'ENGINE=BLENDER_WORKBENCH', '--cpu', '2', '-N', 'shotA', '--outdir', 'frames', '--download', 'home'], { from: 'user' });
  } finally {
    process.chdir(cwd);
    process.stdout.write = original;
  }
  const text = written.join('');
  t.match(text, /# qfarm render shotA: 3 frame\(s\), 2 task\(s\); output file:\/\/.*\/frames\//);
  t.match(text, /r\.engine = "BLENDER_WORKBENCH"/);
  t.match(text, /-t '2'/);
  t.match(text, /'.*x y\.blend'/);
  t.same(program.commands.find((c) => c.name() === 'render')!.commands.map((c) => c.name()), ['submit', 'status', 'get', 'stitch', 'software']);
  const bad = new Command('qfarm').exitOverride().configureOutput({ writeErr: () => {} });
  registerRenderCommands(bad);
  await t.rejects(bad.parseAsync(['render', 'submit', '-d', '-S', '0'], { from: 'user' }), { code: 'commander.invalidArgument' });
});

t.test('a project gives scene location, output, software and parameter defaults; options win', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const home = path.join(dir, 'home');
  await run('mkdir', ['-p', path.join(home, 'render', 'projects'), path.join(dir, 'textures')]);
  writeFileSync(
    path.join(home, 'render', 'projects', 'shot010.json'),
    JSON.stringify({
      name: 'shot010',
      sceneLocation: `file://${dir}/scenes/`,
      inputs: [{ from: path.join(dir, 'textures'), to: 'textures' }, { from: '/no/such/dir', to: 'x' }],
      output: `file://${dir}/renders/`,
      parameters: { SAMPLES: '16', ENGINE: 'BLENDER_WORKBENCH' },
    }),
  );
  const warnings: string[] = [];
  const env = { QFARM_HOME: home };
  const job = renderJobFromOptions({ project: 'shot010', scene: 'a.blend', start: 1, param: ['ENGINE=CYCLES'] }, { cwd: dir, environment: env }, (l) => warnings.push(l));
  t.equal(job.request.scene, path.join(dir, 'scenes', 'a.blend'), 'relative scene found in the project scene location');
  t.equal(localOutputDir(job.request.output), path.join(dir, 'renders', 'a'), 'frames in <project output>/<job name>');
  t.match(job.tasks[0]!.command, /r\.engine = "CYCLES"/, '-P wins over the project');
  t.match(job.tasks[0]!.command, /s\.cycles\.samples = 16/, 'project parameters apply');
  t.same(warnings.length, 1);
  t.match(warnings[0], /input \/no\/such\/dir \(for x\) does not exist/);
  t.throws(() => renderJobFromOptions({ project: 'nope', scene: 'a.blend', start: 1 }, { cwd: dir, environment: env }), { message: /render project nope: .*nope\.json does not exist/ });
  writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ name: 'bad', output: 'nas://host:/export/renders/' }));
  t.throws(() => renderJobFromOptions({ project: './bad.json', scene: '/a.blend', start: 1 }, { cwd: dir, environment: env }), { message: /nas:\/\/ is not supported here/ });
});

t.test('a plan too big for one job script is refused before submission', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  t.throws(() => renderJobFromOptions({ scene: 'a.blend', start: 1, end: 30_000 }, { cwd: dir, environment: {} }), { message: /the job script for 30000 tasks is .* MiB, more than the 8 MiB/ });
  t.doesNotThrow(() => renderJobFromOptions({ scene: 'a.blend', start: 1, end: 30_000, framesPerTask: 10 }, { cwd: dir, environment: {} }));
});

t.test('oss:// scene, inputs and output become the jobs\' data options', async (t) => {
  const dir = tempDir(t, 'qfarm-cli-');
  const home = path.join(dir, 'home');
  mkdirSync(path.join(home, 'render', 'projects'), { recursive: true });
  writeFileSync(
    path.join(home, 'render', 'projects', 'p.json'),
    JSON.stringify({ name: 'p', sceneLocation: 'oss://studio/scenes', inputs: [{ from: 'oss://studio/textures', to: '/mnt/tex' }], output: 'oss://studio/renders' }),
  );
  const job = renderJobFromOptions({ project: 'p', scene: 'shots/a.blend', start: 1, end: 2, tilesX: 2 }, { cwd: dir, environment: { QFARM_HOME: home } });
  t.same(job.request.output, { kind: 'oss', url: 'oss://studio/renders/a/' }, 'frames under <project output>/<job name>/');
  const [textures, scene] = job.data!.inputs;
  t.same(textures, { kind: 'oss', source: 'oss://studio/textures/', target: '/mnt/tex', readOnly: true });
  t.equal(scene!.source, 'oss://studio/scenes/shots/', "the scene's folder is staged");
  t.ok(scene!.readOnly);
  t.equal(job.request.scene, `${scene!.target}/a.blend`, '$SCENE is the staged file');
  t.equal(job.data!.outputUrl, 'oss://studio/renders/a/');
  t.match(job.tasks[0]!.command, /-o "\$outdir"\/frame_#####/, "the renderer writes into the agent's $OUTDIR");
  t.match(job.script, /outdir="\$\{OUTDIR:\?[^}]*\}"\/'tiles\/tile-x0-y0'/);
  t.match(job.script, /set -- "\$outdir"\/'frame_00001'\n {4}ext='\.\*'/, "any extension: the scene's format decides it");
  const stitch = buildStitchJob(job, 7, ['qfarm-stitch']);
  t.same(
    stitch.data!.inputs.map((i) => [i.source, i.readOnly]),
    [['oss://studio/textures/', true], ['oss://studio/scenes/shots/', true], ['oss://studio/renders/a/tiles/', true]],
    'the Blender stitch renders the scene again: its inputs, then the tiles',
  );
  t.equal(stitch.data!.outputUrl, 'oss://studio/renders/a/');
  t.match(stitch.script, /outdir="\$\{OUTDIR/);
  t.ok(stitch.script.includes(`TILES = [[0,0.5,0,1,"${stitch.manifest.tileDir}/tile-x0-y0"]`), 'tiles read from the staged tiles/ prefix');
  const body = renderSubmission('a', job.script, 'a.sh', job.tasks.length, job, {}, { cwd: dir, environment: { HOME: dir } });
  t.same(body.data, job.data);
  t.equal(body.stdoutPath, undefined, 'no log directory of ours on the node');
  t.equal(body.cwd, dir);
});
