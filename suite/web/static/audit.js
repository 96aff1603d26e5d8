// The audit console: search the trail (/v1/audit/events, with the session), open a record, export, verify.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["time_from", "time_to", "subject", "model", "collection", "route", "verdict", "status", "text"];
  let cursor = null;

  function filters() {
    const query = new URLSearchParams();
    for (const name of FIELDS) {
      const value = $(`f-${name}`).value.trim();
      if (value) query.set(name, name.startsWith("time_") ? new Date(value).toISOString() : value);
    }
    return query;
  }

  function cell(text) { const td = document.createElement("td"); td.textContent = text == null ? "" : String(text); return td; }

  async function search(more) {
    const query = filters();
    query.set("limit", "50");
    if (more && cursor) query.set("cursor", cursor);
    const page = await Suite.json("GET", "/v1/audit/events?" + query);
    cursor = page.next_cursor;
    $("more").hidden = !cursor;
    const rows = page.data.map((record) => {
      const tr = document.createElement("tr");
      const open = document.createElement("button");
      open.type = "button"; open.className = "open-record"; open.textContent = String(record.seq);
      open.addEventListener("click", () => show(record.record_id));
      const first = document.createElement("td"); first.append(open);
      tr.append(first, cell(record.time), cell(record.subject), cell(record.action), cell(record.route),
        cell(record.model), cell(record.status), cell((record.verdicts || []).map((v) => v.check || v.name || "").join(" ")));
      return tr;
    });
    if (more) $("records").append(...rows); else $("records").replaceChildren(...rows);
    $("export-csv").href = "/v1/audit/export?" + new URLSearchParams([...filters(), ["format", "csv"]]);
    $("export-jsonl").href = "/v1/audit/export?" + new URLSearchParams([...filters(), ["format", "jsonl"]]);
  }

  async function show(id) {
    const record = await Suite.json("GET", `/v1/audit/events/${encodeURIComponent(id)}`);
    // Shown as text: the record holds what users and models wrote.
    $("record").textContent = JSON.stringify(record, null, 2);
    $("record-panel").hidden = false;
    $("record-panel").focus();
  }

  async function verify() {
    $("verify-result").textContent = "…";
    const report = await Suite.json("POST", "/web/api/audit/verify");
    const problem = report.problem ? ` First problem: seq ${report.problem.seq} (${report.problem.record_id || "-"}): ${report.problem.message}` : "";
    $("verify-result").textContent = (report.ok ? "Chain verified: OK. " : "Chain verification FAILED. ")
      + `${report.records_checked} records, ${report.checkpoints_checked} checkpoints.` + problem;
  }

  // The chart (an SVG image drawn by the server) and the usage tables for the chosen period.
  async function figures() {
    const period = $("period").value;
    const data = await Suite.json("GET", `/web/api/audit/stats?period=${period}`);
    const total = (key) => data.timeline.reduce((sum, bucket) => sum + bucket[key], 0);
    $("chart").alt = Suite.t("chartAlt", {requests: total("requests"), blocked: total("blocked"), errors: total("errors")});
    $("chart").src = `/web/api/audit/chart.svg?period=${period}&lang=${Suite.current()}`;
    const rows = (list) => list.map((u) => { const tr = document.createElement("tr"); tr.append(cell(u.key), cell(u.requests), cell(u.tokens)); return tr; });
    $("by-user").replaceChildren(...rows(data.by_user));
    $("by-model").replaceChildren(...rows(data.by_model));
  }

  (async () => {
    Suite.setup();
    if (!(await Suite.me())) return;
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); search(false); });
    $("more").addEventListener("click", () => search(true));
    $("verify").addEventListener("click", verify);
    $("period").addEventListener("change", figures);
    $("lang").addEventListener("change", figures);
    await search(false);
    await figures();
  })();
})();
