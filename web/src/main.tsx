import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, onSignedOut, setCsrfToken } from './api';
import { type Notice, useNotices } from './notifications';
import { navigate, onLinkClick, useLocation } from './router';
import { AccountsScreen, ConnectionResultScreen } from './screens/accounts';
import { AuthScreen } from './screens/auth';
import { CalendarScreen } from './screens/calendar';
import { CampaignsScreen } from './screens/campaigns';
import { ComposeScreen } from './screens/compose';
import { PostScreen, PostsScreen } from './screens/posts';
import { ReviewsScreen } from './screens/reviews';
import { SettingsScreen } from './screens/settings';
import './styles.css';
import type { User } from './types';
import { Empty, Loading, Page } from './ui';

type Theme = 'system' | 'light' | 'dark';

function applyTheme(theme: Theme) {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('theme') as Theme) || 'system');
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem('theme', theme);
  }, [theme]);
  return (
    <label class="theme">
      <span class="visually-hidden">Theme</span>
      <select value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)} aria-label="Theme">
        <option value="system">System theme</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );
}

const NAV = [
  ['/', 'Posts'],
  ['/compose', 'Compose'],
  ['/reviews', 'Review'],
  ['/calendar', 'Calendar'],
  ['/campaigns', 'Campaigns'],
  ['/accounts', 'Accounts'],
  ['/notifications', 'Notifications'],
  ['/settings', 'Settings'],
] as const;

function NotificationsScreen({ notices }: { notices: Notice[] }) {
  return (
    <Page title="Notifications">
      {notices.length === 0 ? (
        <Empty title="All caught up">
          <p>Reviews waiting, failed posts and accounts to reconnect show up here.</p>
        </Empty>
      ) : (
        <ul class="list">
          {notices.map((n) => (
            <li key={n.id} class="row">
              <p class="grow">{n.text}</p>
              <a class="button" href={n.href}>
                {n.action}
              </a>
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}

function Shell({
  user,
  onUser,
  onSignedOut,
  inert,
}: {
  user: User;
  onUser: (u: User) => void;
  onSignedOut: () => void;
  inert: boolean;
}) {
  const { path, query } = useLocation();
  const notices = useNotices();
  // Each page change moves focus to the new heading, so keyboard and screen-reader users land on it.
  useEffect(() => {
    document.getElementById('page-title')?.focus();
  }, [path]);
  const post = path.match(/^\/posts\/([0-9a-f-]{36})$/);
  let screen = (
    <Page title="Page not found">
      <Empty title="There is nothing at this address">
        <p>
          <a href="/">Go to your posts</a>
        </p>
      </Empty>
    </Page>
  );
  if (path === '/' || path === '/posts') screen = <PostsScreen />;
  else if (post) screen = <PostScreen id={post[1]!} />;
  else if (path === '/compose') screen = <ComposeScreen />;
  else if (path === '/reviews') screen = <ReviewsScreen />;
  else if (path === '/calendar') screen = <CalendarScreen />;
  else if (path === '/campaigns') screen = <CampaignsScreen />;
  else if (path === '/accounts') screen = <AccountsScreen />;
  else if (path === '/connections/result') screen = <ConnectionResultScreen query={query} />;
  else if (path === '/notifications') screen = <NotificationsScreen notices={notices} />;
  else if (path === '/settings') screen = <SettingsScreen user={user} onUser={onUser} onDeleted={onSignedOut} />;

  const signOut = async () => {
    await api('POST', '/api/v1/auth/sign-out').catch(() => {});
    onSignedOut();
  };
  return (
    <div class="shell" inert={inert}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          AutoPostPanel
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <a
                  href={href}
                  aria-current={path === href || (href === '/' && path.startsWith('/posts')) ? 'page' : undefined}
                >
                  {label}
                  {href === '/notifications' && notices.length > 0 && (
                    <span class="count">
                      {notices.length}
                      <span class="visually-hidden"> waiting</span>
                    </span>
                  )}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
          <span class="muted user">{user.name}</span>
          <ThemeToggle />
          <button type="button" class="button-secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{screen}</main>
    </div>
  );
}

interface Session {
  user: User;
  csrfToken: string | null;
}

function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  // Set while a session that ended is being renewed: the sign-in shows over the screen, which stays.
  const [again, setAgain] = useState<User | null>(null);
  const current = useRef(user);
  current.current = user;
  const pending = useRef<Promise<boolean> | null>(null);
  const resume = useRef<(sameUser: boolean) => void>(() => {});

  useEffect(() => {
    const renew = async (): Promise<boolean> => {
      const me = current.current;
      if (!me) return false;
      try {
        // Another tab may have signed in already: then the refused request only needs its new token.
        const s = await api<Session>('GET', '/api/v1/auth/session');
        setCsrfToken(s.csrfToken);
        if (s.user.id === me.id) return true;
        // Someone else signed in on this browser: their panel, not this person's screen.
        setUser(s.user);
        navigate('/');
        return false;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 401) return false;
      }
      // Signed out on purpose meanwhile: nothing to carry on with.
      if (current.current?.id !== me.id) return false;
      setAgain(me);
      return new Promise<boolean>((resolve) => {
        resume.current = resolve;
      });
    };
    // Every request refused meanwhile waits for the same sign-in.
    onSignedOut(() => {
      pending.current ??= renew().finally(() => {
        pending.current = null;
      });
      return pending.current;
    });
    return () => onSignedOut(null);
  }, []);

  useEffect(() => {
    api<{ user: User; csrfToken: string | null }>('GET', '/api/v1/auth/session')
      .then((s) => {
        setCsrfToken(s.csrfToken);
        setUser(s.user);
      })
      .catch(() => setUser(null));
  }, []);
  if (user === undefined)
    return (
      <main id="main">
        <Loading />
      </main>
    );
  if (user === null)
    return (
      <AuthScreen
        onSignedIn={(u) => {
          setUser(u);
          if (location.pathname === '/') navigate('/');
        }}
      />
    );
  return (
    <>
      <Shell
        key={user.id}
        user={user}
        onUser={setUser}
        inert={again !== null}
        onSignedOut={() => {
          setCsrfToken(null);
          setUser(null);
          // A poll refused on the way out must not leave a sign-in dialog waiting for the next person.
          setAgain(null);
          resume.current(false);
          navigate('/');
        }}
      />
      {again && (
        <AuthScreen
          again={again}
          onSignedIn={(u) => {
            setAgain(null);
            const same = u.id === again.id;
            if (!same) {
              setUser(u);
              navigate('/');
            }
            resume.current(same);
          }}
        />
      )}
    </>
  );
}

applyTheme((localStorage.getItem('theme') as Theme) || 'system');
document.addEventListener('click', onLinkClick);
render(<App />, document.getElementById('app')!);
