// The questions of one job, live: the job document and its questions, both through listeners
// (a job still generating fills in as questions are saved).

import {
  collection,
  doc,
  type Firestore,
  onSnapshot,
  query,
  where,
} from "firebase/firestore";
import { type Job, phaseText, plural, title } from "./jobs";

interface Question {
  id: string;
  question: string;
  type: "multiple-choice" | "true-false";
  options: string[];
  correctAnswer: string;
  explanation?: string;
}

const TYPE_LABEL: Record<string, string> = {
  "multiple-choice": "Multiple choice",
  "true-false": "True or false",
};

function summary(job: Job): string {
  const saved = job.questionsSaved ?? 0;
  switch (job.status) {
    case "completed":
      return `Completed · ${plural(saved, "question")}`;
    case "cancelled":
      return `Cancelled · partial results, ${plural(saved, "question")} kept`;
    case "failed":
      return `Failed · ${job.errorMessage ?? ""}`;
    case "processing":
      return `${phaseText(job)}… ${saved} of ${job.estimatedTotal ?? "?"}`;
    default:
      return "Waiting to start";
  }
}

function renderQuestion(q: Question, n: number): HTMLLIElement {
  const item = document.createElement("li");
  item.className = "question";
  item.dataset.questionId = q.id;
  const head = document.createElement("p");
  head.className = "question-text";
  const number = document.createElement("span");
  number.className = "question-number";
  number.textContent = `${n}. `;
  head.append(number, q.question);
  const kind = document.createElement("p");
  kind.className = "question-type";
  kind.textContent = TYPE_LABEL[q.type] ?? q.type;
  const options = document.createElement("ul");
  options.className = "question-options";
  options.setAttribute("aria-label", "Options");
  for (const option of q.options ?? []) {
    const li = document.createElement("li");
    li.textContent = option;
    if (option === q.correctAnswer) {
      li.className = "correct";
      const mark = document.createElement("span");
      mark.className = "correct-mark";
      mark.textContent = " ✓ correct answer";
      li.append(mark);
    }
    options.append(li);
  }
  item.append(head, kind, options);
  if (q.explanation) {
    const details = document.createElement("details");
    const label = document.createElement("summary");
    label.textContent = "Explanation";
    const text = document.createElement("p");
    text.textContent = q.explanation;
    details.append(label, text);
    item.append(details);
  }
  return item;
}

/** Renders the view into `root`; returns the function that stops its listeners. */
export function showQuestions(root: HTMLElement, db: Firestore, uid: string, jobId: string) {
  root.innerHTML = `
    <a class="back" href="#/">← Home</a>
    <h2 class="view-title" tabindex="-1">Questions</h2>
    <p class="job-summary" role="status"></p>
    <p class="view-error" role="alert" hidden></p>
    <ol class="questions" aria-label="Questions"></ol>`;
  const heading = root.querySelector<HTMLElement>(".view-title")!;
  const summaryLine = root.querySelector<HTMLElement>(".job-summary")!;
  const error = root.querySelector<HTMLElement>(".view-error")!;
  const list = root.querySelector<HTMLElement>(".questions")!;
  heading.focus();

  const fail = () => {
    error.hidden = false;
    error.textContent = "This job was not found, or it belongs to someone else.";
    summaryLine.textContent = "";
    list.replaceChildren();
  };

  const stopJob = onSnapshot(
    doc(db, "generationJobs", jobId),
    (snap) => {
      if (!snap.exists()) return fail();
      const job = { id: snap.id, ...snap.data() } as Job;
      heading.textContent = title(job);
      summaryLine.textContent = summary(job);
    },
    fail,
  );
  // The rules let a learner query questions only with userId == their uid.
  const stopQuestions = onSnapshot(
    query(
      collection(db, "questions"),
      where("userId", "==", uid),
      where("generationJobId", "==", jobId),
    ),
    (snap) => {
      const questions = snap.docs
        .map((d) => ({ id: d.id, ...d.data() }) as Question)
        .sort((a, b) => a.id.localeCompare(b.id));
      list.replaceChildren(...questions.map((q, i) => renderQuestion(q, i + 1)));
    },
    fail,
  );
  return () => {
    stopJob();
    stopQuestions();
  };
}
