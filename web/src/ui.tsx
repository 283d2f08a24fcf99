import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { words } from './types';

export function Alert({
  children,
  kind = 'error',
}: {
  children: ComponentChildren;
  kind?: 'error' | 'info' | 'success';
}) {
  if (!children) return null;
  return (
    <div class={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children}
    </div>
  );
}

export function Status({ value }: { value: string }) {
  return <span class={`badge badge-${value}`}>{words(value)}</span>;
}

export function Progress({ value, label }: { value: number; label: string }) {
  const percent = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div class="progress-row">
      <progress max={100} value={percent} aria-label={label} />
      <span class="muted">{percent}%</span>
    </div>
  );
}

export function Loading() {
  return (
    <p class="muted" role="status">
      Loading…
    </p>
  );
}

export function Page({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** A destructive action asks first, in place, saying what will happen. */
export function Confirm({
  label,
  question,
  confirmLabel,
  onConfirm,
  busy,
}: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => void;
  busy?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" class="button-secondary" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <fieldset class="confirm">
      <legend>{question}</legend>
      <button type="button" class="button-danger" disabled={busy} onClick={onConfirm}>
        {confirmLabel}
      </button>
      <button type="button" class="button-secondary" onClick={() => setAsking(false)}>
        Keep it
      </button>
    </fieldset>
  );
}

const STYLE = { dateStyle: 'medium', timeStyle: 'short' } as const;

/** A date and time for people, in the browser's zone. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  return new Date(iso).toLocaleString(undefined, STYLE);
}

/** A date and time in a given zone (a post's own), named after it; the browser's zone when none. */
export function whenIn(iso: string, timeZone: string | null): string {
  if (timeZone) {
    try {
      return `${new Date(iso).toLocaleString(undefined, { ...STYLE, timeZone })} (${timeZone})`;
    } catch {
      // A zone this browser does not know: the browser's own, named so the label stays true.
    }
  }
  return `${when(iso)} (${Intl.DateTimeFormat().resolvedOptions().timeZone})`;
}
