// zaomo console: streaming chat over /v1/chat/completions (SSE) rendered as safe Markdown, citations linked to
// their passages, feedback to /v1/feedback, the stages (runs with charts, models, evaluations, data report,
// audit log) and the feedback queue. Every call goes through api(), which sends the API key kept in
// sessionStorage and asks for one when the server answers 401.
"use strict";
const TEXT = {
  zh: { kb: "知识库", ask: "提问", placeholder: "输入问题，Enter 发送，Shift+Enter 换行", send: "发送", better: "更好的回答",
        submit: "提交", thanks: "已收到反馈，谢谢！", error: "出错了：", queue: "反馈队列", rating: "评分",
        answer: "原回答", up: "有用", down: "没用", stages: "各阶段", model: "模型", kbname: "知识库名称", runs: "训练",
        models: "模型版本", evals: "评估", data: "数据报告", audit: "审计日志", compare: "比较所选两次评估",
        search: "搜索", chat: "对话", empty: "提个问题开始对话。", temperature: "温度", maxTokens: "最多 token",
        newChat: "新对话", stop: "停止", forgetKey: "忘记密钥", keyTitle: "需要 API 密钥",
        keyHelp: "这个服务要求 API 密钥（管理员用 `zaomo keys create 名称` 创建）。密钥只保存在本标签页（sessionStorage），关闭标签页即忘记。",
        apiKey: "API 密钥", save: "保存", cancel: "取消", keyCancelled: "没有 API 密钥，无法调用服务。",
        keyForgotten: "已忘记密钥。", sources: "来源", noRuns: "还没有训练记录。", noMetrics: "这次训练还没有指标。",
        lossChart: "损失", lrChart: "学习率", tpsChart: "吞吐量", trainLoss: "训练损失", valLoss: "验证损失",
        lrSeries: "学习率", tpsSeries: "每秒 token 数", step: "步数（优化器步）", lossUnit: "损失（nats/token）",
        dpoUnit: "DPO 损失（每对）", lrUnit: "学习率", tpsUnit: "token/秒", noData: "无数据", live: "训练中，每 3 秒刷新",
        stopped: "已中断" },
  en: { kb: "Knowledge base", ask: "Ask", placeholder: "Type a question, Enter to send, Shift+Enter for a new line",
        send: "Send", better: "Better answer", submit: "Submit", thanks: "Feedback received, thank you!",
        error: "Error: ", queue: "Feedback queue", rating: "Rating", answer: "Answer", up: "Helpful",
        down: "Not helpful", stages: "Stages", model: "Model", kbname: "Knowledge base name", runs: "Runs",
        models: "Models", evals: "Evaluations", data: "Data report", audit: "Audit log",
        compare: "Compare the two selected", search: "Search", chat: "Chat", empty: "Ask a question to start.",
        temperature: "Temperature", maxTokens: "Max tokens", newChat: "New chat", stop: "Stop",
        forgetKey: "Forget key", keyTitle: "API key required",
        keyHelp: "This server requires an API key (an administrator creates one with `zaomo keys create NAME`). " +
                 "The key is kept in this tab only (sessionStorage) and forgotten when the tab closes.",
        apiKey: "API key", save: "Save", cancel: "Cancel", keyCancelled: "No API key: the server cannot be called.",
        keyForgotten: "Key forgotten.", sources: "Sources", noRuns: "No training runs yet.",
        noMetrics: "This run has no metrics yet.", lossChart: "Loss", lrChart: "Learning rate",
        tpsChart: "Throughput", trainLoss: "train loss", valLoss: "validation loss", lrSeries: "learning rate",
        tpsSeries: "tokens per second", step: "step (optimizer steps)", lossUnit: "loss (nats/token)",
        dpoUnit: "DPO loss (per pair)", lrUnit: "learning rate", tpsUnit: "tokens/s", noData: "no data",
        live: "running: refreshed every 3 s", stopped: "interrupted" },
};
const KEY = "zaomo.apiKey", CHAT = "zaomo.chat", SETTINGS = "zaomo.settings", LANG = "zaomo.lang";
const $ = sel => document.querySelector(sel);
const store = {
  get(k, fallback) {
    try { const v = sessionStorage.getItem(k); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
  },
  set(k, v) { try { sessionStorage.setItem(k, JSON.stringify(v)); } catch (e) { /* full or disabled: keep in memory */ } },
  del(k) { try { sessionStorage.removeItem(k); } catch (e) { /* disabled */ } },
};
let lang = store.get(LANG, null) || ((navigator.language || "zh").startsWith("zh") ? "zh" : "en");
const t = k => TEXT[lang][k];

function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(el => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("#lang").textContent = lang === "zh" ? "EN" : "中文";
}

// ---- API key ------------------------------------------------------------------------------------------------
let keyPrompt = null;  // one prompt shared by every call that got 401 meanwhile

class KeyCancelled extends Error {}

function askKey(message) {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise((resolve, reject) => {
    const dlg = $("#key-dialog"), input = $("#key-input");
    $("#key-msg").textContent = message || "";
    input.value = "";
    const done = (ok, key) => {
      $("#key-form").onsubmit = null;
      $("#key-cancel").onclick = null;
      dlg.oncancel = null;
      if (dlg.open) dlg.close();
      keyPrompt = null;
      if (ok) resolve(key); else reject(new KeyCancelled(t("keyCancelled")));
    };
    $("#key-form").onsubmit = e => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      store.set(KEY, key);
      updateKeyUi();
      done(true, key);
    };
    $("#key-cancel").onclick = () => done(false);
    dlg.oncancel = e => { e.preventDefault(); done(false); };  // Esc
    if (!dlg.open) dlg.showModal();
    input.focus();
  });
  return keyPrompt;
}

function updateKeyUi() {
  $("#forget-key").hidden = !store.get(KEY, null);
}

/** fetch() with the stored key; on 401 asks for a key and tries again. Throws KeyCancelled if the user cancels. */
async function api(url, opts = {}) {
  for (;;) {
    const key = store.get(KEY, null);
    const headers = { ...(opts.headers || {}) };
    if (key) headers.Authorization = `Bearer ${key}`;
    const r = await fetch(url, { ...opts, headers });
    if (r.status !== 401) return r;
    let message = "";
    try { message = (await r.json()).error.message; } catch (e) { /* not our JSON */ }
    const now = store.get(KEY, null);
    if (now && now !== key) continue;  // another call's prompt got a new key meanwhile: try that one
    if (key) { store.del(KEY); updateKeyUi(); }  // wrong or revoked
    await askKey(message);
  }
}

async function errorText(r) {
  try { return (await r.json()).error.message; } catch (e) { return `HTTP ${r.status}`; }
}

const get = async url => {
  const r = await api(url);
  if (!r.ok) throw new Error(await errorText(r));
  return (await r.json()).data;
};

// ---- chat ---------------------------------------------------------------------------------------------------
let chat = store.get(CHAT, []);  // [{role, content, id?, citations?, status?, error?}]
let streaming = null;  // the AbortController of the answer being streamed
const saveChat = () => store.set(CHAT, chat);

function settings() {
  const s = {};
  const temp = parseFloat($("#temperature").value);
  if (isFinite(temp)) s.temperature = Math.min(2, Math.max(0, temp));
  const max = parseInt($("#max-tokens").value, 10);
  if (isFinite(max) && max > 0) s.max_tokens = max;
  return s;
}

function saveSettings() {
  store.set(SETTINGS, { temperature: $("#temperature").value, max_tokens: $("#max-tokens").value,
                        kb: $("#use-kb").checked, kb_name: $("#kb-name").value, model: $("#model").value });
}

function restoreSettings() {
  const s = store.get(SETTINGS, null);
  if (!s) return;
  if (s.temperature !== undefined) $("#temperature").value = s.temperature;
  if (s.max_tokens !== undefined) $("#max-tokens").value = s.max_tokens;
  $("#use-kb").checked = !!s.kb;
}

function nearBottom() {
  const box = $("#chat-scroll");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function scrollDown(force) {
  const box = $("#chat-scroll");
  if (force || nearBottom()) box.scrollTop = box.scrollHeight;
}

function citeId(li, n) { return `cite-${li.dataset.n}-${n}`; }

function renderAnswer(li, turn) {
  const text = li.querySelector(".text");
  const cites = turn.citations || [];
  const citeHref = n => (n >= 1 && n <= cites.length ? `#${citeId(li, n)}` : null);
  text.replaceChildren(renderMarkdown(turn.content, { citeHref }));
  if (turn.error) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = t("error") + turn.error;
    text.appendChild(p);
  }
  const ol = li.querySelector(".cites");
  ol.replaceChildren(...cites.map(c => {
    const item = document.createElement("li");
    item.id = citeId(li, c.n);
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `[${c.n}] ${c.source}${c.title && c.title !== c.source ? ` — ${c.title}` : ""}`;
    const passage = document.createElement("blockquote");
    passage.className = "passage";
    passage.textContent = c.text || "";
    details.append(summary, passage);
    item.appendChild(details);
    return item;
  }));
  ol.hidden = !cites.length;
  if (cites.length) ol.setAttribute("aria-label", t("sources"));
}

async function sendFeedback(li, turn, body) {
  const status = li.querySelector(".status");
  status.textContent = "…";
  try {
    const r = await api("/v1/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ request_id: turn.id, ...body }) });
    status.textContent = r.ok ? t("thanks") : t("error") + await errorText(r);
    if (r.ok) { turn.status = body.rating === 1 ? "up" : "down"; saveChat(); }
  } catch (e) { status.textContent = t("error") + e.message; }
}

function addTurn(turn, index) {
  const log = $("#log");
  $("#empty").hidden = true;
  if (turn.role === "user") {
    const li = document.createElement("li");
    li.className = "user";
    li.textContent = turn.content;
    log.appendChild(li);
    return li;
  }
  const li = $("#reply").content.firstElementChild.cloneNode(true);
  li.dataset.n = String(index);
  li.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
  li.querySelector(".up").onclick = () => sendFeedback(li, turn, { rating: 1 });
  li.querySelector(".down").onclick = () => sendFeedback(li, turn, { rating: -1 });
  li.querySelector(".submit-fix").onclick = () =>
    sendFeedback(li, turn, { rating: -1, correction: li.querySelector(".fix").value });
  li.querySelector(".rate").hidden = !turn.id;
  if (turn.status) li.querySelector(".status").textContent = t("thanks");
  renderAnswer(li, turn);
  log.appendChild(li);
  return li;
}

function renderChat() {
  $("#log").replaceChildren();
  $("#empty").hidden = chat.length > 0;
  chat.forEach((turn, i) => addTurn(turn, i));
  scrollDown(true);
}

function setBusy(busy) {
  $("#send").hidden = busy;
  $("#stop").hidden = !busy;
}

async function ask(question) {
  const userTurn = { role: "user", content: question };
  chat.push(userTurn);
  addTurn(userTurn, chat.length - 1);
  const messages = chat.filter(m => !m.error && m.content).slice(-7).map(m => ({ role: m.role, content: m.content }));
  const turn = { role: "assistant", content: "", id: null, citations: null };
  chat.push(turn);
  saveChat();
  const li = addTurn(turn, chat.length - 1);
  li.setAttribute("aria-busy", "true");
  scrollDown(true);
  const body = { messages, stream: true, ...settings() };
  if ($("#model").value) body.model = $("#model").value;
  if ($("#use-kb").checked) body.kb = $("#kb-name").value || true;
  streaming = new AbortController();
  setBusy(true);
  let frame = 0;
  const paint = () => { frame = 0; const follow = nearBottom(); renderAnswer(li, turn); if (follow) scrollDown(true); };
  try {
    const resp = await api("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      signal: streaming.signal });
    if (!resp.ok) throw new Error(await errorText(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut).trim();
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data:")) continue;
        const data = event.slice(5).trim();
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.id) turn.id = chunk.id;
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) turn.content += delta.content;
        if (chunk.citations) turn.citations = chunk.citations;
        if (!frame) frame = requestAnimationFrame(paint);
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") turn.error = e.message;
  } finally {
    if (frame) cancelAnimationFrame(frame);
    streaming = null;
    setBusy(false);
    li.removeAttribute("aria-busy");
    li.querySelector(".rate").hidden = !turn.id;
    renderAnswer(li, turn);
    scrollDown(false);
    saveChat();
  }
}

$("#ask").addEventListener("submit", e => {
  e.preventDefault();
  const q = $("#q");
  if (q.value.trim() && !streaming) { ask(q.value.trim()); q.value = ""; }
});
$("#q").addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("#ask").requestSubmit(); }
});
$("#stop").onclick = () => { if (streaming) streaming.abort(); };
$("#new-chat").onclick = () => {
  if (streaming) streaming.abort();
  chat = [];
  saveChat();
  renderChat();
  $("#q").focus();
};
["#temperature", "#max-tokens", "#use-kb", "#kb-name", "#model"].forEach(s => $(s).addEventListener("change", saveSettings));
// a citation reference opens its passage (without touching the address, which holds the view)
$("#log").addEventListener("click", e => {
  const a = e.target.closest("a.cite-ref");
  if (!a) return;
  e.preventDefault();
  const item = document.getElementById(a.getAttribute("href").slice(1));
  if (!item) return;
  item.querySelector("details").open = true;
  item.scrollIntoView({ block: "nearest" });
  item.querySelector("summary").focus();
});

// ---- views --------------------------------------------------------------------------------------------------
let curveTimer = null;
const VIEWS = ["chat", "stages", "queue"];

function showView(name) {
  if (!VIEWS.includes(name)) name = "chat";
  VIEWS.forEach(v => {
    $(`#view-${v}`).hidden = v !== name;
    $(`[data-view=${v}]`).setAttribute("aria-current", v === name ? "page" : "false");
  });
  clearInterval(curveTimer);
  if (name === "stages") showTab(currentTab);
  else if (name === "queue") showQueue();
  else $("#q").focus();
}
// each view has its address (#chat, #stages, #queue), so the browser's back button goes back a view
document.querySelectorAll("[data-view]").forEach(b => {
  b.onclick = () => { if (location.hash === `#${b.dataset.view}`) showView(b.dataset.view); else location.hash = b.dataset.view; };
});
window.addEventListener("hashchange", () => showView(location.hash.slice(1)));

async function showQueue() {
  try {
    rowsInto($("#queue-rows"), await get("/api/feedback?limit=200"),
             r => [r.id, r.rating === 1 ? "+1" : r.rating === -1 ? "−1" : "", r.correction || "", r.answer || ""]);
  } catch (e) { rowsInto($("#queue-rows"), [e.message], m => ["", "", "", t("error") + m]); }
}

function rowsInto(tbody, rows, cells) {
  tbody.replaceChildren(...rows.map(r => {
    const tr = document.createElement("tr");
    cells(r).forEach(v => {
      const td = document.createElement("td");
      if (v instanceof Node) td.appendChild(v); else td.textContent = v == null ? "" : v;
      tr.appendChild(td);
    });
    return tr;
  }));
}

// ---- stages -------------------------------------------------------------------------------------------------
let currentTab = "runs", currentRun = null;
const COLORS = { train: "#2563eb", val: "#dc2626", lr: "#059669", tps: "#7c3aed" };

function runCharts(run, rows) {
  const num = v => (typeof v === "number" && isFinite(v) ? v : NaN);
  const pick = key => rows.filter(r => r[key] !== undefined && r[key] !== null).map(r => [num(r.step), num(r[key])]);
  const wrap = document.createElement("section");
  wrap.className = "run-charts";
  const h = document.createElement("h3");
  h.textContent = `${run.id} · ${run.stage || ""}/${run.method || ""} · ${run.status}`;
  wrap.appendChild(h);
  if (run.status === "running") {
    const live = document.createElement("p");
    live.className = "live";
    live.textContent = t("live");
    wrap.appendChild(live);
  }
  if (!rows.length) {
    const p = document.createElement("p");
    p.textContent = t("noMetrics");
    wrap.appendChild(p);
  }
  const grid = document.createElement("div");
  grid.className = "chart-grid";
  // narrow screens: draw at the width shown, so the text keeps its size
  const width = Math.min(560, Math.max(280, ($("#charts").clientWidth || 560) - 2));
  const common = { xLabel: t("step"), empty: t("noData"), width };
  grid.append(
    lineChart({ ...common, title: t("lossChart"), yLabel: run.stage === "dpo" ? t("dpoUnit") : t("lossUnit"),
                series: [{ name: t("trainLoss"), color: COLORS.train, points: pick("loss") },
                         { name: t("valLoss"), color: COLORS.val, points: pick("val_loss"), dashed: true, markers: true }] }),
    lineChart({ ...common, title: t("lrChart"), yLabel: t("lrUnit"), yFromZero: true,
                series: [{ name: t("lrSeries"), color: COLORS.lr, points: pick("lr") }] }),
    lineChart({ ...common, title: t("tpsChart"), yLabel: t("tpsUnit"), yFromZero: true,
                series: [{ name: t("tpsSeries"), color: COLORS.tps, points: pick("tokens_per_s") }] }));
  wrap.appendChild(grid);
  return wrap;
}

async function drawRun(run) {
  currentRun = run.id;
  document.querySelectorAll("#runs-list button").forEach(b => {
    b.setAttribute("aria-current", b.dataset.run === run.id ? "true" : "false");
  });
  const rows = await get(`/api/runs/${encodeURIComponent(run.id)}/metrics`);
  if (currentRun !== run.id) return;
  $("#charts").replaceChildren(runCharts(run, rows));
  clearInterval(curveTimer);
  if (run.status === "running") {  // live while training
    curveTimer = setInterval(async () => {
      if ($("#view-stages").hidden || currentTab !== "runs") { clearInterval(curveTimer); return; }
      const fresh = (await get("/api/runs")).find(r => r.id === run.id) || run;
      drawRun(fresh).catch(showStagesError);
    }, 3000);
  }
}

function showStagesError(e) {
  $("#stages-error").textContent = e instanceof KeyCancelled ? e.message : t("error") + e.message;
}

async function showTab(name) {
  currentTab = name;
  $("#stages-error").textContent = "";
  document.querySelectorAll(".tab").forEach(tab => { tab.hidden = tab.id !== `tab-${name}`; });
  document.querySelectorAll("[data-tab]").forEach(b => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
  clearInterval(curveTimer);
  try {
    if (name === "runs") {
      const runs = (await get("/api/runs")).filter(r => r.kind === "train");
      const ul = $("#runs-list");
      ul.replaceChildren(...runs.map(r => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.run = r.id;
        b.textContent = `${r.id} · ${r.stage}/${r.method} · ${r.status}`;
        b.onclick = () => drawRun(r).catch(showStagesError);
        li.appendChild(b);
        return li;
      }));
      if (!runs.length) {
        const p = document.createElement("p");
        p.textContent = t("noRuns");
        $("#charts").replaceChildren(p);
      } else await drawRun(runs.find(r => r.id === currentRun) || runs[0]);
    } else if (name === "models") {
      rowsInto($("#models-rows"), await get("/api/models"),
               m => [`${m.name}:${m.version}`, m.status, m.parent || "", m.run_id || "", m.created_at]);
    } else if (name === "evals") {
      rowsInto($("#evals-rows"), await get("/api/eval"), e => {
        const box = document.createElement("input");
        box.type = "checkbox"; box.value = e.id; box.className = "pick";
        const a = document.createElement("a");
        a.href = `/api/eval/${encodeURIComponent(e.id)}/report`;
        a.textContent = e.id;
        a.onclick = ev => { ev.preventDefault(); loadReport($("#eval-report"), a.href).catch(showStagesError); };
        const m = e.metrics || {};
        return [box, a, ["qa.accuracy", "perplexity.ppl"].filter(k => k in m && typeof m[k] === "number")
          .map(k => `${k}=${m[k].toFixed(3)}`).join(" ")];
      });
    } else if (name === "data") {
      await loadReport($("#data-report"), "/api/data/report", $("#data-msg"));
    } else if (name === "audit") {
      const q = $("#audit-q").value;
      rowsInto($("#audit-rows"), await get(`/api/audit?q=${encodeURIComponent(q)}`),
               a => [a.created_at, a.request, a.response,
                     Object.entries(a.guard || {}).map(([k, v]) => `${k}:${v.action}`).join(" ")]);
    }
  } catch (e) { showStagesError(e); }
}

/** An HTML report into a sandboxed frame (fetched with the key: a plain src could not send it). */
async function loadReport(frame, url, msg) {
  const r = await api(url);
  if (msg) msg.textContent = r.ok ? "" : await errorText(r);
  frame.hidden = !r.ok;
  if (r.ok) frame.srcdoc = await r.text();
  else if (!msg) throw new Error(await errorText(r));
}

document.querySelectorAll("[data-tab]").forEach(b => { b.onclick = () => showTab(b.dataset.tab); });
$("#audit-q").addEventListener("input", () => showTab("audit"));
$("#compare").onclick = async () => {
  const picked = [...document.querySelectorAll(".pick:checked")].map(b => b.value);
  if (picked.length !== 2) return;
  try {
    const r = await api(`/api/eval/compare?old=${encodeURIComponent(picked[1])}&new=${encodeURIComponent(picked[0])}`);
    $("#compare-out").textContent = JSON.stringify(await r.json(), null, 1);
  } catch (e) { showStagesError(e); }
};

// ---- header -------------------------------------------------------------------------------------------------
$("#lang").onclick = () => {
  lang = lang === "zh" ? "en" : "zh";
  store.set(LANG, lang);
  applyLang();  // the replies' buttons too (they carry data-i18n); an answer streaming meanwhile is left alone
  document.querySelectorAll("#log .status").forEach(el => {
    if (el.textContent === TEXT[lang === "zh" ? "en" : "zh"].thanks) el.textContent = t("thanks");
  });
  if (!$("#view-stages").hidden) showTab(currentTab);
};
$("#forget-key").onclick = () => {
  store.del(KEY);
  updateKeyUi();
  $("#lang").focus();
};

async function fillSelect(id, url, label, wanted) {
  const sel = $(id);
  try {
    const items = await get(url);
    sel.replaceChildren(...items.map(x => new Option(label(x), label(x))));
    if (wanted && items.some(x => label(x) === wanted)) sel.value = wanted;
    sel.hidden = false;
  } catch (e) {
    sel.hidden = true;
    if (e instanceof KeyCancelled) throw e;
  }
}

applyLang();
restoreSettings();
updateKeyUi();
renderChat();
showView(location.hash.slice(1) || "chat");
(async () => {
  const s = store.get(SETTINGS, {}) || {};
  try {
    await fillSelect("#model", "/v1/models", m => m.id, s.model);
    await fillSelect("#kb-name", "/api/kbs", k => k.name, s.kb_name);
  } catch (e) { /* no key given: the next call asks again */ }
})();
