import { useState } from 'preact/hooks';
import { api, setCsrfToken } from '../api';
import { useAction } from '../hooks';
import type { User } from '../types';
import { Alert } from '../ui';

/**
 * Sign-in or registration. With `again` (a session that ended while the panel was open) it is a
 * dialog over the current screen, which stays as it was, so nothing typed there is lost.
 */
export function AuthScreen({ onSignedIn, again }: { onSignedIn: (user: User) => void; again?: User }) {
  const [mode, setMode] = useState<'sign-in' | 'register'>('sign-in');
  const [name, setName] = useState('');
  const [email, setEmail] = useState(again?.email ?? '');
  const [password, setPassword] = useState('');
  const action = useAction();
  const registering = mode === 'register';

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const body = registering ? { name, email, password } : { email, password };
      const res = await api<{ user: User; csrfToken: string }>('POST', `/api/v1/auth/${mode}`, body);
      setCsrfToken(res.csrfToken);
      onSignedIn(res.user);
    });
  };

  const form = (
    <form onSubmit={submit}>
      {registering && (
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} autoComplete="name" required />
        </label>
      )}
      <label>
        Email
        <input
          type="email"
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          autoComplete="email"
          required
        />
      </label>
      <label>
        Password
        <input
          type="password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          autoComplete={registering ? 'new-password' : 'current-password'}
          minLength={registering ? 10 : 1}
          required
        />
        {registering && <span class="hint">At least 10 characters.</span>}
      </label>
      <Alert>{action.error}</Alert>
      <button type="submit" disabled={action.busy}>
        {registering ? 'Create account' : 'Sign in'}
      </button>
    </form>
  );
  if (again)
    return (
      <div class="auth auth-again" role="dialog" aria-modal="true" aria-labelledby="sign-in-again">
        <div class="auth-card">
          <h2 id="sign-in-again">Sign in again</h2>
          <p>You were signed out. Sign in to carry on; what you were doing stays as it was.</p>
          {form}
        </div>
      </div>
    );
  return (
    <main class="auth" id="main">
      <div class="auth-card">
        <p class="brand-large">AutoPostPanel</p>
        <h1>{registering ? 'Create your account' : 'Sign in'}</h1>
        {form}
        <p>
          {registering ? 'Already have an account? ' : 'New here? '}
          <button
            type="button"
            class="link"
            onClick={() => {
              setMode(registering ? 'sign-in' : 'register');
              action.setError(null);
            }}
          >
            {registering ? 'Sign in' : 'Create an account'}
          </button>
        </p>
      </div>
    </main>
  );
}
