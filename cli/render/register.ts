import { Command, InvalidArgumentError } from 'commander';
import { frameNumber, wholeNumber } from '../option-numbers.js';
import { RenderError } from '../../render/errors.js';
import { BUILTIN_SOFTWARE, loadSoftwareDir } from '../../render/software.js';
import { ApiClient } from '../api-client.js';
import { CliError, ExitCode } from '../cli-errors.js';
import { locateMaster, qfarmHome } from '../master-location.js';
import path from 'node:path';
import { downloadRenderOutput, renderSubmit, type RenderSubmitOptions } from './render-submit.js';
import { formatRenderStatus, renderOutputUrl, renderStatus } from './render-status.js';
import { fetchTaskLog } from './task-log.js';
import { stitchMain } from '../../render/stitch-main.js';

/**
 * `qfarm render ...`: registered on the `qfarm` program by cli/qfarm.ts with
 * `registerRenderCommands(program)`.
 */

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Render errors become CLI errors (printed with their hint, exit 1). */
async function asCli<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof RenderError) throw new CliError(`qfarm render: ${err.message}`, ExitCode.Failure, err.hint);
    throw err;
  }
}

const print = (line: string): void => void process.stdout.write(`${line}\n`);
const warn = (line: string): void => void process.stderr.write(`${line}\n`);

export function registerRenderCommands(program: Command): Command {
  const render = program.command('render').description('render frames as array jobs: chunks, tiles stitched into frames, Blender built in');

  render
    .command('submit')
    .description('submit a render: one task per chunk of frames (and per tile), tiles stitched back into frames')
    .option('-T, --template <command>', 'command template ($START $END $STEP $FRAME $OUTDIR $CPU $SCENE $SF_MIN_X ... and -P names; values are shell-quoted)')
    .option('--software <name>', 'software configuration (default blender; see qfarm render software)')
    .option('--scene <file>', 'scene file, as the workers see it, or oss://bucket/path/scene.blend (its folder is staged on each node)')
    .option('-s, --start <frame>', 'first frame', frameNumber('-s'))
    .option('-e, --end <frame>', 'last frame (default: the start frame)', frameNumber('-e'))
    .option('-j, --step <n>', 'frame step', wholeNumber('-j', 1))
    .option('-S, --frames-per-task <n>', 'frames per task (multiframe chunks)', wholeNumber('-S', 1))
    .option('--nodes <n>', 'split the range evenly over N tasks instead of -S', wholeNumber('--nodes', 1))
    .option('-X, --tiles-x <n>', 'tiles across each frame', wholeNumber('-X', 1))
    .option('-Y, --tiles-y <n>', 'tiles down each frame', wholeNumber('-Y', 1))
    .option('-R, --random [seed]', 'shuffle the task order (reproducible for a seed)', wholeNumber('-R', 0))
    .option('-P, --param <name=value>', 'set a template parameter (repeatable)', collect)
    .option('--wait', 'wait until every frame is rendered (and stitched), print the status; exit 1 if frames failed', false)
    .option('--download <dir>', 'wait (as --wait), then download the frames into DIR (tiles stay in the output location)')
    .option('-d, --dry-run', 'print the task commands; submit nothing (needs no master)', false)
    .option('--debug-frame <frame>', 'submit one frame only, to test the setup before production', frameNumber('--debug-frame'))
    .option('--outdir <dir>', 'output directory (default ./NAME-frames)')
    .option('--output <url>', 'output location: file:///dir, or oss://bucket/prefix/ (each task\'s $OUTDIR uploaded and verified)')
    .option('--expect <pattern>', "file each frame writes in $OUTDIR, e.g. 'frame_#####.png' (checked after each task)")
    .option('--cpu <n>', 'value of $CPU (default: the task\'s slots, NSLOTS; 0 = all cores for Blender)', wholeNumber('--cpu', 0))
    .option('--project <name|file>', 'render project: scene location, output, software and parameter defaults ($QFARM_HOME/render/projects/NAME.json)')
    .option('-N, --name <name>', 'job name (default: the scene file name)')
    .option('--slots <n>', 'slots each task occupies (like qsub -pe smp N)', wholeNumber('--slots', 1))
    .option('-q, --queue <group>', 'group (queue) to run in')
    .option('-p, --priority <n>', 'priority -1023..1024', (t: string) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < -1023 || n > 1024) throw new InvalidArgumentError(`-p must be -1023..1024, got "${t}"`);
      return n;
    })
    .action((options: RenderSubmitOptions) =>
      asCli(async () => {
        const result = await renderSubmit(options, {
          cwd: process.cwd(),
          environment: process.env,
          out: print,
          err: warn,
          progress: { write: (text) => void process.stderr.write(text), tty: process.stderr.isTTY === true },
        });
        if ((options.wait || options.download !== undefined) && result.renderJobId !== null) {
          const master = locateMaster();
          const status = await renderStatus(new ApiClient(master), result.renderJobId, (job, task) => fetchTaskLog(master, job, task));
          for (const line of formatRenderStatus(status)) print(line);
          if (status.failedFrames.length > 0) process.exitCode = 1;
        }
      }),
    );

  render
    .command('status')
    .description('frames done/total, failed frames with their last log lines, time per frame')
    .argument('<job>', 'the render job id (or its stitch job id)', wholeNumber('JOB', 1))
    .action((jobId: number) =>
      asCli(async () => {
        const master = locateMaster();
        const status = await renderStatus(new ApiClient(master), jobId, (job, task) => fetchTaskLog(master, job, task));
        for (const line of formatRenderStatus(status)) print(line);
        if (status.failedTasks.length > 0) process.exitCode = 1;
      }),
    );

  render
    .command('get')
    .description("download a render job's frames (from its oss:// or file:// output location) into DIR")
    .argument('<job>', 'the render job id (or its stitch job id)', wholeNumber('JOB', 1))
    .argument('<dir>', 'local directory for the frames')
    .action((jobId: number, dir: string) =>
      asCli(async () => {
        const url = await renderOutputUrl(new ApiClient(locateMaster()), jobId);
        await downloadRenderOutput(url, path.resolve(dir), { environment: process.env, out: print });
      }),
    );

  render
    .command('stitch')
    .description('stitch one frame from its tiles (what the stitch job runs; for reruns by hand)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]', "--frame N --tiles NXxNY --tile-dir DIR --pattern 'frame_#####.png' --output-dir DIR")
    .action((args: string[]) => {
      process.exitCode = stitchMain(args, { out: print, err: warn });
    });

  render
    .command('software')
    .description('list software configurations (built in, and $QFARM_HOME/render/software/*.json)')
    .action(() =>
      asCli(async () => {
        const dir = path.join(qfarmHome(), 'render', 'software');
        for (const s of [...loadSoftwareDir(dir), ...BUILTIN_SOFTWARE]) {
          print(`${s.name}: ${s.description}`);
          print(`  command: ${s.template}`);
          for (const p of s.parameters) print(`  -P ${p.name}=${p.default === '' ? "''" : p.default}  ${p.description}`);
        }
      }),
    );
  return render;
}
