import { DefaultLogger, Runtime } from '@temporalio/worker';
import { calendarRenderBench } from './calendar-render.js';
import { campaignsBench } from './campaigns.js';
import { createLatencyBench, pipelineBench } from './pipeline.js';
import { renderBench } from './render.js';
import { scaleBench } from './scale.js';
import { type RunningSystem, startSystem } from './system.js';
import { transcodeBench } from './transcode.js';
import { uploadMemoryBench } from './upload-memory.js';
import { uploadTranscodeMemoryBench } from './upload-transcode-memory.js';

/**
 * `npm run bench [scenario...]`: every scenario by default, or the ones named. Scenarios that need
 * the running system share one (`pipeline`, `create`); `scale` and `campaigns` start fresh ones of their own.
 */
const SCENARIOS = [
  'render',
  'transcode',
  'pipeline',
  'create',
  'scale',
  'upload-memory',
  'upload-transcode-memory',
  'campaigns',
  'calendar-render',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const asked = process.argv.slice(2);
const unknown = asked.filter((a) => !(SCENARIOS as readonly string[]).includes(a));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  process.exit(2);
}
const chosen = (asked.length > 0 ? asked : SCENARIOS) as Scenario[];

// The bench's own worker (the bare workflow) logs warnings only: the figures go to stdout.
Runtime.install({ logger: new DefaultLogger('WARN') });

let system: RunningSystem | undefined;
const shared = async () => {
  system ??= await startSystem();
  return system;
};

console.error(`bench: ${chosen.join(', ')} on ${new Date().toISOString()}`);
try {
  for (const scenario of SCENARIOS.filter((s) => chosen.includes(s))) {
    const started = performance.now();
    if (scenario === 'render') await renderBench();
    if (scenario === 'transcode') await transcodeBench();
    if (scenario === 'pipeline') await pipelineBench(await shared());
    if (scenario === 'create') await createLatencyBench(await shared());
    if (scenario === 'scale') {
      await system?.stop();
      system = undefined;
      await scaleBench();
    }
    if (scenario === 'upload-memory') await uploadMemoryBench();
    if (scenario === 'upload-transcode-memory') await uploadTranscodeMemoryBench();
    if (scenario === 'campaigns') {
      await system?.stop();
      system = undefined;
      await campaignsBench();
    }
    if (scenario === 'calendar-render') {
      const figures = await calendarRenderBench();
      console.log(`calendar-render (month view, 1,000 items, built panel in Chromium): ${JSON.stringify(figures)}`);
    }
    console.error(`bench: ${scenario} took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
} finally {
  await system?.stop();
}
// The SDK's native runtime (the bare-engine worker) can keep the event loop alive after the last
// scenario; every figure is printed by now.
process.exit(process.exitCode ?? 0);
