// The HTTPS API: create, cancel and retry jobs. Every error becomes an ApiError with the
// service's stable code (docs/api.md), or NETWORK when the service could not be reached.

import type { Session } from "./session";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface JobResponse {
  jobId: string;
  status: string;
  [field: string]: unknown;
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

  private async call(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<JobResponse> {
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
    const payload = (await response.json().catch(() => null)) as
      | { error?: { code?: string; message?: string } }
      | JobResponse
      | null;
    if (!response.ok) {
      const error = (payload as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(
        error?.code ?? `HTTP_${response.status}`,
        error?.message ?? `The service answered ${response.status}.`,
        response.status,
      );
    }
    return payload as JobResponse;
  }
}
