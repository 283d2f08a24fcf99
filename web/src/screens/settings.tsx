import { useState } from 'preact/hooks';
import { api, setCsrfToken } from '../api';
import { useAction, useApi } from '../hooks';
import type { User } from '../types';
import { Alert, Empty, Page, when } from '../ui';

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
interface AuditEvent {
  id: string;
  action: string;
  outcome: string;
  ip: string | null;
  createdAt: string;
}

function Profile({ user, onUser }: { user: User; onUser: (u: User) => void }) {
  const [name, setName] = useState(user.name);
  const [email, setEmail] = useState(user.email);
  const [currentPassword, setCurrentPassword] = useState('');
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const emailChanged = email !== user.email;
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(false);
        void action.run(async () => {
          const body = { name, ...(emailChanged ? { email, currentPassword } : {}) };
          onUser(await api<User>('PATCH', '/api/v1/me', body));
          setSaved(true);
        });
      }}
    >
      <h2>Profile</h2>
      <label>
        Name
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        Email
        <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
      </label>
      {emailChanged && (
        <label>
          Current password (needed to change the email)
          <input
            type="password"
            value={currentPassword}
            onInput={(e) => setCurrentPassword(e.currentTarget.value)}
            required
          />
        </label>
      )}
      <Alert>{action.error}</Alert>
      {saved && <Alert kind="success">Profile saved.</Alert>}
      <button type="submit" disabled={action.busy}>
        Save profile
      </button>
    </form>
  );
}

function Password() {
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const action = useAction();
  const [saved, setSaved] = useState(false);
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const res = await api<{ csrfToken: string }>('PUT', '/api/v1/me/password', { currentPassword, newPassword });
          setCsrfToken(res.csrfToken);
          setSaved(true);
          setCurrent('');
          setNew('');
        });
      }}
    >
      <h2>Password</h2>
      <label>
        Current password
        <input
          type="password"
          autoComplete="current-password"
          value={currentPassword}
          onInput={(e) => setCurrent(e.currentTarget.value)}
          required
        />
      </label>
      <label>
        New password
        <input
          type="password"
          autoComplete="new-password"
          minLength={10}
          value={newPassword}
          onInput={(e) => setNew(e.currentTarget.value)}
          required
        />
        <span class="hint">At least 10 characters. Every other session is signed out.</span>
      </label>
      <Alert>{action.error}</Alert>
      {saved && <Alert kind="success">Password changed.</Alert>}
      <button type="submit" disabled={action.busy}>
        Change password
      </button>
    </form>
  );
}

function ApiKeys() {
  const keys = useApi<{ items: ApiKey[] }>('/api/v1/me/api-keys');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const action = useAction();
  const live = keys.data?.items.filter((k) => !k.revokedAt) ?? [];
  return (
    <div class="card">
      <h2>API keys</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const res = await api<{ key: string }>('POST', '/api/v1/me/api-keys', { name, password });
            setCreated(res.key);
            setName('');
            setPassword('');
            await keys.reload();
          });
        }}
      >
        <div class="two">
          <label>
            Key name
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          </label>
          <label>
            Your password
            <input
              type="password"
              autoComplete="current-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              required
            />
          </label>
        </div>
        <button type="submit" disabled={action.busy}>
          Create API key
        </button>
      </form>
      {created && (
        <Alert kind="success">
          Copy this key now; it is shown only once: <code class="secret">{created}</code>
        </Alert>
      )}
      <Alert>{action.error ?? keys.error}</Alert>
      {live.length === 0 ? (
        <p class="muted">No API keys.</p>
      ) : (
        <ul class="list">
          {live.map((k) => (
            <li key={k.id} class="row">
              <div class="grow">
                <p class="row-title">{k.name}</p>
                <p class="muted">
                  {k.prefix}… · created {when(k.createdAt)} ·{' '}
                  {k.lastUsedAt ? `last used ${when(k.lastUsedAt)}` : 'never used'}
                </p>
              </div>
              <button
                type="button"
                class="button-secondary"
                onClick={() =>
                  void action.run(async () => {
                    await api('DELETE', `/api/v1/me/api-keys/${k.id}`);
                    await keys.reload();
                  })
                }
              >
                Revoke {k.name}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function UsageLog() {
  const log = useApi<{ items: AuditEvent[] }>('/api/v1/me/audit?limit=20');
  return (
    <div class="card">
      <h2>Security log</h2>
      <Alert>{log.error}</Alert>
      {log.data?.items.length === 0 && <Empty title="Nothing logged yet" />}
      {!!log.data?.items.length && (
        <table>
          <thead>
            <tr>
              <th scope="col">What</th>
              <th scope="col">Outcome</th>
              <th scope="col">From</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {log.data.items.map((e) => (
              <tr key={e.id}>
                <td>{e.action.replace(/[._]/g, ' ')}</td>
                <td>{e.outcome}</td>
                <td>{e.ip ?? '—'}</td>
                <td>{when(e.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function DeleteAccount({ onDeleted }: { onDeleted: () => void }) {
  const [password, setPassword] = useState('');
  const action = useAction();
  return (
    <form
      class="card danger-zone"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          await api('DELETE', '/api/v1/me', { password });
          onDeleted();
        });
      }}
    >
      <h2>Delete account</h2>
      <p>
        This deletes your account for good: your posts and their schedules, your media library, your connected accounts
        (their access is revoked), your API keys and your sessions. It cannot be undone. Export your data first if you
        want a copy.
      </p>
      <label>
        Your password, to confirm
        <input
          type="password"
          autoComplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          required
        />
      </label>
      <Alert>{action.error}</Alert>
      <button type="submit" class="button-danger" disabled={action.busy}>
        Delete my account and all its data
      </button>
    </form>
  );
}

export function SettingsScreen({
  user,
  onUser,
  onDeleted,
}: {
  user: User;
  onUser: (u: User) => void;
  onDeleted: () => void;
}) {
  return (
    <Page title="Settings">
      <div class="stack">
        <Profile user={user} onUser={onUser} />
        <Password />
        <ApiKeys />
        <UsageLog />
        <div class="card">
          <h2>Your data</h2>
          <p>Download everything held about you as one archive.</p>
          <a class="button button-secondary" href="/api/v1/me/export" download>
            Export my data
          </a>
        </div>
        <DeleteAccount onDeleted={onDeleted} />
      </div>
    </Page>
  );
}
