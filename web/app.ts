import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, loadSession, post, type Session } from './api.js';
import { AccountingPage } from './pages/accounting.js';
import { GroupsPage } from './pages/groups.js';
import { HostsPage } from './pages/hosts.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';

/** The page named by the URL hash: #/jobs, #/job/42, #/hosts, #/groups, #/accounting. */
function useRoute(): string[] {
  const read = (): string[] => (location.hash.replace(/^#\/?/, '') || 'jobs').split('/');
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const on = (): void => {
      const next = read();
      setRoute((shown) => (shown.join('/') === next.join('/') ? shown : next));
    };
    addEventListener('hashchange', on);
    // Effects run a frame after the first render: a hash changed in between fired no event we heard.
    on();
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

interface Note {
  id: number;
  text: string;
  ok: boolean;
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [notes, setNotes] = useState<Note[]>([]);
  const route = useRoute();
  useEffect(() => {
    loadSession().then(setSession, (e: unknown) => setFailure(e instanceof ApiError && e.status === 401 ? 'signed-out' : (e as Error).message));
  }, []);
  const notify = (text: string, ok: boolean): void => {
    const id = Date.now() + Math.random();
    setNotes((n) => [...n.slice(-4), { id, text, ok }]);
    setTimeout(() => setNotes((n) => n.filter((x) => x.id !== id)), 6000);
  };
  if (failure === 'signed-out') {
    return html`<main class="signin"><h1>qfarm</h1><p>You are not signed in (or your session expired).</p><p>Run <code>qfarm web</code> on the farm and open the link it prints.</p></main>`;
  }
  if (failure) return html`<main class="signin"><h1>qfarm</h1><p class="error">${failure}</p></main>`;
  if (!session) return html`<main class="signin"><p class="muted">connecting…</p></main>`;
  const [page, arg] = route;
  const tab = (name: string, label: string) => html`<a href=${`#/${name}`} class=${page === name || (name === 'jobs' && page === 'job') ? 'tab active' : 'tab'}>${label}</a>`;
  return html`<div class="app">
    <header>
      <span class="logo">qfarm</span>
      <nav>${tab('jobs', 'Jobs')}${tab('hosts', 'Hosts')}${tab('groups', 'Groups')}${tab('accounting', 'Accounting')}</nav>
      <span class="who">${session.user}${session.mayActOnAll ? ' (admin)' : ''}</span>
      <button class="sign-out" onClick=${() => post('/web/sign-out').finally(() => setFailure('signed-out'))}>sign out</button>
    </header>
    <main>
      ${page === 'job' && arg ? html`<${JobPage} id=${Number(arg)} session=${session} notify=${notify} key=${arg} />` : ''}
      ${page === 'jobs' ? html`<${JobsPage} session=${session} notify=${notify} />` : ''}
      ${page === 'hosts' ? html`<${HostsPage} session=${session} notify=${notify} />` : ''}
      ${page === 'groups' ? html`<${GroupsPage} session=${session} notify=${notify} />` : ''}
      ${page === 'accounting' ? html`<${AccountingPage} notify=${notify} />` : ''}
    </main>
    <div class="notes" role="status">${notes.map((n) => html`<div class=${n.ok ? 'note ok' : 'note bad'} key=${n.id}>${n.text}</div>`)}</div>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
