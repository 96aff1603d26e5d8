// Shared by every page: the session's CSRF token, JSON calls with the session, UI language and theme.
"use strict";
const Suite = (() => {
  const TEXT = {
    en: {skip: "Skip to content", "nav.chat": "Chat", "nav.audit": "Audit", "nav.admin": "Admin", lang: "Language",
      theme: "Theme", logout: "Sign out", new: "New chat", search: "Search conversations",
      deleteAll: "Delete all my conversations", model: "Model", prompt: "Message", send: "Send", stop: "Stop",
      regenerate: "Regenerate", edit: "Edit last message", copy: "Copy", copied: "Copied", rename: "Rename",
      delete: "Delete", confirmDeleteAll: "Delete all your conversations? This cannot be undone.",
      stopped: "Stopped.", filtered: "The answer was cut by a content filter.", error: "Error",
      usage: "Today: {requests} requests, {tokens} tokens", quotaLeft: "{left} of {limit} tokens left",
      helpful: "Helpful", unhelpful: "Not helpful",
      thanks: "Thanks for the feedback.", collection: "Documents", noCollection: "none", close: "Close",
      sources: "Sources", page: "page {page}", passageGone: "This passage is not available to you.",
      and: "and", maskedOne: "{list} was masked before the model saw it.",
      maskedMany: "{list} were masked before the model saw them.",
      blocked: "Blocked by the guardrails, not sent to the model:",
      figures: "Requests, blocks and errors", period: "Period", last24h: "last 24 hours", last7d: "last 7 days",
      last30d: "last 30 days", usageByUser: "Usage per user", usageByModel: "Usage per model", subject: "Subject",
      requests: "Requests", tokens: "Tokens",
      chartAlt: "Chart over the period: {requests} requests, {blocked} blocked, {errors} errors in all."},
    de: {skip: "Zum Inhalt", "nav.chat": "Chat", "nav.audit": "Audit", "nav.admin": "Verwaltung", lang: "Sprache",
      theme: "Farbschema", logout: "Abmelden", new: "Neuer Chat", search: "Unterhaltungen durchsuchen",
      deleteAll: "Alle meine Unterhaltungen löschen", model: "Modell", prompt: "Nachricht", send: "Senden",
      stop: "Stopp", regenerate: "Neu erzeugen", edit: "Letzte Nachricht bearbeiten", copy: "Kopieren",
      copied: "Kopiert", rename: "Umbenennen", delete: "Löschen",
      confirmDeleteAll: "Alle Ihre Unterhaltungen löschen? Das lässt sich nicht rückgängig machen.",
      stopped: "Gestoppt.", filtered: "Die Antwort wurde von einem Inhaltsfilter gekürzt.", error: "Fehler",
      usage: "Heute: {requests} Anfragen, {tokens} Tokens", quotaLeft: "{left} von {limit} Tokens übrig",
      helpful: "Hilfreich", unhelpful: "Nicht hilfreich",
      thanks: "Danke für die Rückmeldung.", collection: "Dokumente", noCollection: "keine", close: "Schließen",
      sources: "Quellen", page: "Seite {page}", passageGone: "Diese Stelle ist für Sie nicht verfügbar.",
      and: "und", maskedOne: "{list} wurde maskiert; das Modell hat den Wert nicht gesehen.",
      maskedMany: "{list} wurden maskiert; das Modell hat die Werte nicht gesehen.",
      blocked: "Von den Schutzregeln blockiert, nicht an das Modell gesendet:",
      figures: "Anfragen, Blockierungen und Fehler", period: "Zeitraum", last24h: "letzte 24 Stunden",
      last7d: "letzte 7 Tage", last30d: "letzte 30 Tage", usageByUser: "Nutzung je Person",
      usageByModel: "Nutzung je Modell", subject: "Person", requests: "Anfragen", tokens: "Tokens",
      chartAlt: "Diagramm über den Zeitraum: insgesamt {requests} Anfragen, {blocked} blockiert, {errors} Fehler."},
  };
  // The kinds of values the guardrails mask (presidio entities), singular and plural.
  const KINDS = {
    en: {EMAIL_ADDRESS: ["e-mail address", "e-mail addresses"], PHONE_NUMBER: ["phone number", "phone numbers"],
      IBAN_CODE: ["IBAN", "IBANs"], CREDIT_CARD: ["credit card number", "credit card numbers"],
      IP_ADDRESS: ["IP address", "IP addresses"], DE_TAX_ID: ["tax ID", "tax IDs"],
      DE_SOCIAL_SECURITY: ["social security number", "social security numbers"],
      DE_ID_CARD: ["ID card number", "ID card numbers"], DE_KFZ: ["licence plate", "licence plates"],
      PERSON: ["name", "names"], LOCATION: ["place", "places"], ORGANIZATION: ["organisation", "organisations"]},
    de: {EMAIL_ADDRESS: ["E-Mail-Adresse", "E-Mail-Adressen"], PHONE_NUMBER: ["Telefonnummer", "Telefonnummern"],
      IBAN_CODE: ["IBAN", "IBANs"], CREDIT_CARD: ["Kreditkartennummer", "Kreditkartennummern"],
      IP_ADDRESS: ["IP-Adresse", "IP-Adressen"], DE_TAX_ID: ["Steuer-ID", "Steuer-IDs"],
      DE_SOCIAL_SECURITY: ["Sozialversicherungsnummer", "Sozialversicherungsnummern"],
      DE_ID_CARD: ["Ausweisnummer", "Ausweisnummern"], DE_KFZ: ["Kfz-Kennzeichen", "Kfz-Kennzeichen"],
      PERSON: ["Name", "Namen"], LOCATION: ["Ort", "Orte"], ORGANIZATION: ["Organisation", "Organisationen"]},
  };
  let csrf = null;
  const lang = () => localStorage.getItem("suite.lang") || (navigator.language || "en").slice(0, 2);
  const current = () => (TEXT[lang()] ? lang() : "en");
  const t = (key, values) => {
    let text = TEXT[current()][key] || TEXT.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, String(value));
    return text;
  };
  function translate() {
    document.documentElement.lang = current();
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  }
  // "2 e-mail addresses were masked before the model saw them." from {EMAIL_ADDRESS: 2}.
  function masked(counts) {
    const kinds = KINDS[current()];
    const parts = Object.entries(counts).map(([kind, n]) => {
      const [one, many] = kinds[kind] || [kind.toLowerCase(), kind.toLowerCase()];
      return `${n} ${n === 1 ? one : many}`;
    });
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const list = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} ${t("and")} ${parts[parts.length - 1]}` : parts[0];
    return t(total === 1 ? "maskedOne" : "maskedMany", {list});
  }
  async function me() {
    const answer = await fetch("/auth/me", {credentials: "same-origin"});
    if (answer.status === 401) { location.href = "/auth/login?next=" + encodeURIComponent(location.pathname); return null; }
    const info = await answer.json();
    csrf = info.csrf_token;
    document.querySelectorAll("input[name=csrf_token]").forEach((el) => { el.value = csrf; });
    return info;
  }
  async function call(method, url, body, options) {
    const headers = {"X-CSRF-Token": csrf || ""};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(url, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body), ...(options || {})});
    return answer;
  }
  async function json(method, url, body) {
    const answer = await call(method, url, body);
    if (answer.status === 204) return null;
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error((data.error && data.error.message) || `${answer.status}`);
    return data;
  }
  // Preferences only (language, theme, notice seen): never a token or a secret.
  function setup() {
    const select = document.getElementById("lang");
    select.value = current();
    select.addEventListener("change", () => { localStorage.setItem("suite.lang", select.value); translate(); });
    const theme = localStorage.getItem("suite.theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    document.documentElement.dataset.theme = theme;
    document.getElementById("theme").addEventListener("click", () => {
      const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("suite.theme", next);
    });
    translate();
  }
  return {t, me, call, json, setup, translate, current, masked};
})();
