import type { MediaItem, PlacementRules, PlatformRules } from '../types';
import { platformName } from '../types';

// How the post will look on each chosen platform: the media in the frame the renderer will give
// it (the placement's preferred aspect when the file's own is outside the allowed range), the text
// cut where the platform cuts it, and folded where its app hides the rest behind "more".

/**
 * Where each app folds a caption behind "more" on a phone, roughly (no platform documents it; these
 * are the commonly observed lengths), so the preview shows what people see before tapping.
 */
const FOLD: Record<string, number> = { tiktok: 80, instagram: 125, facebook: 480, youtube: 100 };

export interface PreviewTarget {
  key: string;
  platform: string;
  /** The connected account's name; absent for a local export. */
  account?: string;
  placement?: string;
}

const RATIOS: [number, string][] = [
  [9 / 16, '9:16'],
  [4 / 5, '4:5'],
  [1, '1:1'],
  [16 / 9, '16:9'],
  [1.91, '1.91:1'],
  [4 / 3, '4:3'],
  [3 / 4, '3:4'],
];

export function ratioWords(aspect: number): string {
  const near = RATIOS.find(([r]) => Math.abs(r - aspect) / r < 0.015);
  return near ? near[1] : `${aspect.toFixed(2)}:1`;
}

function placementOf(rules: PlatformRules | undefined, target: PreviewTarget, isVideo: boolean) {
  const id = target.placement ?? rules?.defaultPlacement?.[isVideo ? 'video' : 'image'];
  return rules?.placements?.find((p) => p.placement === id);
}

/** The aspect the rendered media will have: the file's own when allowed, else the placement's preferred one. */
export function frameAspect(placement: PlacementRules | undefined, media: MediaItem | undefined): number {
  const own = media?.width && media.height ? media.width / media.height : undefined;
  const rules = media?.mimeType.startsWith('video/') ? placement?.video : placement?.image;
  const range = rules?.aspect;
  const inside = own !== undefined && (range?.min ?? 0) <= own && own <= (range?.max ?? Number.POSITIVE_INFINITY);
  if (own !== undefined && (inside || !rules?.preferredAspect)) return own;
  return rules?.preferredAspect ?? own ?? 1;
}

function Folded({ text, fold, max }: { text: string; fold: number | undefined; max: number | undefined }) {
  const chars = [...text];
  const kept = max !== undefined && chars.length > max ? chars.slice(0, max).join('') : text;
  const cut = kept !== text;
  const folded = fold !== undefined && [...kept].length > fold;
  return (
    <>
      <p class="preview-text">
        {folded ? `${[...kept].slice(0, fold).join('').trimEnd()}… ` : kept}
        {folded && <span class="muted">more</span>}
      </p>
      {cut && <p class="error-text">Cut here: only the first {max} characters are posted.</p>}
    </>
  );
}

/** What the AI will add: a picture (square, as it is asked for) for a post without media; whether a person reviews. */
export interface AiWork {
  picture: boolean;
  reviewed: boolean;
}

export function PostPreview({
  target,
  text,
  media,
  rules,
  ai = { picture: false, reviewed: true },
}: {
  target: PreviewTarget;
  /** null: the AI writes the text later. */
  text: string | null;
  media: MediaItem[];
  rules: PlatformRules[];
  ai?: AiWork;
}) {
  const r = rules.find((x) => x.platform === target.platform);
  const first = media[0];
  const isVideo = media.some((m) => m.mimeType.startsWith('video/'));
  const placement = placementOf(r, target, isVideo);
  const aspect = frameAspect(placement, first);
  const name = platformName(target.platform);
  const who = target.account ?? 'your account';
  const limit = r?.text[0]?.max;
  let body = null;
  if (text === null)
    body = (
      <p class="muted">
        The AI drafts this text for {name};{' '}
        {ai.reviewed ? 'you see it before anything is posted.' : 'it is published without review, as chosen.'}
      </p>
    );
  else if (target.platform === 'youtube') {
    // The same split the API makes of a hand-written caption: first line the title, the rest the description.
    const [line = '', ...rest] = text.split('\n');
    const description = rest.join('\n').trim() || text;
    body = (
      <>
        <p class="preview-title">{[...line].slice(0, 100).join('') || 'Untitled'}</p>
        {[...line].length > 100 && <p class="error-text">Title cut to 100 characters.</p>}
        <Folded text={description} fold={FOLD.youtube} max={undefined} />
      </>
    );
  } else body = <Folded text={text} fold={FOLD[target.platform]} max={limit} />;
  return (
    <section class={`preview preview-${target.platform}`} aria-label={`Preview on ${name} (${who})`}>
      <p class="preview-head">
        <strong>{name}</strong> <span class="muted">{target.account ? `as ${target.account}` : 'export'}</span>
      </p>
      {first ? (
        <div
          class="preview-frame"
          style={{ aspectRatio: String(aspect), width: `min(100%, ${(18 * aspect).toFixed(2)}rem)` }}
        >
          <img src={`/api/v1/media/${first.id}/thumbnail`} alt="" />
          {media.length > 1 && <span class="preview-count">1 / {media.length}</span>}
        </div>
      ) : (
        <div class="preview-frame preview-empty" style={{ aspectRatio: '1' }}>
          <span>{ai.picture ? 'The picture the AI will make' : 'No media'}</span>
        </div>
      )}
      <p class="hint">
        {placement ? `${placement.label}, ` : ''}
        {first ? `${ratioWords(aspect)}` : ai.picture ? 'a picture made by the AI, 1:1 before rendering' : 'text only'}
      </p>
      {body}
    </section>
  );
}

export function Previews({
  targets,
  text,
  media,
  rules,
  ai,
}: {
  targets: PreviewTarget[];
  text: string | null;
  media: MediaItem[];
  rules: PlatformRules[];
  ai?: AiWork;
}) {
  if (targets.length === 0) return null;
  return (
    <div class="previews">
      {targets.map((t) => (
        <PostPreview key={t.key} target={t} text={text} media={media} rules={rules} {...(ai ? { ai } : {})} />
      ))}
    </div>
  );
}
