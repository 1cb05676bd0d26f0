// The background-tasks panel: one card per job, re-rendered from each listener snapshot.

import { type Job, phaseText, plural, timeAgo, title } from "./jobs";

export interface PanelActions {
  cancel(job: Job): Promise<void>;
  retry(job: Job): Promise<void>;
  // The panel has just opened (the learner's limits are fetched then).
  opened(): void;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function icon(kind: string, symbol = ""): HTMLElement {
  return el("span", { class: `job-icon job-icon-${kind}`, "aria-hidden": "true", text: symbol });
}

function button(action: string, text: string, label: string): HTMLButtonElement {
  return el("button", {
    type: "button",
    class: `btn btn-small btn-${action}`,
    "data-action": action,
    "aria-label": label,
    text,
  });
}

function viewLink(job: Job, text: string): HTMLAnchorElement {
  return el("a", {
    class: "btn btn-small btn-link",
    href: `#/jobs/${encodeURIComponent(job.id)}`,
    "data-action": "view",
    "aria-label": `${text}: ${title(job)}`,
    text,
  });
}

export function renderCard(job: Job, now = Date.now()): HTMLLIElement {
  const saved = job.questionsSaved ?? 0;
  const titleId = `job-title-${job.id}`;
  const card = el("li", {
    class: `job-card job-${job.status}`,
    "data-job-id": job.id,
    "data-status": job.status,
    "aria-labelledby": titleId,
  });
  const heading = el("h3", { class: "job-title", id: titleId, text: title(job) });
  const body = el("div", { class: "job-body" });
  const actions = el("div", { class: "job-actions" });
  let symbol: HTMLElement;

  switch (job.status) {
    case "processing": {
      symbol = icon("processing");
      const total = job.estimatedTotal;
      const bar = el("progress", {
        class: "job-progress",
        max: String(total ?? 1),
        "aria-label": `Progress: ${title(job)}`,
      });
      // Without an estimate yet (still clarifying) the bar is indeterminate.
      if (total) bar.value = Math.min(saved, total);
      body.append(
        el("p", { class: "job-phase", text: `${phaseText(job)}…` }),
        bar,
        el("p", {
          class: "job-count",
          text: total ? `${saved} of ${plural(total, "question")}` : plural(saved, "question"),
        }),
      );
      actions.append(button("cancel", "Cancel", `Cancel ${title(job)}`));
      break;
    }
    case "pending": {
      symbol = el("span", { class: "spinner", "aria-hidden": "true" });
      const text = job.lastErrorCode ? "Retrying…" : "Waiting to start";
      body.append(el("p", { class: "job-phase", text }));
      if (saved) body.append(el("p", { class: "job-count", text: `${plural(saved, "question")} so far` }));
      actions.append(button("cancel", "Cancel", `Cancel ${title(job)}`));
      break;
    }
    case "completed": {
      symbol = icon("completed", "✓");
      const finished = job.completedAt?.toDate();
      body.append(
        el("p", { class: "job-count", text: plural(saved, "question") }),
        el("time", {
          class: "job-time",
          datetime: finished?.toISOString(),
          text: timeAgo(finished, now),
        }),
      );
      actions.append(viewLink(job, "View questions"));
      break;
    }
    case "failed": {
      symbol = icon("failed", "!");
      body.append(
        el("p", { class: "job-error", text: job.errorMessage || "Generation failed." }),
      );
      if (saved) body.append(el("p", { class: "job-count", text: `${plural(saved, "question")} kept` }));
      if (job.retryable) actions.append(button("retry", "Retry", `Retry ${title(job)}`));
      break;
    }
    case "cancelled":
    default: {
      symbol = icon("cancelled", "–");
      body.append(
        el("p", { class: "job-phase", text: "Cancelled" }),
        el("p", { class: "job-count", text: `${plural(saved, "question")} kept` }),
      );
      if (saved) actions.append(viewLink(job, "View partial results"));
      break;
    }
  }
  card.append(el("div", { class: "job-head" }, symbol, heading), body);
  if (actions.childElementCount) card.append(actions);
  return card;
}

export class TasksPanel {
  private jobs: Job[] = [];
  private loaded = false;
  private busy = new Set<string>();

  constructor(
    private readonly panel: HTMLElement,
    private readonly list: HTMLElement,
    private readonly empty: HTMLElement,
    private readonly toggle: HTMLButtonElement,
    private readonly actions: PanelActions,
  ) {
    list.addEventListener("click", (event) => this.onClick(event));
    toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    panel.querySelector("[data-close]")?.addEventListener("click", () => this.close());
    // "2 minutes ago" keeps moving.
    window.setInterval(() => this.render(), 30_000);
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  open(): void {
    this.panel.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    requestAnimationFrame(() => this.panel.classList.add("open"));
    this.panel.querySelector<HTMLElement>(".panel-title")?.focus();
    this.actions.opened();
  }

  close(returnFocus = true): void {
    if (!this.isOpen) return;
    this.panel.classList.remove("open");
    this.panel.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    if (returnFocus) this.toggle.focus();
  }

  update(jobs: Job[]): void {
    this.jobs = jobs;
    this.loaded = true;
    this.render();
  }

  private render(): void {
    // Keep keyboard focus on the same control of the same job across re-renders.
    const focused = document.activeElement as HTMLElement | null;
    const focusJob = focused?.closest<HTMLElement>("[data-job-id]")?.dataset.jobId;
    const focusAction = focused?.dataset.action;
    const now = Date.now();
    this.list.replaceChildren(...this.jobs.map((job) => renderCard(job, now)));
    for (const id of this.busy) {
      this.list
        .querySelectorAll<HTMLButtonElement>(`[data-job-id="${CSS.escape(id)}"] button`)
        .forEach((b) => (b.disabled = true));
    }
    this.empty.hidden = !this.loaded || this.jobs.length > 0;
    this.panel.setAttribute("aria-busy", String(!this.loaded));
    if (focusJob && focusAction && this.list.contains(focused) === false) {
      this.list
        .querySelector<HTMLElement>(
          `[data-job-id="${CSS.escape(focusJob)}"] [data-action="${CSS.escape(focusAction)}"]`,
        )
        ?.focus();
    }
  }

  private async onClick(event: Event): Promise<void> {
    const target = (event.target as HTMLElement).closest<HTMLElement>("[data-action]");
    const id = target?.closest<HTMLElement>("[data-job-id]")?.dataset.jobId;
    const job = this.jobs.find((j) => j.id === id);
    if (!target || !job) return;
    const action = target.dataset.action;
    if (action === "view") {
      this.close(false);
      return;
    }
    if (action !== "cancel" && action !== "retry") return;
    this.busy.add(job.id);
    this.render();
    try {
      await (action === "cancel" ? this.actions.cancel(job) : this.actions.retry(job));
    } finally {
      this.busy.delete(job.id);
      this.render();
    }
  }
}
