// The chat page: conversations (stored per user on the server), streamed answers, stop, regenerate, edit and resend.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = {conversation: null, messages: [], controller: null};

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
      button.textContent = rating > 0 ? "👍" : "👎";
      button.setAttribute("aria-label", Suite.t(label));
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
    const idle = !state.controller;
    const hasAnswer = state.messages.some((m) => m.role === "assistant");
    $("regenerate").hidden = !(idle && hasAnswer);
    $("edit-last").hidden = !(idle && state.messages.some((m) => m.role === "user"));
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

  function newChat() { state.conversation = null; state.messages = []; history.replaceState(null, "", location.pathname); notice(""); show(); }

  // One streamed answer to the turns in state.messages; the text is re-rendered (and re-sanitised) on every chunk.
  async function answer() {
    const model = $("model").value;
    const collection = $("collection").value;
    const turns = state.messages.map((m) => ({role: m.role, content: m.content}));
    const reply = {role: "assistant", content: "", meta: {model}};
    state.messages.push(reply);
    state.controller = new AbortController();
    $("send").hidden = true; $("stop").hidden = false;
    show();
    const body = $("messages").lastElementChild.querySelector(".body");
    body.setAttribute("aria-busy", "true");
    try {
      const response = await Suite.call("POST", "/v1/chat/completions",
        {model, messages: turns, stream: true, stream_options: {include_usage: true}, max_tokens: 256,
          ...(collection ? {collections: [collection]} : {})},
        {signal: state.controller.signal});
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error((data.error && data.error.message) || `${response.status}`);
      }
      reply.meta.request_id = response.headers.get("x-request-id");
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
      else { reply.meta.notice = `${Suite.t("error")}: ${error.message}`; }
    } finally {
      state.controller = null;
      body.removeAttribute("aria-busy");
      $("send").hidden = false; $("stop").hidden = true;
    }
    return reply;
  }

  // Ask with the user turn at ``position`` (the end, or the turn being regenerated or edited), then store both.
  async function ask(text, position) {
    if (!state.conversation) {
      state.conversation = await Suite.json("POST", "/web/api/conversations", {title: text.slice(0, 60), model: $("model").value});
      history.replaceState(null, "", "#" + state.conversation.id);
    }
    state.messages = state.messages.slice(0, position);
    state.messages.push({role: "user", content: text, meta: {}});
    const reply = await answer();
    const replace = position < (state.stored || 0) ? position : null;
    const saved = await Suite.json("POST", `/web/api/conversations/${state.conversation.id}/messages`, {
      replace_from: replace,
      messages: [{role: "user", content: text, meta: {}, model: reply.meta.model},
        {role: "assistant", content: reply.content, meta: reply.meta}],
    });
    state.messages.splice(position, 2, ...saved.data);
    state.stored = state.messages.length;
    show();
    loadList();
    usage();
  }

  function lastUserIndex() { for (let i = state.messages.length - 1; i >= 0; i -= 1) if (state.messages[i].role === "user") return i; return -1; }

  async function usage() {
    const answer = await Suite.call("GET", "/web/api/usage");
    if (!answer.ok) return;
    const data = await answer.json();
    $("usage").textContent = Suite.t("usage", {requests: data.requests, tokens: data.tokens}) + (data.quota_note ? ` · ${data.quota_note}` : "");
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
      if (!text || state.controller) return;
      $("prompt").value = "";
      ask(text, state.messages.length);
    });
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
    });
    $("stop").addEventListener("click", () => state.controller && state.controller.abort());
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
    usage();
  }
  start();
})();
