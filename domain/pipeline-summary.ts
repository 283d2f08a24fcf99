// The words an operator reads about a post pipeline in the Temporal UI: the static summary and
// details a workflow is started with, and the "current details" it keeps while it runs. Pure, so
// the API (at start) and the workflow (as it goes) say the same things.

export interface SummaryInput {
  caption?: string | null;
  brief?: { topic: string } | null;
  targets: { key: string; type: string; format?: string | undefined; platform?: string | undefined }[];
  publishAt?: string | null;
  timeZone?: string | null;
}

const SUMMARY_MAX = 120;

function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim()) ?? '';
  const trimmed = line.trim();
  return trimmed.length > SUMMARY_MAX ? `${trimmed.slice(0, SUMMARY_MAX - 1)}…` : trimmed;
}

function targetList(targets: SummaryInput['targets']): string {
  return targets
    .map((t) => {
      const platform = t.format ?? t.platform;
      return platform && platform !== 'generic' ? `${t.key} (${platform})` : t.key;
    })
    .join(', ');
}

/** What a post pipeline is about, for the Temporal UI's list and workflow page. */
export function pipelineSummary(post: SummaryInput): { staticSummary: string; staticDetails: string } {
  const text = post.caption?.trim()
    ? firstLine(post.caption)
    : post.brief
      ? `Brief: ${firstLine(post.brief.topic)}`
      : '';
  const targets = targetList(post.targets);
  const staticSummary = `${text || '(no text)'} -> ${targets}`;
  const details = [
    `**Post:** ${text || '(no text)'}`,
    `**Targets:** ${targets}`,
    `**Publish:** ${post.publishAt ? formatInstant(post.publishAt, post.timeZone) : 'as soon as ready'}`,
  ];
  return { staticSummary, staticDetails: details.join('\n\n') };
}

/** "2026-11-25 18:00 Europe/Berlin": an instant as the person who gave it reads it. */
export function formatInstant(iso: string, timeZone?: string | null): string {
  const zone = timeZone || 'UTC';
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(new Date(iso));
  } catch {
    return iso;
  }
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${zone}`;
}
