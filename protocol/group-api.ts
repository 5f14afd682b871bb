import { Type, type Static } from '@sinclair/typebox';
import { GroupSpecInput } from './groups.js';
import { compile } from './validate.js';

/**
 * HTTP shapes of the group routes that protocol/groups.ts does not define (update, delete).
 * Routes: POST /groups, GET /groups, GET /groups/:name, POST /groups/:name/resize,
 * PATCH /groups/:name, DELETE /groups/:name, GET /perf.
 */

/** `qfarm group update NAME …`: any field of the definition but the name; autoscale merges field by field. */
export const GroupUpdateRequest = Type.Partial(Type.Omit(GroupSpecInput, ['name']));
export type GroupUpdateRequest = Static<typeof GroupUpdateRequest>;

export const GroupDeleteResponse = Type.Object({
  /** True when the row is gone; false while machines are still being released. */
  deleted: Type.Boolean(),
  message: Type.String(),
});
export type GroupDeleteResponse = Static<typeof GroupDeleteResponse>;

export const groupApiValidators = {
  groupUpdateRequest: compile('group update request', GroupUpdateRequest),
  groupDeleteResponse: compile('group delete response', GroupDeleteResponse),
};
