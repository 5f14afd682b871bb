import path from 'node:path';
import { RenderError } from './errors.js';
import { expectedOutputs, taskOutdir, taskOutdirRelative } from './output-layout.js';
import { shellQuote } from './shell-quote.js';
import type { RenderPlan, TaskSpec } from './plan.js';
import { ANY_EXTENSION, checkSoftwareUse, type SoftwareConfig } from './software.js';
import { RuntimeShellValue, expandTemplate, templateVariableNames, type TemplateValue } from './template.js';

/**
 * Each planned task's variables and its expanded command: what the job script runs for one
 * SGE_TASK_ID, and what `qfarm render -d` prints.
 */

/**
 * `$CPU` when not fixed with --cpu: the task's slot count, known only on the worker (the agent
 * sets NSLOTS); 0 means "all cores" to Blender's `-t`.
 */
export const CPU_FROM_SLOTS = new RuntimeShellValue('"${NSLOTS:-0}"');

/**
 * `$OUTDIR` of a task whose output goes to oss://: the directory the agent made for this task
 * (its `OUTDIR`), known only on the worker. The job script sets `outdir` from it (plus the
 * tile's sub-directory) before the command runs.
 */
export const OUTDIR_AT_RUNTIME = new RuntimeShellValue('"$outdir"');
export interface TaskContext {
  software: SoftwareConfig;
  /** `-P name=value` as given (defaults are filled in from the software). */
  parameters: Readonly<Record<string, string>>;
  /** Absolute scene path as the workers see it, or null. */
  scene: string | null;
  /** Absolute output directory of the job, or null: the agent's `$OUTDIR` at run time (oss://). */
  outputDir: string | null;
  /** `--cpu N`, or null for the task's slots at run time. */
  cpu: number | null;
}

export interface ExpandedTask extends TaskSpec {
  /** Where the task writes, for people: a path, or `$OUTDIR/...` when known only on the worker. */
  outdir: string;
  /** The same as one shell word for the job script (`'/dir'` or `"$OUTDIR"/'tiles/...'`). */
  outdirWord: string;
  /**
   * Expected files as shell words, relative to `"$outdir"` when the directory is a runtime one;
   * without the extension when `expectedExtension` is a glob (the scene's format decides it).
   */
  expectedWords: string[];
  /** '' (the words are the files) or ANY_EXTENSION: each word plus `.*` must match a file. */
  expectedExtension: string;
  variables: Record<string, TemplateValue>;
  command: string;
  /** Files the task must have written when it exits (empty when the software declares none). */
  expected: string[];
  /**
   * Shell variables the job script sets once, before any task's command: a large derived value
   * that every task shares (Blender's setup Python), which the commands reference instead of
   * repeating it (a 2,400-frame job would otherwise carry 2,400 copies past the script limit).
   */
  shared: Readonly<Record<string, string>>;
}

/** Derived values shorter than this are left inline: a reference would not save anything. */
const HOIST_MIN_CHARS = 256;

/**
 * Replaces each derived variable that has one large value for every task with a reference to a
 * shell variable set once (`"$QFARM_NAME"`); returns those variables and their values.
 */
function hoistSharedValues(all: Record<string, TemplateValue>[], names: readonly string[]): Record<string, string> {
  const shared: Record<string, string> = {};
  if (all.length < 2) return shared;
  for (const name of names) {
    const first = all[0]![name];
    if (typeof first !== 'string' || first.length < HOIST_MIN_CHARS || !all.every((v) => v[name] === first)) continue;
    const variable = `QFARM_${name}`;
    shared[variable] = first;
    const reference = new RuntimeShellValue(`"$${variable}"`);
    for (const v of all) v[name] = reference;
  }
  return shared;
}

function fraction(value: number): string {
  return String(value);
}

/** Variables of one task (built-ins, parameters with defaults, then what the software derives). */
export function taskVariables(task: TaskSpec, ctx: TaskContext, parameterValues: Readonly<Record<string, string>>): Record<string, TemplateValue> {
  const tile = task.tile;
  const plain: Record<string, string> = {
    ...parameterValues,
    START: String(task.start),
    END: String(task.end),
    STEP: String(task.step),
    FRAME: String(task.start),
    OUTDIR: ctx.outputDir === null ? '$OUTDIR' : taskOutdir(ctx.outputDir, tile),
    SF_MIN_X: fraction(tile?.minX ?? 0),
    SF_MAX_X: fraction(tile?.maxX ?? 1),
    SF_MIN_Y: fraction(tile?.minY ?? 0),
    SF_MAX_Y: fraction(tile?.maxY ?? 1),
  };
  if (ctx.scene !== null) plain.SCENE = ctx.scene;
  const derived = ctx.software.derive?.(plain, tile) ?? {};
  const runtime: Record<string, TemplateValue> = ctx.outputDir === null ? { OUTDIR: OUTDIR_AT_RUNTIME } : {};
  return { ...plain, ...derived, ...runtime, CPU: ctx.cpu === null ? CPU_FROM_SLOTS : String(ctx.cpu) };
}

/** Checks the software and scene once, then expands every task of the plan. */
export function expandTasks(plan: RenderPlan, ctx: TaskContext): ExpandedTask[] {
  const tiled = plan.tilesX * plan.tilesY > 1;
  const parameterValues = checkSoftwareUse(ctx.software, ctx.parameters, tiled);
  if (ctx.scene === null && templateVariableNames(ctx.software.template).includes('SCENE')) {
    throw new RenderError(`the ${ctx.software.name} command uses $SCENE but no scene was given`, 'give --scene FILE');
  }
  if (ctx.scene !== null) {
    const suffixes = ctx.software.sceneSuffixes;
    if (suffixes.length > 0 && !suffixes.some((s) => ctx.scene!.toLowerCase().endsWith(s))) {
      throw new RenderError(`scene ${ctx.scene} is not a ${ctx.software.name} scene (expected a file ending in ${suffixes.join(' or ')})`);
    }
    if (!path.isAbsolute(ctx.scene)) throw new RenderError(`scene path ${ctx.scene} must be absolute (workers do not share your working directory)`);
  }
  const anyExtension = ctx.software.output?.endsWith(ANY_EXTENSION) ?? false;
  const expectedExtension = anyExtension ? ANY_EXTENSION : '';
  const stem = (name: string): string => (anyExtension ? name.slice(0, -ANY_EXTENSION.length) : name);
  const allVariables = plan.tasks.map((task) => taskVariables(task, ctx, parameterValues));
  const shared = hoistSharedValues(allVariables, ctx.software.derivedNames ?? []);
  return plan.tasks.map((task, index) => {
    const variables = allVariables[index]!;
    const command = expandTemplate(ctx.software.template, variables);
    if (ctx.outputDir === null) {
      const sub = taskOutdirRelative(task.tile);
      const outdir = sub === '' ? '$OUTDIR' : `$OUTDIR/${sub}`;
      const names = ctx.software.output === null ? [] : expectedOutputs('', ctx.software.output, task.frames);
      return {
        ...task,
        outdir,
        outdirWord: `"\${OUTDIR:?qfarm render: the agent set no OUTDIR for this task (oss:// output needs an agent with the data layer)}"${sub === '' ? '' : '/' + shellQuote(sub)}`,
        expectedWords: names.map((name) => `"$outdir"/${shellQuote(stem(name))}`),
        expectedExtension,
        variables,
        command,
        expected: names.map((name) => `${outdir}/${name}`),
        shared,
      };
    }
    const outdir = taskOutdir(ctx.outputDir, task.tile);
    const expected = ctx.software.output === null ? [] : expectedOutputs(outdir, ctx.software.output, task.frames);
    return { ...task, outdir, outdirWord: shellQuote(outdir), expectedWords: expected.map((file) => shellQuote(stem(file))), expectedExtension, variables, command, expected, shared };
  });
}
