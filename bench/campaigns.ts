import { loadavg } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { type BenchUser, signUpBenchUser } from './api-client.js';
import { inPool, percentile, report, round, sleep } from './stats.js';
import { peakMemory, startSystem } from './system.js';

const CAMPAIGNS = Number(process.env.BENCH_CAMPAIGNS ?? 1000);
const SLOTS_EACH = Number(process.env.BENCH_CAMPAIGN_SLOTS ?? 10);
const WIDTH = Number(process.env.BENCH_CONCURRENCY ?? 16);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const CALENDAR_REQUESTS = Number(process.env.BENCH_CALENDAR_REQUESTS ?? 200);
const DAY = 86_400_000;

/**
 * Campaigns at scale: CAMPAIGNS campaigns of SLOTS_EACH future slots each (two a week, a time of
 * their own), all created through the API by one person, starting two weeks ahead so no slot
 * comes due during the run. Reports the worker+API process's memory, the dev server's CPU while
 * the campaigns are created and while they all wait (the same span of waiting before any existed,
 * for comparison), and the calendar endpoint's latency for that person's month view, which holds
 * every campaign's slots in it.
 */
export async function campaignsBench(): Promise<void> {
  const system = await startSystem();
  const connection = await Connection.connect({ address: system.temporalAddress });
  const client = new Client({ connection });
  const sampler = peakMemory(system);
  const { peak } = sampler;
  try {
    const user = await signUpBenchUser(system.apiUrl);
    await sleep(5000);
    const idleBefore = await idleSpan(system, IDLE_SECONDS);
    const memoryBefore = await system.memory();

    const startDate = new Date(Date.now() + 14 * DAY).toISOString().slice(0, 10);
    const createMs: number[] = [];
    let failures = 0;
    const cpuBeforeCreate = await system.cpu();
    const created = performance.now();
    await inPool(CAMPAIGNS, WIDTH, async (i) => {
      const started = performance.now();
      try {
        await createCampaign(user, campaignBody(i, startDate));
        createMs.push(performance.now() - started);
      } catch (err) {
        failures += 1;
        if (failures <= 3) console.error(String(err));
      }
    });
    const createSeconds = (performance.now() - created) / 1000;
    console.error(`campaigns: ${CAMPAIGNS - failures} created in ${createSeconds.toFixed(0)} s`);
    const cpuAfterCreate = await system.cpu();
    const memoryAfterCreate = await system.memory();

    // Every campaign is a running workflow holding one timer; the calendar shows every future slot.
    const running = await client.workflow.count('WorkflowType = "campaign" AND ExecutionStatus = "Running"');
    const from = new Date(`${startDate}T00:00:00Z`).getTime() - DAY;
    const all = await getCalendar(user, from, from + 45 * DAY);
    const futureSlots = all.filter((i) => i.kind === 'slot').length;

    await sleep(10_000);
    const idleAfter = await idleSpan(system, IDLE_SECONDS);
    console.error(`campaigns: idle span done; ${CALENDAR_REQUESTS} calendar requests next`);
    const memoryWaiting = await system.memory();

    // The month view from the first slot's day: most of every campaign's slots fall in it.
    const monthFrom = new Date(`${startDate}T00:00:00Z`).getTime();
    const monthTo = monthFrom + 31 * DAY;
    let monthItems = 0;
    const calendarMs: number[] = [];
    const cpuBeforeCalendar = await system.cpu();
    for (let i = 0; i < CALENDAR_REQUESTS; i++) {
      const started = performance.now();
      monthItems = (await getCalendar(user, monthFrom, monthTo, 'Europe/Berlin')).length;
      calendarMs.push(performance.now() - started);
    }
    const cpuAfterCalendar = await system.cpu();
    const memoryAfterCalendar = await system.memory();

    report('campaigns', {
      campaigns: CAMPAIGNS,
      createFailures: failures,
      runningCampaignWorkflows: running.count,
      futureSlotsInCalendar: futureSlots,
      createSeconds: round(createSeconds, 1),
      createMs: { p50: round(percentile(createMs, 50)), p99: round(percentile(createMs, 99)) },
      memoryMB: {
        workerAndApiIdleBefore: round(memoryBefore.appMB, 0),
        workerAndApiAfterCreate: round(memoryAfterCreate.appMB, 0),
        workerAndApiAllWaiting: round(memoryWaiting.appMB, 0),
        workerAndApiAfterCalendar: round(memoryAfterCalendar.appMB, 0),
        workerAndApiPeak: round(peak.appMB, 0),
        devServerAllWaiting: round(memoryWaiting.devServerMB, 0),
        devServerPeak: round(peak.devServerMB, 0),
      },
      cpuSeconds: {
        devServerWhileCreating: round(cpuAfterCreate.devServer - cpuBeforeCreate.devServer),
        workerAndApiWhileCreating: round(cpuAfterCreate.app - cpuBeforeCreate.app),
        [`devServerIdle${IDLE_SECONDS}sBefore`]: round(idleBefore.devServer),
        [`devServerIdle${IDLE_SECONDS}sAllWaiting`]: round(idleAfter.devServer),
        [`workerAndApiIdle${IDLE_SECONDS}sBefore`]: round(idleBefore.app),
        [`workerAndApiIdle${IDLE_SECONDS}sAllWaiting`]: round(idleAfter.app),
        workerAndApiWhileCalendar: round(cpuAfterCalendar.app - cpuBeforeCalendar.app),
      },
      calendarMonthView: {
        requests: CALENDAR_REQUESTS,
        items: monthItems,
        p50Ms: round(percentile(calendarMs, 50)),
        p99Ms: round(percentile(calendarMs, 99)),
        maxMs: round(Math.max(...calendarMs)),
      },
      loadAverage: loadavg().map((l) => round(l)),
    });
  } finally {
    sampler.stop();
    await connection.close();
    await system.stop();
  }
}

/** CPU seconds each process used over `seconds` of doing nothing. */
async function idleSpan(system: Awaited<ReturnType<typeof startSystem>>, seconds: number) {
  const before = await system.cpu();
  await sleep(seconds * 1000);
  const after = await system.cpu();
  return { app: after.app - before.app, devServer: after.devServer - before.devServer };
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** Two slots a week at a time of the campaign's own, so slots spread over the day and the week. */
function campaignBody(i: number, startDate: string) {
  const time = `${String(6 + (i % 16)).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}`;
  return {
    name: `Series ${i}`,
    brief: { topic: `Product tip number ${i}`, tone: 'friendly' },
    targets: [{ type: 'local_export' }],
    review: { mode: 'auto' },
    cadence: {
      kind: 'weekly',
      slots: [
        { day: DAYS[i % 7], time },
        { day: DAYS[(i + 3) % 7], time },
      ],
    },
    timeZone: 'Europe/Berlin',
    startDate,
    end: { count: SLOTS_EACH },
    leadMinutes: 60,
  };
}

async function createCampaign(user: BenchUser, body: unknown): Promise<void> {
  const res = await fetch(`${user.baseUrl}/api/v1/campaigns`, {
    method: 'POST',
    headers: { ...user.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`create campaign: ${res.status} ${text.slice(0, 300)}`);
}

async function getCalendar(user: BenchUser, from: number, to: number, timeZone = 'UTC') {
  const query = new URLSearchParams({
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    timeZone,
  });
  const res = await fetch(`${user.baseUrl}/api/v1/calendar?${query}`, { headers: user.headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`calendar: ${res.status} ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { items: { kind: string }[] }).items;
}
