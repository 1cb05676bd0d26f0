// Short messages in a live region: status toasts are polite, error toasts are alerts.

export type ToastKind = "success" | "error";

export class Toasts {
  constructor(private readonly region: HTMLElement) {}

  show(message: string, kind: ToastKind = "success", timeoutMs = kind === "error" ? 8000 : 4000) {
    const toast = document.createElement("div");
    toast.className = `toast toast-${kind}`;
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    const text = document.createElement("span");
    text.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => toast.remove());
    toast.append(text, close);
    this.region.append(toast);
    window.setTimeout(() => toast.remove(), timeoutMs);
    return toast;
  }
}
