// The job documents the worker writes (docs/architecture.md, "Data contract"), as the panel
// reads them, and the words it uses for them.

import type { Timestamp } from "firebase/firestore";

export type JobStatus = "pending" | "processing" | "completed" | "failed" | "cancelled";

export interface Job {
  id: string;
  userId: string;
  prompt: string;
  status: JobStatus;
  phase?: "clarifying" | "generating" | "finalizing";
  topic?: string;
  questionsSaved?: number;
  questionsRejected?: number;
  estimatedTotal?: number;
  errorCode?: string;
  errorMessage?: string;
  retryable?: boolean;
  lastErrorCode?: string;
  createdAt?: Timestamp;
  completedAt?: Timestamp;
  questionIds?: string[];
}

export const ACTIVE: ReadonlySet<JobStatus> = new Set(["pending", "processing"]);

export function title(job: Job): string {
  return job.topic || job.prompt;
}

export function phaseText(job: Job): string {
  switch (job.phase) {
    case "generating":
      return "Generating questions";
    case "finalizing":
      return "Finishing up";
    case "clarifying":
    default:
      return "Understanding your request";
  }
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function timeAgo(date: Date | undefined, now: number = Date.now()): string {
  if (!date) return "";
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${plural(minutes, "minute")} ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${plural(hours, "hour")} ago`;
  return `${plural(Math.round(hours / 24), "day")} ago`;
}
