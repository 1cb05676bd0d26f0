// Notifications when a job ends (docs/clients.md, "Notifications"), in the background-tasks panel.
//
// With Cloud Messaging configured (config.messaging), a button asks the browser's permission,
// gets this browser's FCM registration token from firebase/messaging (push through the app's own
// service worker, public/firebase-messaging-sw.js) and registers it with POST /devices; the
// learner's switch is PUT /notification-settings. Without it (the emulator-only local stack) the
// panel says notifications are not available, and nothing else here runs: no service worker, no
// firebase/messaging, no /devices.

import type { FirebaseApp } from "firebase/app";
import type { Api, Devices } from "./api";
import type { AppConfig } from "./config";

const SERVICE_WORKER = `${import.meta.env.BASE_URL}firebase-messaging-sw.js`;
// What the service worker posts when the learner clicks a notification and the app is open.
const OPEN_JOB = "qgen.openJob";

// This browser's registration, per learner: the device id to remove on sign-out, and the token
// it stands for, to notice when FCM hands out a new one.
interface Registered {
  deviceId: string;
  token: string;
}

export interface NotificationsOptions {
  config: AppConfig;
  app: FirebaseApp;
  api: Api;
  uid: string;
  /** Tell the learner that `action` failed. */
  failed: (action: string, error: unknown) => void;
  /** Show the questions of a job (a notification was clicked). */
  openJob: (jobId: string) => void;
}

export class Notifications {
  private readonly state: HTMLElement;
  private readonly button: HTMLButtonElement;
  private devices: Devices | null = null;
  private readonly storageKey: string;

  constructor(
    root: HTMLElement,
    private readonly options: NotificationsOptions,
  ) {
    this.state = root.querySelector(".notify-state")!;
    this.button = root.querySelector(".notify-toggle")!;
    this.storageKey = `qgen.device.${options.uid}`;
    this.button.addEventListener("click", () => void this.toggle());
  }

  /** Shows what is possible here and, with messaging, the learner's devices and switch. */
  async start(): Promise<void> {
    const { config } = this.options;
    if (!config.messaging) {
      return this.show(
        config.mode === "local"
          ? "Not available on the local emulator stack (no Cloud Messaging configured)."
          : "Not configured for this app.",
      );
    }
    const { isSupported } = await import("firebase/messaging");
    if (!(await isSupported())) return this.show("Not supported by this browser.");
    navigator.serviceWorker.addEventListener("message", (event: MessageEvent) => {
      const data = event.data as { type?: string; jobId?: string } | null;
      if (data?.type === OPEN_JOB && data.jobId) this.options.openJob(data.jobId);
    });
    navigator.serviceWorker.startMessages();
    try {
      this.devices = await this.options.api.devices();
    } catch (error) {
      this.options.failed("load your notification settings", error);
    }
    this.render();
    // FCM may have replaced this browser's token since it was registered: register the new one.
    if (this.here() && Notification.permission === "granted") {
      await this.register().catch((error) => this.options.failed("renew notifications", error));
      this.render();
    }
  }

  /** Stop notifying this browser once the learner signs out (best effort). */
  async signOut(): Promise<void> {
    const registered = this.registered();
    localStorage.removeItem(this.storageKey);
    if (registered) await this.options.api.removeDevice(registered.deviceId).catch(() => {});
  }

  private async toggle(): Promise<void> {
    const on = this.isOn();
    this.button.disabled = true;
    try {
      if (on) {
        this.devices = await this.options.api.setNotifications(false);
      } else if ((await Notification.requestPermission()) === "granted") {
        await this.register();
        if (!this.devices!.notificationsEnabled) {
          this.devices = await this.options.api.setNotifications(true);
        }
      }
    } catch (error) {
      this.options.failed(on ? "turn notifications off" : "turn notifications on", error);
    } finally {
      this.button.disabled = false;
      this.render();
    }
  }

  /** This browser's FCM token, registered with the API (again when it changed). */
  private async register(): Promise<void> {
    const { app, api, config } = this.options;
    const { getMessaging, getToken } = await import("firebase/messaging");
    const serviceWorkerRegistration = await navigator.serviceWorker.register(SERVICE_WORKER);
    const token = await getToken(getMessaging(app), {
      vapidKey: config.messaging!.vapidKey,
      serviceWorkerRegistration,
    });
    const before = this.registered();
    if (before?.token === token && this.here()) return;
    const devices = await api.registerDevice(token);
    // A registered token becomes the newest device.
    const newest = devices.devices.reduce((a, b) => (b.addedAt > a.addedAt ? b : a));
    localStorage.setItem(this.storageKey, JSON.stringify({ deviceId: newest.deviceId, token }));
    this.devices = devices;
    if (before && before.deviceId !== newest.deviceId) {
      this.devices = await api.removeDevice(before.deviceId).catch(() => devices);
    }
  }

  private registered(): Registered | null {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) ?? "null") as Registered | null;
    } catch {
      return null;
    }
  }

  /** Whether this browser is among the learner's devices. */
  private here(): boolean {
    const id = this.registered()?.deviceId;
    return !!id && !!this.devices?.devices.some((d) => d.deviceId === id);
  }

  private isOn(): boolean {
    return this.here() && !!this.devices?.notificationsEnabled && Notification.permission === "granted";
  }

  private render(): void {
    if (!this.devices) return this.show("Your notification settings could not be loaded.");
    if (Notification.permission === "denied") {
      return this.show("Blocked in this browser's settings: allow notifications for this site.");
    }
    if (this.isOn()) return this.show("On: this browser is told when a job ends.", "Turn off notifications");
    if (!this.devices.notificationsEnabled) {
      return this.show("Off for all your devices.", "Turn on notifications");
    }
    this.show("Off in this browser.", "Turn on notifications");
  }

  private show(state: string, action?: string): void {
    this.state.textContent = state;
    this.button.hidden = !action;
    this.button.textContent = action ?? "";
  }
}
