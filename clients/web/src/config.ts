// Build-time configuration (Vite inlines import.meta.env.VITE_* when it bundles).
//
// local:    the emulators of the local stack; the learner signs in as a named local user and the
//           app mints an unsigned ID token (accepted only by the emulators) for the API, and
//           hands the same identity to the Firestore emulator as a mock user token.
// firebase: a real project; Firebase Authentication signs the learner in (Google pop-up) and
//           real ID tokens go to the API and, through the SDK, to Firestore.

export interface FirebaseWebConfig {
  apiKey: string;
  authDomain: string;
  projectId: string;
  appId: string;
}

export interface AppConfig {
  mode: "local" | "firebase";
  projectId: string;
  apiUrl: string;
  emulator?: { host: string; port: number };
  firebase: FirebaseWebConfig;
}

export class ConfigError extends Error {}

function required(name: string, value: string | undefined): string {
  if (!value) {
    throw new ConfigError(`${name} is not set; see clients/web/.env.production.example`);
  }
  return value;
}

export function loadConfig(env: ImportMetaEnv = import.meta.env): AppConfig {
  const mode = env.VITE_QGEN_MODE === "local" ? "local" : "firebase";
  const apiUrl = required("VITE_QGEN_API_URL", env.VITE_QGEN_API_URL).replace(/\/+$/, "");
  if (mode === "local") {
    const projectId = env.VITE_QGEN_PROJECT_ID || "demo-qgen";
    const [host, port] = (env.VITE_QGEN_FIRESTORE_EMULATOR || "127.0.0.1:8180").split(":");
    return {
      mode,
      projectId,
      apiUrl,
      emulator: { host, port: Number(port) },
      // The emulators need only a project id; the other values are never checked.
      firebase: { apiKey: "local", authDomain: "localhost", projectId, appId: "local" },
    };
  }
  const firebase = {
    apiKey: required("VITE_FIREBASE_API_KEY", env.VITE_FIREBASE_API_KEY),
    authDomain: required("VITE_FIREBASE_AUTH_DOMAIN", env.VITE_FIREBASE_AUTH_DOMAIN),
    projectId: required("VITE_FIREBASE_PROJECT_ID", env.VITE_FIREBASE_PROJECT_ID),
    appId: required("VITE_FIREBASE_APP_ID", env.VITE_FIREBASE_APP_ID),
  };
  return { mode, projectId: firebase.projectId, apiUrl, firebase };
}
