import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { compile } from '../protocol/validate.js';
import type { DataMapping } from '../protocol/job-data.js';
import { RenderError } from './errors.js';
import { ossPrefixUrl } from './output-location.js';
import { isOssUrl, ossProjectInput } from './render-data.js';

/**
 * Render projects, as Render Manager's: where a production's scenes are, what inputs its tasks
 * need, where its frames go, and its default software and parameters. A JSON file, by name in
 * `$QFARM_HOME/render/projects/NAME.json` or by path. Command-line options win over it.
 */
export const ProjectInput = Type.Object({
  /** `oss://bucket/prefix/` (staged read-only on each node), or `file:///dir` / an absolute path the workers see. */
  from: Type.String({ minLength: 1 }),
  /** Where the task expects it: the node path an oss:// input is staged to (file:// needs no copy). */
  to: Type.String({ minLength: 1 }),
});
export type ProjectInput = Static<typeof ProjectInput>;

export const RenderProject = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }),
  /** Directory that relative `--scene` paths are resolved against (file:// URL or absolute path). */
  sceneLocation: Type.Optional(Type.String({ minLength: 1 })),
  inputs: Type.Optional(Type.Array(ProjectInput)),
  /** Output location; each job writes into `<output>/<job name>/`. */
  output: Type.Optional(Type.String({ minLength: 1 })),
  software: Type.Optional(Type.String({ minLength: 1 })),
  parameters: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type RenderProject = Static<typeof RenderProject>;
const renderProject = compile('render project', RenderProject);

/** Reads a project: `ref` is a path (contains `/` or ends in .json) or a name under `dir`. */
export function loadProject(ref: string, dir: string, cwd: string): RenderProject {
  const file = ref.includes('/') || ref.endsWith('.json') ? path.resolve(cwd, ref) : path.join(dir, `${ref}.json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RenderError(`render project ${ref}: ${file} does not exist`, `create it (see render/README.md), or give a project file path`);
    throw new RenderError(`render project ${file} cannot be read: ${(err as Error).message}`);
  }
  const problems = renderProject.problems(parsed);
  if (problems.length > 0) throw new RenderError(`render project ${file} is invalid: ${problems.join('; ')}`);
  return parsed as RenderProject;
}

/** A local directory from a file:// URL or an absolute path; other schemes are refused. */
export function localDirectory(location: string, what: string): string {
  if (location.startsWith('file://')) return fileURLToPath(location);
  if (path.isAbsolute(location)) return location;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1];
  if (scheme !== undefined) {
    throw new RenderError(`${what} ${location}: ${scheme}:// is not supported here`, 'use an oss://bucket/prefix/ or a file:// location on storage the workers share');
  }
  throw new RenderError(`${what} ${location} must be absolute (file:///dir or /dir)`);
}

/**
 * Absolute scene path, or an oss:// URL: relative scene names are looked up in the project's
 * scene location.
 */
export function projectScenePath(project: RenderProject | null, scene: string, cwd: string): string {
  if (isOssUrl(scene)) return scene;
  if (!path.isAbsolute(scene) && project?.sceneLocation !== undefined && isOssUrl(project.sceneLocation)) {
    return ossPrefixUrl(project.sceneLocation, `project ${project.name} sceneLocation`) + scene.split(path.sep).join('/');
  }
  if (path.isAbsolute(scene) || project?.sceneLocation === undefined) return path.resolve(cwd, scene);
  return path.join(localDirectory(project.sceneLocation, `project ${project.name} sceneLocation`), scene);
}

/** Inputs whose source this machine cannot see: warnings, since workers may mount differently. */
export function checkProjectInputs(project: RenderProject): string[] {
  const warnings: string[] = [];
  for (const input of project.inputs ?? []) {
    if (isOssUrl(input.from)) continue;
    const dir = localDirectory(input.from, `project ${project.name} input`);
    if (!existsSync(dir)) warnings.push(`project ${project.name}: input ${input.from} (for ${input.to}) does not exist on this machine`);
  }
  return warnings;
}

/** The project's oss:// inputs as data mappings (staged read-only at their `to` on each node). */
export function projectDataInputs(project: RenderProject | null): DataMapping[] {
  return (project?.inputs ?? []).filter((i) => isOssUrl(i.from)).map((i) => ossProjectInput(i.from, i.to, project!.name));
}

/** `<project output>/<job name>/`, for a file:// or an oss:// project output. */
export function projectOutput(project: RenderProject, jobName: string): string {
  const output = project.output!;
  if (isOssUrl(output)) return `${ossPrefixUrl(output, `project ${project.name} output`)}${jobName}/`;
  return path.join(localDirectory(output, `project ${project.name} output`), jobName);
}
