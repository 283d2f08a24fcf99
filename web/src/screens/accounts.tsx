import { useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { type Connection, type ConnectionList, type PendingChoice, platformName } from '../types';
import { Alert, Confirm, Empty, Loading, Page, Status, when } from '../ui';

const guide = (platform: string) => `/setup-guides/${platform}.md`;

async function connect(platform: string, via?: 'facebook') {
  const res = await api<{ authorizeUrl: string }>(
    'POST',
    `/api/v1/connections/${platform}/authorize`,
    via ? { via } : undefined,
  );
  location.assign(res.authorizeUrl);
}

export function AccountsScreen() {
  const list = useApi<ConnectionList>('/api/v1/connections', 15000);
  const action = useAction();
  const [notice, setNotice] = useState<string | null>(null);

  return (
    <Page title="Accounts">
      <Alert>{list.error ?? action.error}</Alert>
      <Alert kind="success">{notice}</Alert>
      {!list.data && list.loading && <Loading />}
      {list.data && (
        <>
          {list.data.pendingChoices.map((choice) => (
            <ChoosePending key={choice.id} choice={choice} onDone={() => void list.reload()} />
          ))}
          <h2>Connect an account</h2>
          <ul class="platform-grid">
            {list.data.platforms.map((p) => (
              <li key={p.platform} class="card">
                <p class="card-title">{platformName(p.platform)}</p>
                <button
                  type="button"
                  disabled={!p.configured || action.busy}
                  aria-describedby={p.configured ? undefined : `why-${p.platform}`}
                  onClick={() => void action.run(() => connect(p.platform))}
                >
                  Connect {platformName(p.platform)}
                </button>
                {p.platform === 'instagram' && p.configured && (
                  <button
                    type="button"
                    class="button-secondary"
                    disabled={action.busy}
                    onClick={() => void action.run(() => connect('instagram', 'facebook'))}
                  >
                    Instagram through a Facebook Page
                  </button>
                )}
                {!p.configured && (
                  <p class="hint" id={`why-${p.platform}`}>
                    Not set up on this server: set {p.missing.join(', ')}.{' '}
                    <a href={guide(p.platform)} target="_blank" rel="noreferrer">
                      Setup guide for {platformName(p.platform)}
                    </a>
                  </p>
                )}
              </li>
            ))}
          </ul>
          <h2>Connected accounts</h2>
          {list.data.items.length === 0 ? (
            <Empty title="No accounts connected yet">
              <p>Connect an account above to publish to it.</p>
            </Empty>
          ) : (
            <ul class="list">
              {list.data.items.map((c) => (
                <ConnectionRow
                  key={c.id}
                  connection={c}
                  onReconnect={() => void action.run(() => connect(c.platform, c.via ?? undefined))}
                  onDisconnected={(text) => {
                    setNotice(text);
                    void list.reload();
                  }}
                />
              ))}
            </ul>
          )}
        </>
      )}
    </Page>
  );
}

function Avatar({ url, name }: { url: string | null; name: string }) {
  const [broken, setBroken] = useState(false);
  if (!url || broken)
    return (
      <span class="avatar avatar-letter" aria-hidden="true">
        {name.slice(0, 1).toUpperCase()}
      </span>
    );
  return <img class="avatar" src={url} alt="" onError={() => setBroken(true)} />;
}

function ConnectionRow({
  connection: c,
  onReconnect,
  onDisconnected,
}: {
  connection: Connection;
  onReconnect: () => void;
  onDisconnected: (text: string) => void;
}) {
  const action = useAction();
  return (
    <li class="row connection">
      <Avatar url={c.avatarUrl} name={c.displayName} />
      <div class="grow">
        <p class="row-title">{c.displayName}</p>
        <p class="muted">
          {platformName(c.platform)}
          {c.via ? ' via Facebook' : ''} · connected {when(c.connectedAt)}
        </p>
        {c.statusReason && <p class="hint">{c.statusReason}</p>}
      </div>
      <Status value={c.status} />
      {c.status !== 'active' && (
        <button type="button" onClick={onReconnect}>
          Reconnect {c.displayName}
        </button>
      )}
      <Confirm
        label={`Disconnect ${c.displayName}`}
        question={`Disconnect ${c.displayName} from ${platformName(c.platform)}? Scheduled posts to it will not be published there until you connect this same account again.`}
        confirmLabel="Disconnect"
        busy={action.busy}
        onConfirm={() =>
          void action.run(async () => {
            await api('DELETE', `/api/v1/connections/${c.id}`);
            onDisconnected(`${c.displayName} is disconnected.`);
          })
        }
      />
      <Alert>{action.error}</Alert>
    </li>
  );
}

export function ChoosePending({ choice, onDone }: { choice: PendingChoice; onDone: () => void }) {
  const [chosen, setChosen] = useState<string[]>([]);
  const action = useAction();
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          await api('POST', `/api/v1/connections/pending/${choice.id}/confirm`, { accountIds: chosen });
          onDone();
        });
      }}
    >
      <fieldset>
        <legend>Choose which {platformName(choice.platform)} accounts to connect</legend>
        {choice.accounts.map((a) => (
          <label key={a.id} class="check">
            <input
              type="checkbox"
              checked={chosen.includes(a.id)}
              onChange={(e) =>
                setChosen(e.currentTarget.checked ? [...chosen, a.id] : chosen.filter((id) => id !== a.id))
              }
            />
            {a.displayName}
          </label>
        ))}
      </fieldset>
      <Alert>{action.error}</Alert>
      <button type="submit" disabled={chosen.length === 0 || action.busy}>
        Connect chosen accounts
      </button>
    </form>
  );
}

/** Where the platform sends the browser back to after connecting. */
export function ConnectionResultScreen({ query }: { query: URLSearchParams }) {
  const platform = platformName(query.get('platform') ?? '');
  const status = query.get('status');
  const pendingId = query.get('pendingChoice');
  const pending = useApi<PendingChoice>(
    status === 'choose' && pendingId ? `/api/v1/connections/pending/${pendingId}` : null,
  );
  // The link's reason is shown only when the server wrote it: anyone can send a link with words in it.
  const outcome = useApi<{ reason: string | null }>(
    status === 'error'
      ? `/api/v1/connections/outcome?${new URLSearchParams({
          platform: query.get('platform') ?? '',
          reason: query.get('reason') ?? '',
          sig: query.get('sig') ?? '',
        })}`
      : null,
  );
  const [done, setDone] = useState(false);
  return (
    <Page title={`Connecting ${platform}`}>
      {status === 'connected' && <Alert kind="success">{platform} is connected.</Alert>}
      {status === 'error' && !outcome.loading && (
        <Alert>
          Connecting {platform} did not work
          {outcome.data?.reason ? `: ${outcome.data.reason}` : '. Start connecting again from the accounts page.'}
        </Alert>
      )}
      {status === 'choose' && !done && pending.data && (
        <ChoosePending choice={pending.data} onDone={() => setDone(true)} />
      )}
      {done && <Alert kind="success">The chosen {platform} accounts are connected.</Alert>}
      <Alert>{pending.error}</Alert>
      <p>
        <a href="/accounts">Back to accounts</a>
      </p>
    </Page>
  );
}
