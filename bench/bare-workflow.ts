import { proxyActivities } from '@temporalio/workflow';

// The post pipeline's shape with nothing inside: one activity, four in parallel, one. Its rate is
// the engine's own pace on a given server, the floor the real pipeline is measured against.

export interface BareActivities {
  prepare(): Promise<void>;
  deliver(index: number): Promise<void>;
  record(): Promise<void>;
}

const { prepare, deliver, record } = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });

export async function bareShape(): Promise<void> {
  await prepare();
  await Promise.all([0, 1, 2, 3].map((i) => deliver(i)));
  await record();
}
