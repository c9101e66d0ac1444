// The demo dashboard `wsctl local up` serves (docs/web.md): a local sign-in, then the @moc-realtime/client
// React components. Local only: its token endpoint exists in wsctl/local/dashboard.py, never in a deployed stack.
import { StrictMode, useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { createRoot } from "react-dom/client";
import { tokenNeedsRenewal } from "@moc-realtime/client";
import { ConnectionStatusIndicator, NotificationCenter, NotificationToast, WebSocketProvider, useRealtime } from "@moc-realtime/client/react";

interface Config {
  ws_url: string;
}

interface Session {
  user: string;
  userId: string;
}

interface IssuedToken extends Session {
  token: string;
  expiresIn: number;
}

async function signIn(user: string): Promise<IssuedToken> {
  const response = await fetch("/local/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = (await response.json().catch(() => ({}))) as Partial<IssuedToken> & { error?: string };
  if (!response.ok || typeof body.token !== "string") throw new Error(body.error ?? `sign-in failed (HTTP ${response.status})`);
  return body as IssuedToken;
}

function SignInForm({ onSignedIn }: { onSignedIn: (issued: IssuedToken) => void }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const user = String(new FormData(event.currentTarget).get("user") ?? "").trim();
    setBusy(true);
    setError("");
    try {
      onSignedIn(await signIn(user));
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-describedby="sign-in-help">
      <label htmlFor="user">User</label>
      <input id="user" name="user" autoComplete="username" required aria-describedby="sign-in-error" />
      <button type="submit" disabled={busy}>Sign in</button>
      <p id="sign-in-help" className="who">A user of the local Cognito pool (created on first use).</p>
      <p id="sign-in-error" className="error" aria-live="polite">{error}</p>
    </form>
  );
}

function ConnectionLog() {
  const { log } = useRealtime();
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => {
    // Not returned: Chromium's scrollIntoView() now returns a promise, which React would take for a clean-up.
    void end.current?.scrollIntoView({ block: "nearest" });
  }, [log]);
  return (
    <section aria-labelledby="log-heading">
      <h2 id="log-heading">Connection log</h2>
      <div className="log" role="log" aria-labelledby="log-heading" tabIndex={0}>
        <ol>
          {log.map((entry, index) => (
            <li key={index} ref={index === log.length - 1 ? end : undefined}>
              <time dateTime={new Date(entry.at).toISOString()}>{new Date(entry.at).toISOString().slice(11, 23)}</time> {entry.text}
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}

function Dashboard({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  return (
    <>
      <header>
        <h1>Realtime dashboard</h1>
        <ConnectionStatusIndicator />
        <NotificationCenter />
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      <p className="who">
        Signed in as <strong>{session.user}</strong>, userId <code>{session.userId}</code>. Send it a notification:{" "}
        <code>.venv/bin/wsctl broadcast --env local --user {session.userId} --kind set.created --title "Hello"</code>
      </p>
      <ConnectionLog />
      <NotificationToast />
    </>
  );
}

function App() {
  const [config, setConfig] = useState<Config | null>(null);
  const [session, setSession] = useState<Session | null>(null);
  const token = useRef<string | null>(null);

  useEffect(() => {
    void fetch("/config.json").then(async (response) => setConfig((await response.json()) as Config));
  }, []);

  // The web app's getToken(): its cached session token, renewed shortly before it expires.
  const getToken = useCallback(async () => {
    if (session === null) throw new Error("signed out");
    if (token.current === null || tokenNeedsRenewal(token.current, Date.now())) token.current = (await signIn(session.user)).token;
    return token.current;
  }, [session]);

  const signedIn = (issued: IssuedToken) => {
    token.current = issued.token;
    setSession({ user: issued.user, userId: issued.userId });
  };

  return (
    <main>
      {config === null ? (
        <p>Loading…</p>
      ) : session === null ? (
        <>
          <h1>Realtime dashboard</h1>
          <SignInForm onSignedIn={signedIn} />
        </>
      ) : (
        <WebSocketProvider url={config.ws_url} getToken={getToken} tabs={session.userId}>
          <Dashboard session={session} onSignOut={() => { token.current = null; setSession(null); }} />
        </WebSocketProvider>
      )}
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
