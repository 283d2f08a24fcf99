import { useState } from 'preact/hooks';
import { api, setCsrfToken } from '../api';
import { useAction } from '../hooks';
import type { User } from '../types';
import { Alert } from '../ui';

export function AuthScreen({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const [mode, setMode] = useState<'sign-in' | 'register'>('sign-in');
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
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

  return (
    <main class="auth" id="main">
      <div class="auth-card">
        <p class="brand-large">AutoPostPanel</p>
        <h1>{registering ? 'Create your account' : 'Sign in'}</h1>
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
