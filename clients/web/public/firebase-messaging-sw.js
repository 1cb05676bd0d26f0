// The web client's push service worker (registered by src/notifications.ts once the learner turns
// notifications on; firebase/messaging subscribes through it). Deliberately without the Firebase
// SDK: every FCM push shows one notification, tagged with the job id so that a resent
// notification for the same job replaces the first; a click opens or focuses the app on the job.
// docs/clients.md, "Notifications", describes the payload.
// @ts-check
/** @type {ServiceWorkerGlobalScope} */
const sw = /** @type {any} */ (self);

sw.addEventListener("install", () => void sw.skipWaiting());
sw.addEventListener("activate", (event) => event.waitUntil(sw.clients.claim()));

// FCM's web push payload: {notification: {title, body}, data: {jobId, status}, ...}.
sw.addEventListener("push", (event) => {
  /** @type {{notification?: {title?: string, body?: string}, data?: Record<string, string>}} */
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = {};
  }
  const data = payload.data ?? {};
  const notification = payload.notification ?? {};
  event.waitUntil(
    sw.registration.showNotification(notification.title || "Study questions", {
      body: notification.body ?? "",
      tag: data.jobId || undefined,
      data,
    }),
  );
});

sw.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const jobId = /** @type {Record<string, string>} */ (event.notification.data ?? {}).jobId;
  const url = new URL(jobId ? `./#/jobs/${encodeURIComponent(jobId)}` : "./", sw.registration.scope);
  event.waitUntil(
    (async () => {
      const windows = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => new URL(client.url).origin === url.origin);
      if (!open) return void (await sw.clients.openWindow(url.href));
      await open.focus();
      if (jobId) open.postMessage({ type: "qgen.openJob", jobId });
    })(),
  );
});
