// The one renderer of model, document and admin text: Markdown -> HTML -> DOMPurify, on every render,
// for a stored answer and for each step of a streamed one alike (the lesson of CVE-2026-32626).
"use strict";
const Render = (() => {
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
  // No raw HTML from Markdown: HTML blocks and inline HTML are shown as text.
  marked.use({gfm: true, breaks: false, renderer: {html: (token) => escapeHtml(token.text || token.raw || "")}});
  const SAFE_LINK = /^(https?:|mailto:|#|\/(?!\/))/i;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      const href = node.getAttribute("href") || "";
      if (!SAFE_LINK.test(href.trim())) node.removeAttribute("href");
      node.setAttribute("rel", "noopener noreferrer");
      node.setAttribute("target", "_blank");
    }
    if (node.tagName === "IMG") {
      // Images only from the suite itself: anything else would be a request to an outside origin.
      let url = null;
      try { url = new URL(node.getAttribute("src") || "", location.href); } catch (_) { url = null; }
      if (!url || url.origin !== location.origin) node.removeAttribute("src");
    }
  });
  const CONFIG = {USE_PROFILES: {html: true}, FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "svg", "math"],
    FORBID_ATTR: ["style", "srcset"], ALLOW_DATA_ATTR: false};
  function markdown(target, text) {
    target.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), CONFIG);
    target.querySelectorAll("pre").forEach((pre) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code";
      button.textContent = Suite.t("copy");
      button.addEventListener("click", () => navigator.clipboard.writeText((pre.querySelector("code") || pre).textContent));
      pre.prepend(button);
    });
  }
  return {markdown};
})();
