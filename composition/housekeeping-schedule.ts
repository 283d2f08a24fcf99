import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { isUnimplemented } from '../client.js';
import type { Logger } from '../runtime/logger.js';
import type { housekeeping } from '../workflows/housekeeping.js';

export function housekeepingScheduleId(taskQueue: string): string {
  return `${taskQueue}-housekeeping`;
}

/**
 * Keeps the hourly housekeeping schedule in place with the current retention setting. Safe to run
 * from every worker at start: the first creates it, the others update it.
 */
export async function ensureHousekeepingSchedule(
  client: Client,
  options: { taskQueue: string; auditRetentionDays: number; logger: Logger },
): Promise<void> {
  const scheduleId = housekeepingScheduleId(options.taskQueue);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'housekeeping',
    workflowId: `${scheduleId}-run`,
    taskQueue: options.taskQueue,
    args: [{ auditRetentionDays: options.auditRetentionDays }] as Parameters<typeof housekeeping>,
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1 hour' }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, action }));
      return;
    }
    // The time-skipping test server has no schedules; retention then runs only where it does.
    if (isUnimplemented(err)) {
      options.logger.warn('this Temporal server has no schedules: audit retention is not scheduled');
      return;
    }
    throw err;
  }
}
