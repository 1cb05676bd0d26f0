// The HTTPS API: create, cancel and retry jobs, and read the learner's limits. Every error
// becomes an ApiError with the service's stable code (docs/api.md), or NETWORK when the service
// could not be reached.

import type { Session } from "./session";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: Record<string, unknown> = {},
    // Seconds from the Retry-After header, when the service sent one.
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface JobResponse {
  jobId: string;
  status: string;
  [field: string]: unknown;
}

export interface Count {
  used: number;
  limit: number;
}

// GET /limits (docs/api.md): what the learner may still do. Times are ISO 8601 in UTC.
export interface Limits {
  activeJobs: Count;
  hourlyJobs: Count & { resetsAt: string };
  dailyTokens: {
    limit: number;
    spent: number;
    reserved: number;
    remaining: number;
    jobsRemaining: number;
    resetsAt: string;
  };
}

// GET /devices and the calls that change them (docs/api.md): tokens are never echoed.
export interface Devices {
  devices: { deviceId: string; addedAt: string }[];
  notificationsEnabled: boolean;
}

interface ErrorPayload {
  error?: { code?: string; message?: string; details?: Record<string, unknown> };
}

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly session: Session,
  ) {}

  createJob(prompt: string): Promise<JobResponse> {
    // A retried request (flaky network) with the same key returns the same job.
    return this.call("POST", "/jobs", { prompt }, { "Idempotency-Key": crypto.randomUUID() });
  }

  cancelJob(jobId: string): Promise<JobResponse> {
    return this.call("POST", `/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  retryJob(jobId: string): Promise<JobResponse> {
    return this.call("POST", `/jobs/${encodeURIComponent(jobId)}/retry`);
  }

  limits(): Promise<Limits> {
    return this.call("GET", "/limits");
  }

  devices(): Promise<Devices> {
    return this.call("GET", "/devices");
  }

  registerDevice(token: string): Promise<Devices> {
    return this.call("POST", "/devices", { token });
  }

  removeDevice(deviceId: string): Promise<Devices> {
    return this.call("DELETE", `/devices/${encodeURIComponent(deviceId)}`);
  }

  setNotifications(notificationsEnabled: boolean): Promise<Devices> {
    return this.call("PUT", "/notification-settings", { notificationsEnabled });
  }

  private async call<T = JobResponse>(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${await this.session.idToken()}`,
      ...extraHeaders,
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError("NETWORK", "The service could not be reached. Try again shortly.", 0);
    }
    const payload = (await response.json().catch(() => null)) as unknown;
    if (!response.ok) {
      const error = (payload as ErrorPayload | null)?.error;
      const retryAfter = Number(response.headers.get("Retry-After") ?? NaN);
      throw new ApiError(
        error?.code ?? `HTTP_${response.status}`,
        error?.message ?? `The service answered ${response.status}.`,
        response.status,
        error?.details ?? {},
        Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
      );
    }
    return payload as T;
  }
}
