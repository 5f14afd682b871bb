// The builders one by one, not TypeBox's `Type` object: the browser bundle then carries only these.
import * as Type from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

/**
 * The dashboard's own routes (`/api/v1/web/…`): paged tables the master computes in SQL and the
 * browser shows as they come. Schemas only, no compiled validators: web/ bundles this file and
 * checks each answer with TypeBox's interpreter (the page's CSP forbids the compiler's eval).
 */

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

/** One row of the dashboard's job table: counts per state, never a row per task. */
export const JobListRow = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  user: Type.String(),
  group: Type.String(),
  priority: Type.Integer(),
  submitted: Type.Number(),
  started: NullableNumber,
  finishedAt: NullableNumber,
  state: Type.Union([Type.Literal('waiting'), Type.Literal('held'), Type.Literal('running'), Type.Literal('finished'), Type.Literal('deleted')]),
  total: Type.Integer({ minimum: 0 }),
  running: Type.Integer({ minimum: 0 }),
  done: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  deleted: Type.Integer({ minimum: 0 }),
  pending: Type.Integer({ minimum: 0 }),
});
export type JobListRow = Static<typeof JobListRow>;

/** `GET /web/jobs`: a page of jobs, newest first, and how many match the filter. */
export const JobListPage = Type.Object({ rows: Type.Array(JobListRow), total: Type.Integer({ minimum: 0 }) });
export type JobListPage = Static<typeof JobListPage>;

/** One task of a job's task table; a task not dispatched yet has nulls for what it has not done. */
export const TaskPageRow = Type.Object({
  taskId: Type.Integer(),
  state: Type.String(),
  host: NullableString,
  attempts: Type.Integer({ minimum: 0 }),
  started: NullableNumber,
  ended: NullableNumber,
  exitStatus: NullableNumber,
  failedReason: NullableString,
  cpuSeconds: NullableNumber,
  rssBytes: NullableNumber,
});
export type TaskPageRow = Static<typeof TaskPageRow>;

/** `GET /web/jobs/:id/tasks`: a page of one job's tasks and the job's task count. */
export const TaskPage = Type.Object({ rows: Type.Array(TaskPageRow), total: Type.Integer({ minimum: 0 }) });
export type TaskPage = Static<typeof TaskPage>;

/** One frame of a render job's frame grid. */
export const FrameView = Type.Object({
  frame: Type.Integer(),
  taskId: Type.Integer(),
  state: Type.String(),
  /** Wall seconds of the task divided by its frames, once done. */
  secondsPerFrame: NullableNumber,
  /** The thumbnail route, when the task printed one (render/thumbnail.ts) and the viewer may see it. */
  thumbnail: NullableString,
  /** Last lines of a failed frame's output (owner, root and managers only). */
  lastLines: Type.Array(Type.String()),
});
export type FrameView = Static<typeof FrameView>;

/** `GET /web/jobs/:id/frames`: the frames of a page of tasks; `render` is false for a job that is not a render. */
export const FramesPage = Type.Object({
  render: Type.Boolean(),
  tiled: Type.Boolean(),
  frames: Type.Array(FrameView),
  totalTasks: Type.Integer({ minimum: 0 }),
});
export type FramesPage = Static<typeof FramesPage>;
