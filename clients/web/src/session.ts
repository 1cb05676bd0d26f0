// Who the learner is, and the ID token that proves it to the API.

import type { FirebaseApp } from "firebase/app";
import type { AppConfig } from "./config";

export interface Session {
  uid: string;
  label: string;
  /** A fresh Firebase ID token for the Authorization header of API calls. */
  idToken(): Promise<string>;
  signOut(): Promise<void>;
}

const LOCAL_USER_KEY = "qgen.localUser";
export const LOCAL_USER_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function base64url(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * An unsigned ID token (alg "none") with the claims of a Firebase ID token, as dev/tokens.py
 * makes them. Only the emulators (and firebase-admin with FIREBASE_AUTH_EMULATOR_HOST set)
 * accept it; a real project rejects it.
 */
export function localIdToken(uid: string, projectId: string, lifetimeSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: `https://securetoken.google.com/${projectId}`,
    aud: projectId,
    sub: uid,
    user_id: uid,
    auth_time: now,
    iat: now,
    exp: now + lifetimeSeconds,
    firebase: { identities: {}, sign_in_provider: "custom" },
  };
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.`;
}

export function storedLocalUser(): string | null {
  const uid = localStorage.getItem(LOCAL_USER_KEY);
  return uid && LOCAL_USER_PATTERN.test(uid) ? uid : null;
}

export function rememberLocalUser(uid: string): void {
  localStorage.setItem(LOCAL_USER_KEY, uid);
}

export function localSession(config: AppConfig, uid: string): Session {
  return {
    uid,
    label: `${uid} (local)`,
    idToken: async () => localIdToken(uid, config.projectId),
    signOut: async () => localStorage.removeItem(LOCAL_USER_KEY),
  };
}

/** Production: Firebase Authentication. Resolves with the signed-in user, or null. */
export async function firebaseSession(app: FirebaseApp): Promise<Session | null> {
  const { getAuth, onAuthStateChanged } = await import("firebase/auth");
  const auth = getAuth(app);
  const user = await new Promise<import("firebase/auth").User | null>((resolve) => {
    const stop = onAuthStateChanged(auth, (u) => {
      stop();
      resolve(u);
    });
  });
  if (!user) return null;
  return {
    uid: user.uid,
    label: user.displayName || user.email || user.uid,
    idToken: () => user.getIdToken(),
    signOut: () => auth.signOut(),
  };
}

export async function firebaseSignIn(app: FirebaseApp): Promise<void> {
  const { getAuth, GoogleAuthProvider, signInWithPopup } = await import("firebase/auth");
  await signInWithPopup(getAuth(app), new GoogleAuthProvider());
}
