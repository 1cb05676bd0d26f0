// Build-time configuration (Vite inlines import.meta.env.VITE_* when it bundles).
//
// local:    the emulators of the local stack; the learner signs in as a named local user and the
//           app mints an unsigned ID token (accepted only by the emulators) for the API, and
//           hands the same identity to the Firestore emulator as a mock user token.
// firebase: a real project; Firebase Authentication signs the learner in (Google pop-up) and
//           real ID tokens go to the API and, through the SDK, to Firestore.
//
// Either mode may add Cloud Messaging (VITE_FIREBASE_MESSAGING_SENDER_ID and VITE_FIREBASE_VAPID_KEY,
// with the web app's real VITE_FIREBASE_API_KEY and VITE_FIREBASE_APP_ID): the app then offers
// notifications when a job ends (src/notifications.ts). Without them, as on the emulator-only
// local stack, it says notifications are not available.

export interface FirebaseWebConfig {
  apiKey: string;
  authDomain: string;
  projectId: string;
  appId: string;
  messagingSenderId?: string;
}

export interface AppConfig {
  mode: "local" | "firebase";
  projectId: string;
  apiUrl: string;
  emulator?: { host: string; port: number };
  firebase: FirebaseWebConfig;
  /** Present when Cloud Messaging is configured: the web push (VAPID) public key. */
  messaging?: { vapidKey: string };
}

export class ConfigError extends Error {}

function required(name: string, value: string | undefined): string {
  if (!value) {
    throw new ConfigError(`${name} is not set; see clients/web/.env.production.example`);
  }
  return value;
}

// Messaging needs both values; either alone is not a configuration.
function messagingOf(env: ImportMetaEnv): { senderId: string; vapidKey: string } | undefined {
  const senderId = env.VITE_FIREBASE_MESSAGING_SENDER_ID;
  const vapidKey = env.VITE_FIREBASE_VAPID_KEY;
  return senderId && vapidKey ? { senderId, vapidKey } : undefined;
}

export function loadConfig(env: ImportMetaEnv = import.meta.env): AppConfig {
  const mode = env.VITE_QGEN_MODE === "local" ? "local" : "firebase";
  const apiUrl = required("VITE_QGEN_API_URL", env.VITE_QGEN_API_URL).replace(/\/+$/, "");
  const messaging = messagingOf(env);
  if (mode === "local") {
    const projectId = env.VITE_QGEN_PROJECT_ID || "demo-qgen";
    const [host, port] = (env.VITE_QGEN_FIRESTORE_EMULATOR || "127.0.0.1:8180").split(":");
    return {
      mode,
      projectId,
      apiUrl,
      emulator: { host, port: Number(port) },
      // The emulators need only a project id; the other values are never checked (Cloud
      // Messaging, when configured, needs the web app's real API key and app id).
      firebase: {
        apiKey: (messaging && env.VITE_FIREBASE_API_KEY) || "local",
        authDomain: "localhost",
        projectId,
        appId: (messaging && env.VITE_FIREBASE_APP_ID) || "local",
        messagingSenderId: messaging?.senderId,
      },
      messaging: messaging && { vapidKey: messaging.vapidKey },
    };
  }
  const firebase = {
    apiKey: required("VITE_FIREBASE_API_KEY", env.VITE_FIREBASE_API_KEY),
    authDomain: required("VITE_FIREBASE_AUTH_DOMAIN", env.VITE_FIREBASE_AUTH_DOMAIN),
    projectId: required("VITE_FIREBASE_PROJECT_ID", env.VITE_FIREBASE_PROJECT_ID),
    appId: required("VITE_FIREBASE_APP_ID", env.VITE_FIREBASE_APP_ID),
    messagingSenderId: messaging?.senderId,
  };
  const vapid = messaging && { vapidKey: messaging.vapidKey };
  return { mode, projectId: firebase.projectId, apiUrl, firebase, messaging: vapid };
}
