/** Small statistics for benchmark figures. */

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export const round = (value: number, digits = 2) => Number(value.toFixed(digits));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `task` for indexes 0..count-1 with at most `width` in flight. */
export async function inPool(count: number, width: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  });
  await Promise.all(lanes);
}

/** Prints one result line as JSON, so runs can be compared and pasted into BENCHMARKS.md. */
export function report(benchmark: string, figures: Record<string, unknown>): void {
  console.log(JSON.stringify({ benchmark, ...figures }));
}
