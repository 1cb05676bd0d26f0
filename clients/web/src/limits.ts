// The learner's limits (GET /limits) at the top of the background-tasks panel: active jobs,
// jobs this hour, and about how many more jobs today's budget admits. Also the words for the
// two budget refusals, in the learner's local time.

import { ApiError, type Limits } from "./api";
import { plural } from "./jobs";

// "01:00": a time of day in the learner's time zone, on a 24-hour clock.
export function clockTime(date: Date): string {
  return new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(date);
}

// "at 01:00", or "tomorrow at 01:00" when that moment falls on the learner's next day.
export function renewsAt(date: Date, now: number = Date.now()): string {
  const today = new Date(now);
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  const sameDay = (a: Date, b: Date) => a.toDateString() === b.toDateString();
  if (sameDay(date, tomorrow)) return `tomorrow at ${clockTime(date)}`;
  if (sameDay(date, today)) return `at ${clockTime(date)}`;
  return `on ${date.toLocaleDateString(undefined, { weekday: "long" })} at ${clockTime(date)}`;
}

// "3 h 20 min", "45 min", "less than a minute".
function duration(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  if (minutes < 1) return "less than a minute";
  const hours = Math.floor(minutes / 60);
  return hours ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
}

// When a refusal that lasts until the budgets renew (midnight UTC) ends.
function budgetRenewal(error: ApiError, now: number): { at: Date; seconds: number } {
  if (error.retryAfter !== undefined) {
    return { at: new Date(now + error.retryAfter * 1000), seconds: error.retryAfter };
  }
  const today = new Date(now);
  const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1);
  return { at: new Date(midnight), seconds: (midnight - now) / 1000 };
}

// A person's words for the budget refusals (the service's own message speaks of UTC), or
// null for any other error, whose message the service already writes for people.
export function budgetMessage(error: ApiError, now: number = Date.now()): string | null {
  if (error.code !== "BUDGET_EXCEEDED" && error.code !== "SERVICE_BUDGET_EXHAUSTED") return null;
  const { at, seconds } = budgetRenewal(error, now);
  const when = `${renewsAt(at, now)} (in ${duration(seconds)})`;
  if (error.code === "BUDGET_EXCEEDED") {
    return `You have used today's question allowance. It renews ${when}.`;
  }
  return `The service has reached its question limit for today. Try again ${when}.`;
}

interface Row {
  item: HTMLElement;
  value: HTMLElement;
  note: HTMLElement;
  bar: HTMLElement;
}

export class LimitsView {
  private readonly rows: Record<"active" | "hourly" | "daily", Row>;
  private readonly error: HTMLElement;
  private inFlight = false;
  private again = false;
  private debounce: number | undefined;
  private renewal: number | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly fetchLimits: () => Promise<Limits>,
  ) {
    const row = (name: string): Row => {
      const item = root.querySelector<HTMLElement>(`[data-limit="${name}"]`);
      if (!item) throw new Error(`missing limit ${name}`);
      return {
        item,
        value: item.querySelector<HTMLElement>(".limit-value")!,
        note: item.querySelector<HTMLElement>(".limit-note")!,
        bar: item.querySelector<HTMLElement>(".limit-bar > span")!,
      };
    };
    this.rows = { active: row("active"), hourly: row("hourly"), daily: row("daily") };
    this.error = root.querySelector<HTMLElement>(".limits-error")!;
  }

  private get shown(): boolean {
    return this.root.closest("[hidden]") === null;
  }

  // Something may have moved the limits (a job created, cancelled, retried or ended): fetch
  // them again if they are on screen; the panel fetches them whenever it opens anyway.
  changed(): void {
    if (!this.shown) return;
    window.clearTimeout(this.debounce);
    // Several signals usually arrive together (the API's answer, then the listener).
    this.debounce = window.setTimeout(() => void this.refresh(), 150);
  }

  async refresh(): Promise<void> {
    window.clearTimeout(this.debounce);
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    this.root.setAttribute("aria-busy", "true");
    try {
      this.render(await this.fetchLimits());
      this.error.hidden = true;
    } catch (error) {
      const code = error instanceof ApiError ? ` (${error.code})` : "";
      this.error.textContent = `Your limits could not be loaded${code}.`;
      this.error.hidden = false;
    } finally {
      this.inFlight = false;
      this.root.setAttribute("aria-busy", "false");
    }
    if (this.again) {
      this.again = false;
      await this.refresh();
    }
  }

  private render(limits: Limits, now: number = Date.now()): void {
    const { activeJobs: active, hourlyJobs: hourly, dailyTokens: daily } = limits;
    const activeFull = active.used >= active.limit;
    const activeText = `${active.used} of ${active.limit}`;
    this.fill(this.rows.active, activeText, "", active.used / active.limit, activeFull);

    const hourlyFull = hourly.used >= hourly.limit;
    const hourlyReset = new Date(hourly.resetsAt);
    this.fill(
      this.rows.hourly,
      `${hourly.used} of ${hourly.limit}`,
      hourlyFull ? `Renews ${renewsAt(hourlyReset, now)}` : "",
      hourly.used / hourly.limit,
      hourlyFull,
    );

    const dailyReset = new Date(daily.resetsAt);
    const jobs = daily.jobsRemaining;
    this.fill(
      this.rows.daily,
      jobs > 0 ? `About ${plural(jobs, "more job")} today` : "No more jobs today",
      `Renews ${renewsAt(dailyReset, now)}`,
      (daily.limit - daily.remaining) / daily.limit,
      // What is left may be too little for one more job's reservation.
      jobs <= 0,
    );
    this.root.dataset.loaded = "true";

    // Past a reset the numbers are stale: fetch again then, if still on screen.
    window.clearTimeout(this.renewal);
    const next = Math.min(hourlyReset.getTime(), dailyReset.getTime()) - now + 1000;
    if (next > 0 && next < 2 ** 31 - 1) this.renewal = window.setTimeout(() => this.changed(), next);
  }

  // `share`: how much of the limit is used (0..1); `full`: nothing more is admitted.
  private fill(row: Row, value: string, note: string, share: number, full: boolean): void {
    row.value.textContent = value;
    row.note.textContent = note;
    row.note.hidden = !note;
    const width = Number.isFinite(share) ? Math.min(1, Math.max(0, share)) : 1;
    row.bar.style.width = `${Math.round(width * 100)}%`;
    row.item.classList.toggle("limit-full", full);
  }
}
