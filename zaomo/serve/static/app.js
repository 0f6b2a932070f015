// zaomo console: streaming chat over /v1/chat/completions (SSE), citations, feedback to /v1/feedback.
"use strict";
const TEXT = {
  zh: { kb: "知识库", ask: "提问", placeholder: "输入问题，Enter 发送", send: "发送", better: "更好的回答",
        submit: "提交", thanks: "已收到反馈，谢谢！", error: "出错了：", queue: "反馈队列", rating: "评分",
        answer: "原回答", up: "有用", down: "没用", stages: "各阶段", model: "模型", kbname: "知识库名称", runs: "训练", models: "模型版本",
        evals: "评估", data: "数据报告", audit: "审计日志", compare: "比较所选两次评估", search: "搜索" },
  en: { kb: "Knowledge base", ask: "Ask", placeholder: "Type a question, Enter to send", send: "Send",
        better: "Better answer", submit: "Submit", thanks: "Feedback received, thank you!", error: "Error: ",
        queue: "Feedback queue", rating: "Rating", answer: "Answer", up: "Helpful", down: "Not helpful",
        stages: "Stages", model: "Model", kbname: "Knowledge base name", runs: "Runs", models: "Models", evals: "Evaluations", data: "Data report",
        audit: "Audit log", compare: "Compare the two selected", search: "Search" },
};
let lang = (navigator.language || "zh").startsWith("zh") ? "zh" : "en";
const history = [];

function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = TEXT[lang][el.dataset.i18n]; });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(el => {
    el.placeholder = TEXT[lang][el.dataset.i18nPlaceholder];
  });
  document.getElementById("lang").textContent = lang === "zh" ? "EN" : "中文";
}

async function sendFeedback(li, body) {
  const status = li.querySelector(".status");
  status.textContent = "…";
  const r = await fetch("/v1/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ request_id: li.dataset.id, ...body }) });
  status.textContent = r.ok ? TEXT[lang].thanks : TEXT[lang].error + (await r.json()).error.message;
}

function addReply() {
  const li = document.getElementById("reply").content.firstElementChild.cloneNode(true);
  li.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = TEXT[lang][el.dataset.i18n]; });
  li.querySelector(".up").onclick = () => sendFeedback(li, { rating: 1 });
  li.querySelector(".down").onclick = () => sendFeedback(li, { rating: -1 });
  li.querySelector(".submit-fix").onclick = () =>
    sendFeedback(li, { rating: -1, correction: li.querySelector(".fix").value });
  document.getElementById("log").appendChild(li);
  return li;
}

async function ask(question) {
  const log = document.getElementById("log");
  const user = document.createElement("li");
  user.className = "user";
  user.textContent = question;
  log.appendChild(user);
  history.push({ role: "user", content: question });
  const li = addReply();
  const text = li.querySelector(".text");
  const body = { messages: history.slice(-6), stream: true, model: document.getElementById("model").value || undefined };
  if (document.getElementById("use-kb").checked) body.kb = document.getElementById("kb-name").value || true;
  const resp = await fetch("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
                                                     body: JSON.stringify(body) });
  if (!resp.ok) { text.textContent = TEXT[lang].error + (await resp.json()).error.message; return; }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", answer = "";
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
      if (chunk.id) li.dataset.id = chunk.id;
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) { answer += delta.content; text.textContent = answer; }
      if (chunk.citations) {
        const ol = li.querySelector(".cites");
        chunk.citations.forEach(c => {
          const item = document.createElement("li");
          item.textContent = `[${c.n}] ${c.source}: ${c.text.slice(0, 120)}`;
          ol.appendChild(item);
        });
      }
    }
  }
  history.push({ role: "assistant", content: answer });
}

document.getElementById("ask").addEventListener("submit", e => {
  e.preventDefault();
  const q = document.getElementById("q");
  if (q.value.trim()) { ask(q.value.trim()); q.value = ""; }
});
document.getElementById("q").addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); document.getElementById("send").click(); }
});
async function showQueue() {
  const section = document.getElementById("queue");
  section.hidden = !section.hidden;
  if (section.hidden) return;
  const rows = (await (await fetch("/api/feedback")).json()).data;
  const body = document.getElementById("queue-rows");
  body.replaceChildren(...rows.map(r => {
    const tr = document.createElement("tr");
    [r.id, r.rating === 1 ? "+1" : r.rating === -1 ? "−1" : "", r.correction || "", r.answer || ""].forEach(v => {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    });
    return tr;
  }));
}
document.getElementById("show-queue").onclick = showQueue;

const get = async url => (await (await fetch(url)).json()).data;
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
let curveTimer = null;
async function drawCurve(runId) {
  const rows = await get(`/api/runs/${runId}/metrics`);
  const pts = rows.filter(r => r.loss !== undefined);
  const svg = document.getElementById("curve");
  svg.replaceChildren();
  if (!pts.length) return;
  const maxS = Math.max(...pts.map(p => p.step)), maxL = Math.max(...pts.map(p => p.loss));
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", pts.map(p => `${10 + 580 * p.step / maxS},${230 - 220 * p.loss / maxL}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2563eb");
  svg.appendChild(line);
}
async function showTab(name) {
  document.querySelectorAll(".tab").forEach(t => { t.hidden = t.id !== `tab-${name}`; });
  clearInterval(curveTimer);
  if (name === "runs") {
    const runs = (await get("/api/runs")).filter(r => r.kind === "train");
    const ul = document.getElementById("runs-list");
    ul.replaceChildren(...runs.map(r => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${r.id} · ${r.stage}/${r.method} · ${r.status}`;
      b.onclick = () => { drawCurve(r.id); clearInterval(curveTimer);
                          curveTimer = setInterval(() => drawCurve(r.id), 3000); };  // live while training
      li.appendChild(b);
      return li;
    }));
    if (runs.length) ul.querySelector("button").click();
  } else if (name === "models") {
    rowsInto(document.getElementById("models-rows"), await get("/api/models"),
             m => [`${m.name}:${m.version}`, m.status, m.parent || "", m.run_id || "", m.created_at]);
  } else if (name === "evals") {
    rowsInto(document.getElementById("evals-rows"), await get("/api/eval"), e => {
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = e.id; box.className = "pick";
      const a = document.createElement("a");
      a.href = `/api/eval/${e.id}/report`; a.textContent = e.id; a.target = "_blank";
      const m = e.metrics || {};
      return [box, a, ["qa.accuracy", "perplexity.ppl"].filter(k => k in m).map(k => `${k}=${m[k].toFixed(3)}`).join(" ")];
    });
  } else if (name === "data") {
    document.getElementById("data-report").src = "/api/data/report";
  } else if (name === "audit") {
    const q = document.getElementById("audit-q").value;
    rowsInto(document.getElementById("audit-rows"), await get(`/api/audit?q=${encodeURIComponent(q)}`),
             a => [a.created_at, a.request, a.response, Object.entries(a.guard || {}).map(([k, v]) => `${k}:${v.action}`).join(" ")]);
  }
}
document.getElementById("show-stages").onclick = () => {
  const s = document.getElementById("stages");
  s.hidden = !s.hidden;
  if (!s.hidden) showTab("runs");
};
document.querySelectorAll("[data-tab]").forEach(b => { b.onclick = () => showTab(b.dataset.tab); });
document.getElementById("audit-q").addEventListener("input", () => showTab("audit"));
document.getElementById("compare").onclick = async () => {
  const picked = [...document.querySelectorAll(".pick:checked")].map(b => b.value);
  if (picked.length !== 2) return;
  const r = await (await fetch(`/api/eval/compare?old=${picked[1]}&new=${picked[0]}`)).json();
  document.getElementById("compare-out").textContent = JSON.stringify(r, null, 1);
};
document.getElementById("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; applyLang(); };
async function fillSelect(id, url, label) {
  const sel = document.getElementById(id);
  try {
    const items = (await (await fetch(url)).json()).data;
    sel.replaceChildren(...items.map(x => new Option(label(x), label(x))));
  } catch (e) { sel.hidden = true; }
}
fillSelect("model", "/v1/models", m => m.id);
fillSelect("kb-name", "/api/kbs", k => k.name);
applyLang();
