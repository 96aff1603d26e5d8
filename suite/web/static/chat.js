// The chat page: conversations (stored per user on the server), streamed answers, stop, regenerate, edit and resend.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // busy: from the moment a turn is sent until it is stored (or failed); controller: that turn's abort.
  // view: counts the conversations shown, so a turn that outlives its view does not paint over the next one.
  const state = {conversation: null, messages: [], stored: 0, busy: false, controller: null, view: 0};

  // Send is offered again only once the turn is stored: a reload or the next turn before that would lose it.
  function setBusy(busy) {
    state.busy = busy;
    $("send").hidden = busy; $("stop").hidden = !busy;
    $("regenerate").hidden = true; $("edit-last").hidden = true;
    if (!busy) showTools();
  }

  function showTools() {
    const idle = !state.busy;
    $("regenerate").hidden = !(idle && state.messages.some((m) => m.role === "assistant"));
    $("edit-last").hidden = !(idle && state.messages.some((m) => m.role === "user"));
  }

  function notice(text) { const el = $("notice"); el.textContent = text || ""; el.hidden = !text; }

  function messageView(message) {
    const item = document.createElement("li");
    item.className = `message ${message.role}`;
    const body = document.createElement("div");
    body.className = "body";
    item.append(body);
    paint(body, message);
    if (message.role === "assistant") item.append(answerTools(message, body));
    return item;
  }

  function paint(body, message) {
    // User text is shown as typed (text, not Markdown); answers through the one sanitising renderer.
    if (message.role === "user") body.textContent = message.content;
    else Render.markdown(body, message.content);
  }

  // A thumb drawn inline (no emoji font or icon font on an air-gapped server), pointing down for "not helpful".
  function thumb(down) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "18"); svg.setAttribute("height", "18");
    svg.setAttribute("aria-hidden", "true"); svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M2 10h4v11H2zM8 21h9.5a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 19 10h-5l.8-4.2A1.8 1.8 0 0 0 13 3.6L8 9.5z");
    path.setAttribute("fill", "currentColor");
    if (down) path.setAttribute("transform", "rotate(180 12 12)");
    svg.append(path);
    return svg;
  }

  function answerTools(message, body) {
    const tools = document.createElement("div");
    tools.className = "tools";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy-answer";
    copy.textContent = Suite.t("copy");
    copy.addEventListener("click", async () => { await navigator.clipboard.writeText(message.content); copy.textContent = Suite.t("copied"); });
    tools.append(copy);
    for (const [rating, label] of [[1, "helpful"], [-1, "unhelpful"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = rating > 0 ? "thumb-up" : "thumb-down";
      button.append(thumb(rating < 0));
      button.setAttribute("aria-label", Suite.t(label));
      button.title = Suite.t(label);
      button.addEventListener("click", async () => {
        if (!message.id) return;
        await Suite.json("POST", "/web/api/feedback", {message_id: message.id, rating});
        notice(Suite.t("thanks"));
      });
      tools.append(button);
    }
    const cited = (message.meta && message.meta.citations) || [];
    if (cited.length) {
      const list = document.createElement("span");
      list.className = "citations";
      list.append(Suite.t("sources") + ":");
      for (const citation of cited) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "citation";
        button.textContent = `[${citation.index}] ${citation.title}`;
        button.addEventListener("click", () => openPassage(citation));
        list.append(button);
      }
      tools.append(list);
    }
    const masked = message.meta && message.meta.masked;
    if (masked && Object.keys(masked).length) {
      const note = document.createElement("p");
      note.className = "masked-notice";
      note.textContent = Suite.masked(masked);
      tools.append(note);
    }
    if (message.meta && message.meta.blocked) {
      const note = document.createElement("p");
      note.className = "blocked-notice";
      note.setAttribute("role", "alert");
      note.textContent = `${Suite.t("blocked")} ${message.meta.blocked}`;
      tools.append(note);
    }
    if (message.meta && message.meta.notice) {
      const extra = document.createElement("p");
      extra.className = "answer-notice";
      extra.textContent = message.meta.notice;
      tools.append(extra);
    }
    return tools;
  }

  // The cited passage, fetched through the route that re-checks the document's ACL now; shown as plain text.
  async function openPassage(citation) {
    const panel = $("passage");
    const query = new URLSearchParams({collection: citation.collection, chunk_id: citation.chunk_id});
    const answer = await Suite.call("GET", "/web/api/passages?" + query);
    if (!answer.ok) {
      $("passage-title").textContent = Suite.t("passageGone");
      $("passage-where").textContent = ""; $("passage-text").textContent = "";
    } else {
      const passage = await answer.json();
      $("passage-title").textContent = passage.title;
      const where = [passage.page ? Suite.t("page", {page: passage.page}) : "", passage.section].filter(Boolean).join(" · ");
      $("passage-where").textContent = where;
      $("passage-text").textContent = passage.text;
    }
    panel.hidden = false;
    $("close-passage").focus();
  }

  function show() {
    const list = $("messages");
    list.replaceChildren(...state.messages.map(messageView));
    showTools();
  }

  async function loadList() {
    const search = $("search").value.trim();
    const url = "/web/api/conversations" + (search ? "?search=" + encodeURIComponent(search) : "");
    const {data} = await Suite.json("GET", url);
    const list = $("conversations");
    list.replaceChildren(...data.map((conversation) => {
      const item = document.createElement("li");
      item.dataset.id = conversation.id;
      if (state.conversation && conversation.id === state.conversation.id) item.className = "current";
      const open = document.createElement("a");
      open.href = "#" + conversation.id;
      open.className = "open";
      open.textContent = conversation.title;
      const rename = document.createElement("button");
      rename.type = "button"; rename.className = "rename"; rename.textContent = Suite.t("rename");
      rename.addEventListener("click", async () => {
        const title = prompt(Suite.t("rename"), conversation.title);
        if (title) { await Suite.json("PATCH", `/web/api/conversations/${conversation.id}`, {title}); loadList(); }
      });
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "delete"; remove.textContent = Suite.t("delete");
      remove.addEventListener("click", async () => {
        await Suite.json("DELETE", `/web/api/conversations/${conversation.id}`);
        if (state.conversation && state.conversation.id === conversation.id) newChat();
        loadList();
      });
      item.append(open, rename, remove);
      return item;
    }));
  }

  async function openConversation(id) {
    leave();
    try {
      const detail = await Suite.json("GET", `/web/api/conversations/${encodeURIComponent(id)}`);
      state.conversation = detail;
      state.messages = detail.messages;
      state.stored = detail.messages.length;
      if (detail.model && [...$("model").options].some((o) => o.value === detail.model)) $("model").value = detail.model;
      notice("");
    } catch (error) {
      state.conversation = null; state.messages = [];
      notice(`${Suite.t("error")}: ${error.message}`);
    }
    show();
    loadList();
  }

  // Leaving a conversation while an answer streams stops that answer (it is stored as far as it came).
  function leave() { state.view += 1; if (state.controller) state.controller.abort(); }

  function newChat() {
    leave();
    state.conversation = null; state.messages = []; state.stored = 0;
    history.replaceState(null, "", location.pathname); notice(""); show();
  }

  function parseMasked(header) {
    if (!header) return null;
    const counts = {};
    for (const part of header.split(",")) {
      const [kind, count] = part.trim().split("=");
      if (kind && Number(count) > 0) counts[kind] = Number(count);
    }
    return Object.keys(counts).length ? counts : null;
  }

  // One streamed answer to the turns in state.messages; the text is re-rendered (and re-sanitised) on every chunk.
  // It never throws: a stop or an error becomes the answer's notice, and the turn is stored as it was shown.
  async function answer(signal) {
    const model = $("model").value;
    const collection = $("collection").value;
    const turns = state.messages.map((m) => ({role: m.role, content: m.content}));
    const reply = {role: "assistant", content: "", meta: {model}};
    state.messages.push(reply);
    show();
    const body = $("messages").lastElementChild.querySelector(".body");
    body.setAttribute("aria-busy", "true");
    try {
      const response = await Suite.call("POST", "/v1/chat/completions",
        {model, messages: turns, stream: true, stream_options: {include_usage: true}, max_tokens: 256,
          ...(collection ? {collections: [collection]} : {})},
        {signal});
      reply.meta.request_id = response.headers.get("x-request-id");
      // Which kinds of the user's values the gateway masked before the model saw the prompt (kinds and counts only).
      const masked = parseMasked(response.headers.get("x-suite-masked"));
      if (masked) reply.meta.masked = masked;
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        const message = (data.error && data.error.message) || `${response.status}`;
        if (data.error && data.error.code === "content_filter") { reply.meta.blocked = message; return reply; }
        throw new Error(message);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        const events = buffer.split("\n\n");
        buffer = events.pop();
        for (const event of events) {
          const line = event.split("\n").find((l) => l.startsWith("data: "));
          if (!line || line === "data: [DONE]") continue;
          const chunk = JSON.parse(line.slice(6));
          if (chunk.object === "chat.completion.citations") { reply.meta.citations = chunk.citations; continue; }
          if (chunk.error) throw new Error(chunk.error.message || "error");
          if (chunk.usage) reply.meta.usage = chunk.usage;
          for (const choice of chunk.choices || []) {
            if (choice.delta && choice.delta.content) reply.content += choice.delta.content;
            if (choice.finish_reason === "content_filter") reply.meta.notice = Suite.t("filtered");
          }
          Render.markdown(body, reply.content);
        }
      }
    } catch (error) {
      if (error.name === "AbortError") reply.meta.notice = Suite.t("stopped");
      else reply.meta.notice = `${Suite.t("error")}: ${error.message}`;
    } finally {
      body.removeAttribute("aria-busy");
    }
    return reply;
  }

  // Ask with the user turn at ``position`` (the end, or the turn being regenerated or edited), then store both.
  // Busy from the first line to the stored turn: Stop ends the stream (or the request not yet sent).
  async function ask(text, position) {
    if (state.busy) return;
    state.controller = new AbortController();
    const view = state.view;
    setBusy(true);
    try {
      let conversation = state.conversation;
      if (!conversation) {
        conversation = await Suite.json("POST", "/web/api/conversations", {title: text.slice(0, 60), model: $("model").value});
        if (state.view !== view) return;  // left before it began
        state.conversation = conversation;
        history.replaceState(null, "", "#" + conversation.id);
      }
      const replace = position < state.stored ? position : null;
      state.messages = state.messages.slice(0, position);
      state.messages.push({role: "user", content: text, meta: {}});
      const reply = await answer(state.controller.signal);
      const saved = await Suite.json("POST", `/web/api/conversations/${conversation.id}/messages`, {
        replace_from: replace,
        messages: [{role: "user", content: text, meta: {}, model: reply.meta.model},
          {role: "assistant", content: reply.content, meta: reply.meta}],
      });
      if (state.view === view) {  // still the conversation on screen
        state.messages.splice(position, 2, ...saved.data);
        state.stored = state.messages.length;
      }
    } catch (error) {
      notice(`${Suite.t("error")}: ${error.message}`);
    } finally {
      state.controller = null;
      setBusy(false);
      show();
    }
    loadList();
    usage();
  }

  function lastUserIndex() { for (let i = state.messages.length - 1; i >= 0; i -= 1) if (state.messages[i].role === "user") return i; return -1; }

  async function usage() {
    const answer = await Suite.call("GET", "/web/api/usage");
    if (!answer.ok) return;
    const data = await answer.json();
    let text = Suite.t("usage", {requests: data.requests, tokens: data.tokens});
    if (data.tokens_per_day !== null) text += " · " + Suite.t("quotaLeft", {left: data.tokens_left, limit: data.tokens_per_day});
    $("usage").textContent = text;
  }

  async function start() {
    Suite.setup();
    if (!(await Suite.me())) return;
    const models = await Suite.json("GET", "/v1/models");
    $("model").replaceChildren(...models.data.map((m) => { const o = document.createElement("option"); o.value = m.id; o.textContent = m.id; return o; }));
    const collections = await Suite.json("GET", "/web/api/collections").then((r) => r.data, () => []);
    $("collection").append(...collections.map((c) => { const o = document.createElement("option"); o.value = c; o.textContent = c; return o; }));
    $("close-passage").addEventListener("click", () => { $("passage").hidden = true; });
    const settings = await Suite.json("GET", "/web/api/settings");
    const banner = settings.banner[Suite.current()] || settings.banner.en;
    if (banner) { $("banner").textContent = banner; $("banner").hidden = false; }
    const first = settings.first_use_notice[Suite.current()] || settings.first_use_notice.en;
    if (first && localStorage.getItem("suite.notice") !== first) { notice(first); localStorage.setItem("suite.notice", first); }
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("prompt").value.trim();
      if (!text || state.busy) return;
      $("prompt").value = "";
      ask(text, state.messages.length);
    });
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
    });
    $("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
    $("regenerate").addEventListener("click", () => { const i = lastUserIndex(); if (i >= 0) ask(state.messages[i].content, i); });
    $("edit-last").addEventListener("click", () => {
      const i = lastUserIndex();
      if (i < 0) return;
      const text = prompt(Suite.t("edit"), state.messages[i].content);
      if (text && text.trim()) ask(text.trim(), i);
    });
    $("new-chat").addEventListener("click", newChat);
    $("search").addEventListener("input", () => loadList());
    $("delete-all").addEventListener("click", async () => {
      if (!confirm(Suite.t("confirmDeleteAll"))) return;
      await Suite.json("DELETE", "/web/api/conversations");
      newChat(); loadList();
    });
    window.addEventListener("hashchange", () => { const id = location.hash.slice(1); if (id) openConversation(id); });
    const id = location.hash.slice(1);
    if (id) await openConversation(id); else { show(); await loadList(); }
    state.stored = state.messages.length;
    // Typing is possible once the page can take a turn (the composer is disabled in the shell until then).
    $("prompt").disabled = false;
    usage();
  }
  start();
})();
