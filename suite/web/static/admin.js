// The admin console: models and registry versions (promote, rollback), collections, managed API keys.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text == null ? "" : String(text); return td; };
  const button = (label, className, action) => {
    const b = document.createElement("button"); b.type = "button"; b.className = className; b.textContent = label;
    b.addEventListener("click", action); return b;
  };

  async function models() {
    const data = await Suite.json("GET", "/web/api/admin/models");
    $("model-names").replaceChildren(...data.models.map((name) => { const li = document.createElement("li"); li.textContent = name; return li; }));
    $("versions").replaceChildren(...data.versions.map((v) => {
      const tr = document.createElement("tr");
      const actions = document.createElement("td");
      actions.append(button("Promote", "promote", () => change(`/web/api/admin/models/${encodeURIComponent(v.name)}/promote/${encodeURIComponent(v.version)}`)),
        button("Roll back", "rollback", () => change(`/web/api/admin/models/${encodeURIComponent(v.name)}/rollback`)));
      tr.append(cell(v.name), cell(v.version), cell(v.state), actions);
      return tr;
    }));
  }

  async function change(url) {
    try { const result = await Suite.json("POST", url); $("model-result").textContent = `${result.name} ${result.version}: ${result.state}`; }
    catch (error) { $("model-result").textContent = `Error: ${error.message}`; }
    models();
  }

  async function collections() {
    const answer = await Suite.call("GET", "/v1/admin/collections");
    if (!answer.ok) return;
    const {data} = await answer.json();
    $("collections").replaceChildren(...data.map((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.name} (${c.documents} documents) `;
      li.append(button("Delete", "delete-collection", async () => {
        if (confirm(`Delete the collection ${c.name}?`)) { await Suite.call("DELETE", `/v1/admin/collections/${encodeURIComponent(c.name)}`); collections(); }
      }));
      return li;
    }));
  }

  async function keys() {
    const {data} = await Suite.json("GET", "/web/api/admin/keys");
    $("keys").replaceChildren(...data.map((k) => {
      const tr = document.createElement("tr");
      tr.dataset.keyId = k.key_id;
      const actions = document.createElement("td");
      if (k.status === "active") actions.append(button("Revoke", "revoke", async () => { await Suite.json("DELETE", `/web/api/admin/keys/${k.key_id}`); keys(); }));
      tr.append(cell(k.key_id), cell(k.owner), cell(k.status), actions);
      return tr;
    }));
  }

  (async () => {
    Suite.setup();
    if (!(await Suite.me())) return;
    $("new-key").addEventListener("submit", async (event) => {
      event.preventDefault();
      const created = await Suite.json("POST", "/web/api/admin/keys", {owner: $("key-owner").value, expires: $("key-expires").value || null});
      $("new-key-value").textContent = `New key (shown once, copy it now): ${created.key}`;
      $("new-key-value").hidden = false;
      keys();
    });
    $("new-collection").addEventListener("submit", async (event) => {
      event.preventDefault();
      await Suite.call("POST", "/v1/admin/collections", {name: $("collection-name").value});
      collections();
    });
    await Promise.all([models(), collections(), keys()]);
  })();
})();
