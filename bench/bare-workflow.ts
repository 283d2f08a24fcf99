import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';

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

// A diagnostic, not a floor: the same shape plus a status search attribute upserted at each step
// as the pipeline does, to show what visibility writes cost on the dev server's SQLite.
const Status = defineSearchAttributeKey('PostStatus', SearchAttributeType.KEYWORD);

export async function bareShapeIndexed(): Promise<void> {
  const status = (value: string) => upsertSearchAttributes([{ key: Status, value }]);
  status('rendering');
  await prepare();
  status('publishing');
  await Promise.all([0, 1, 2, 3].map((i) => deliver(i)));
  status('recording');
  await record();
  status('published');
}
