import { createSmokeActivities, type SmokeDeps } from './smoke.ts';

export type ActivityDeps = SmokeDeps;

/** Every activity of the service, over dependencies the worker builds once. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSmokeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
