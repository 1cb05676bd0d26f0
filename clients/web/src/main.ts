import "./style.css";

import { type FirebaseApp, initializeApp } from "firebase/app";
import {
  collection,
  connectFirestoreEmulator,
  type Firestore,
  getFirestore,
  limit,
  onSnapshot,
  orderBy,
  query,
  where,
} from "firebase/firestore";
import { Api, ApiError } from "./api";
import { type AppConfig, ConfigError, loadConfig } from "./config";
import { ACTIVE, type Job, title } from "./jobs";
import { budgetMessage, LimitsView } from "./limits";
import { Notifications } from "./notifications";
import { TasksPanel } from "./panel";
import { showQuestions } from "./questions";
import {
  firebaseSession,
  firebaseSignIn,
  LOCAL_USER_PATTERN,
  localSession,
  rememberLocalUser,
  type Session,
  storedLocalUser,
} from "./session";
import { Toasts } from "./toast";

const RECENT_JOBS = 20;

const $ = <T extends HTMLElement>(selector: string): T => {
  const node = document.querySelector<T>(selector);
  if (!node) throw new Error(`missing ${selector}`);
  return node;
};

const main = $<HTMLElement>("#main");
const navbar = $<HTMLElement>(".navbar");
new ResizeObserver(() => {
  document.documentElement.style.setProperty("--nav-height", `${navbar.offsetHeight}px`);
}).observe(navbar);
const toasts = new Toasts($("#toasts"));

function errorText(error: unknown): string {
  // The service writes its messages for people; the budget refusals get local times here.
  if (error instanceof ApiError) return `${budgetMessage(error) ?? error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

// An API call whose outcome is a toast: `done` when it succeeds, why it could not otherwise.
async function request(call: () => Promise<unknown>, done: string, action: string): Promise<void> {
  try {
    await call();
    toasts.show(done);
  } catch (error) {
    toasts.show(`Could not ${action}: ${errorText(error)}`, "error");
  }
}

// ----- signing in -------------------------------------------------------------------------

function showLocalSignIn(config: AppConfig): void {
  main.innerHTML = `
    <form class="card sign-in" id="local-sign-in">
      <h1>Sign in to the local stack</h1>
      <p>Emulator mode (project <code></code>): pick any user name, no password. The app acts
        as that user with an unsigned ID token that only the emulators accept.</p>
      <label for="local-user">User name</label>
      <input id="local-user" name="user" required autocomplete="username"
        pattern="[A-Za-z0-9._\\-]{1,64}" aria-describedby="local-user-hint" />
      <p class="hint" id="local-user-hint">Letters, digits, dot, dash or underscore.</p>
      <button type="submit" class="btn btn-primary">Sign in</button>
    </form>`;
  main.querySelector("code")!.textContent = config.projectId;
  const form = $<HTMLFormElement>("#local-sign-in");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const uid = $<HTMLInputElement>("#local-user").value.trim();
    if (!LOCAL_USER_PATTERN.test(uid)) return;
    rememberLocalUser(uid);
    location.hash = "#/";
    location.reload();
  });
  $<HTMLInputElement>("#local-user").focus();
}

function showFirebaseSignIn(app: FirebaseApp): void {
  main.innerHTML = `
    <div class="card sign-in">
      <h1>Sign in</h1>
      <p>Sign in to generate study questions.</p>
      <button type="button" class="btn btn-primary" id="google-sign-in">Sign in with Google</button>
    </div>`;
  $("#google-sign-in").addEventListener("click", async () => {
    try {
      await firebaseSignIn(app);
      location.reload();
    } catch (error) {
      toasts.show(`Sign-in failed: ${errorText(error)}`, "error");
    }
  });
}

// ----- the signed-in app ----------------------------------------------------------------

function startApp(config: AppConfig, app: FirebaseApp, session: Session, db: Firestore): void {
  const api = new Api(config.apiUrl, session);
  // The learner's limits, in the panel: fetched when it opens and whenever a job may have
  // moved them (created, cancelled, retried, ended).
  const limits = new LimitsView($("#tasks-panel .limits"), () => api.limits());
  // Notifications when a job ends, in the panel too (only where Cloud Messaging is configured).
  const notifications = new Notifications($("#tasks-panel .notify"), {
    config,
    app,
    api,
    uid: session.uid,
    failed: (action, error) => toasts.show(`Could not ${action}: ${errorText(error)}`, "error"),
    openJob: (jobId) => (location.hash = `#/jobs/${encodeURIComponent(jobId)}`),
  });
  void notifications.start();
  $("#nav-actions").hidden = false;
  $("#user-label").textContent = session.label;
  $("#sign-out").addEventListener("click", async () => {
    await notifications.signOut();
    await session.signOut();
    location.hash = "#/";
    location.reload();
  });

  // Generation dialog: submit closes it at once; the API answers in the background.
  const dialog = $<HTMLDialogElement>("#generate-dialog");
  const form = $<HTMLFormElement>("#generate-form");
  const prompt = $<HTMLTextAreaElement>("#prompt");
  $("#new-job").addEventListener("click", () => {
    form.reset();
    dialog.showModal();
    prompt.focus();
  });
  $("#generate-cancel").addEventListener("click", () => dialog.close());
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value;
    dialog.close();
    await request(() => api.createJob(text), "Generation started", "start");
    limits.changed();
  });

  // Background tasks: the 20 most recent jobs, live.
  const toggle = $<HTMLButtonElement>("#tasks-toggle");
  const panel = new TasksPanel(
    $("#tasks-panel"),
    $("#tasks-panel .job-list"),
    $("#tasks-panel .panel-empty"),
    toggle,
    {
      cancel: async (job) => {
        await request(() => api.cancelJob(job.id), `Cancelled “${title(job)}”`, "cancel");
        limits.changed();
      },
      retry: async (job) => {
        await request(() => api.retryJob(job.id), `Retrying “${title(job)}”`, "retry");
        limits.changed();
      },
      opened: () => void limits.refresh(),
    },
  );
  const jobs = collection(db, "generationJobs");
  // The rules allow only queries constrained to userId == the signed-in user.
  onSnapshot(
    query(jobs, where("userId", "==", session.uid), orderBy("createdAt", "desc"), limit(RECENT_JOBS)),
    (snap) => panel.update(snap.docs.map((d) => ({ id: d.id, ...d.data() }) as Job)),
    (error) => toasts.show(`Background tasks unavailable: ${error.message}`, "error"),
  );

  // The badge counts every active job, not only those among the 20 most recent (a retried
  // old job is active again), so it has its own listener.
  const badge = $("#active-badge");
  let activeIds: string | null = null;
  onSnapshot(
    query(jobs, where("userId", "==", session.uid), where("status", "in", [...ACTIVE])),
    (snap) => {
      // A job joining or leaving this set was created, retried, cancelled or has ended,
      // here or in another client: the limits have moved.
      const ids = snap.docs.map((d) => d.id).sort().join(" ");
      if (activeIds !== null && ids !== activeIds) limits.changed();
      activeIds = ids;
      const active = snap.size;
      badge.textContent = String(active);
      badge.hidden = active === 0;
      toggle.setAttribute(
        "aria-label",
        active ? `Background tasks, ${active} active` : "Background tasks",
      );
    },
    (error) => toasts.show(`Active jobs unavailable: ${error.message}`, "error"),
  );

  // Routes: #/ (home) and #/jobs/{jobId} (the questions of one job).
  let stopView: (() => void) | null = null;
  const route = () => {
    stopView?.();
    stopView = null;
    const match = /^#\/jobs\/([^/]+)$/.exec(location.hash);
    if (match) {
      stopView = showQuestions(main, db, session.uid, decodeURIComponent(match[1]));
      return;
    }
    main.innerHTML = `
      <section class="home">
        <h1 class="view-title" tabindex="-1">Your study questions</h1>
        <p>Ask for a topic and its questions are written in the background, saved as flash
          cards as they arrive. Follow them under <strong>Tasks</strong>, and open the questions
          of a job from there.</p>
        <button type="button" class="btn btn-primary" id="home-new-job">New questions</button>
      </section>`;
    $("#home-new-job").addEventListener("click", () => $("#new-job").click());
  };
  window.addEventListener("hashchange", route);
  route();
}

async function boot(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    main.innerHTML = `<p class="card view-error" role="alert"></p>`;
    main.querySelector("p")!.textContent =
      error instanceof ConfigError ? error.message : String(error);
    return;
  }
  const app = initializeApp(config.firebase);
  if (config.mode === "local") {
    const uid = storedLocalUser();
    if (!uid) return showLocalSignIn(config);
    const db = getFirestore(app);
    const { host, port } = config.emulator!;
    // The emulator applies the security rules to this identity (an unsigned token it builds).
    connectFirestoreEmulator(db, host, port, { mockUserToken: { sub: uid, user_id: uid } });
    return startApp(config, app, localSession(config, uid), db);
  }
  const session = await firebaseSession(app);
  if (!session) return showFirebaseSignIn(app);
  startApp(config, app, session, getFirestore(app));
}

void boot();
