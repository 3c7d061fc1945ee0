// cxbot dashboard: reads the JSON API with the token the user signs in
// with (kept in sessionStorage). Every value from the API is put into the
// page with textContent, never as HTML: customer text stays text.
"use strict";

const texts = {
  en: {
    overview: "Overview", comments: "Comments", signout: "Sign out", signin: "Sign in", token: "API token",
    survey: "Survey", from: "From", to: "To", tz: "Time zone", apply: "Apply", ces: "CES (% easy)",
    trend: "Daily trend", funnel: "Funnel", step: "Step", count: "Count", rate: "% of previous",
    breakdown: "NPS by", group: "Group", responses: "Responses", moe: "± (95%)", class: "Class", all: "all",
    when: "When", customer: "Customer", score: "Score", comment: "Comment", attributes: "Attributes", more: "More",
    n: "n", mean: "mean", change: "vs previous period", small: "small sample", badToken: "Wrong token.",
    recovered: "Recovered (handoffs)", cases: "cases", toClaim: "min to claim", toResolve: "min to resolve",
    terms: "Words that rise among unhappy customers", term: "Word", unhappy: "Unhappy %", happy: "Happy %", lift: "× likelier",
    none: "(none)", invited: "invited", sent: "sent", delivered: "delivered", started: "started", completed: "completed",
  },
  "zh-CN": {
    overview: "概览", comments: "评论", signout: "退出", signin: "登录", token: "API 令牌",
    survey: "问卷", from: "开始", to: "结束", tz: "时区", apply: "应用", ces: "CES（轻松占比）",
    trend: "每日趋势", funnel: "漏斗", step: "步骤", count: "数量", rate: "占上一步 %",
    breakdown: "NPS 按", group: "分组", responses: "回复数", moe: "±（95%）", class: "类别", all: "全部",
    when: "时间", customer: "客户", score: "分数", comment: "评论", attributes: "属性", more: "更多",
    n: "样本", mean: "均值", change: "较上一周期", small: "样本量小", badToken: "令牌错误。",
    recovered: "挽回率（转人工）", cases: "个案例", toClaim: "分钟认领", toResolve: "分钟解决",
    terms: "不满意客户中上升的词", term: "词", unhappy: "不满意 %", happy: "满意 %", lift: "倍数",
    none: "（无）", invited: "已邀请", sent: "已发送", delivered: "已送达", started: "已开始", completed: "已完成",
  },
};

const state = {
  lang: localStorage.getItem("cxbot.lang") || (navigator.language.startsWith("zh") ? "zh-CN" : "en"),
  token: sessionStorage.getItem("cxbot.token") || "",
  cursor: "",
  chart: null,
};

const $ = (id) => document.getElementById(id);
const t = (key) => (texts[state.lang] || texts.en)[key] || key;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  $("lang").textContent = state.lang === "en" ? "中文" : "English";
}

async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + state.token } });
  const body = await resp.json();
  if (resp.status === 401) {
    signOut();
    throw new Error(t("badToken"));
  }
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

function query(extra) {
  const p = new URLSearchParams();
  const survey = $("f-survey").value;
  if (survey) p.set("survey", survey);
  if ($("f-from").value) p.set("from", $("f-from").value);
  if ($("f-to").value) p.set("to", $("f-to").value);
  if ($("f-tz").value) p.set("tz", $("f-tz").value);
  for (const [k, v] of Object.entries(extra || {})) if (v) p.set(k, v);
  return p.toString();
}

function fmt(v, suffix) {
  return v === null || v === undefined ? "–" : v + (suffix || "");
}

function showCard(prefix, rep, suffix) {
  const tot = rep.total;
  $(prefix + "-score").textContent = fmt(tot.score, suffix);
  const d = $(prefix + "-detail");
  d.replaceChildren();
  d.append(el("div", `${t("n")} ${tot.responses} · ±${fmt(tot.margin_of_error)} · ${t("mean")} ${fmt(tot.mean)}`));
  if (rep.change !== null) d.append(el("div", `${rep.change > 0 ? "+" : ""}${rep.change} ${t("change")}`));
  if (tot.small_sample) d.append(el("div", t("small"), "small"));
}

async function loadOverview() {
  const dim = $("f-dim").value;
  const [nps, csat, ces, funnel, breakdown, handoffs] = await Promise.all([
    api("/api/v1/reports/nps?" + query({ group_by: "day" })),
    api("/api/v1/reports/csat?" + query({ group_by: "day" })),
    api("/api/v1/reports/ces?" + query({ group_by: "day" })),
    api("/api/v1/reports/funnel?" + query()),
    api("/api/v1/reports/nps?" + query({ group_by: dim })),
    api("/api/v1/reports/handoffs?" + query()),
  ]);
  const h = handoffs.total;
  $("handoffs-score").textContent = fmt(h.recovered_pct, "%");
  const hd = $("handoffs-detail");
  hd.replaceChildren(el("div", `${h.cases} ${t("cases")} · ${fmt(h.minutes_to_claim)} ${t("toClaim")} · ${fmt(h.minutes_to_resolve)} ${t("toResolve")}`));
  if (h.small_sample) hd.append(el("div", t("small"), "small"));
  showCard("nps", nps);
  showCard("csat", csat, "%");
  showCard("ces", ces, "%");

  const days = nps.groups.map((g) => g.key);
  const series = (rep) => rep.groups.map((g) => g.score);
  if (!state.chart) state.chart = echarts.init($("chart-trend"));
  state.chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { data: ["NPS", "CSAT %", "CES % easy"] },
    xAxis: { type: "category", data: days },
    yAxis: { type: "value", min: -100, max: 100 },
    series: [
      { name: "NPS", type: "line", data: series(nps), connectNulls: false },
      { name: "CSAT %", type: "line", data: series(csat) },
      { name: "CES % easy", type: "line", data: series(ces) },
    ],
  }, true);

  const fb = $("funnel").tBodies[0];
  fb.replaceChildren();
  for (const s of funnel.steps) {
    const tr = el("tr");
    tr.dataset.step = s.step;
    tr.append(el("td", t(s.step)), el("td", s.count), el("td", fmt(s.step_rate, "%")));
    fb.append(tr);
  }

  const bb = $("breakdown").tBodies[0];
  bb.replaceChildren();
  for (const g of breakdown.groups || []) {
    const tr = el("tr");
    tr.dataset.key = g.key;
    tr.append(el("td", g.key || t("none")), el("td", g.responses), el("td", fmt(g.score)), el("td", fmt(g.margin_of_error)));
    bb.append(tr);
  }
}

function scoreOf(rec) {
  const a = rec.answers.find((x) => x.score !== undefined && !x.skipped);
  return a ? `${a.score} (${a.class})` : "";
}

async function loadComments(more) {
  if (!more) state.cursor = "";
  const page = await api("/api/v1/responses?" + query({ with_text: "true", class: $("f-class").value, cursor: state.cursor, limit: "50" }));
  const tb = $("comments").tBodies[0];
  if (!more) tb.replaceChildren();
  for (const rec of page.responses) {
    const tr = el("tr");
    tr.dataset.id = rec.id;
    const comment = rec.answers.filter((a) => a.kind === "text" && a.text).map((a) => a.text).join("\n");
    const attrs = Object.entries(rec.attributes).map(([k, v]) => `${k}=${v}`).join(" ");
    tr.append(el("td", new Date(rec.started_at).toLocaleString(state.lang)), el("td", rec.customer_ref), el("td", scoreOf(rec)),
      el("td", comment, "comment"), el("td", attrs));
    tb.append(tr);
  }
  state.cursor = page.next_cursor;
  $("more").hidden = !page.next_cursor;
  if (!more) await loadTerms();
}

async function loadTerms() {
  const rep = await api("/api/v1/reports/terms?" + query());
  const tb = $("terms").tBodies[0];
  tb.replaceChildren();
  for (const term of rep.terms) {
    const tr = el("tr");
    tr.append(el("td", term.term), el("td", term.unhappy_rate + "%"), el("td", term.happy_rate + "%"), el("td", term.lift));
    tb.append(tr);
  }
}

function currentPage() {
  return location.hash === "#/comments" ? "comments" : "overview";
}

async function render() {
  $("error").textContent = "";
  const page = currentPage();
  for (const p of ["overview", "comments"]) $("page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + page);
  document.body.dataset.loaded = "";
  try {
    if (page === "overview") await loadOverview();
    else await loadComments(false);
    document.body.dataset.loaded = page;
  } catch (err) {
    $("error").textContent = err.message;
    document.body.dataset.loaded = "error";
  }
}

async function signedIn() {
  $("signin").hidden = true;
  for (const id of ["nav", "filters", "signout"]) $(id).hidden = false;
  const surveys = await api("/api/v1/surveys");
  const sel = $("f-survey");
  sel.replaceChildren();
  for (const s of surveys.surveys || []) {
    const o = el("option", s.title ? `${s.title} (${s.id})` : s.id);
    o.value = s.id;
    sel.append(o);
  }
  await render();
}

function signOut() {
  sessionStorage.removeItem("cxbot.token");
  state.token = "";
  $("signin").hidden = false;
  for (const id of ["nav", "filters", "signout", "page-overview", "page-comments"]) $(id).hidden = true;
}

function start() {
  applyLanguage();
  $("f-tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh-CN" : "en";
    localStorage.setItem("cxbot.lang", state.lang);
    applyLanguage();
    if (state.token) render();
  });
  $("signout").addEventListener("click", signOut);
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("cxbot.token", state.token);
    try {
      $("signin-error").textContent = "";
      await signedIn();
    } catch (err) {
      $("signin-error").textContent = err.message;
    }
  });
  for (const id of ["f-apply"]) $(id).addEventListener("click", render);
  for (const id of ["f-dim", "f-class", "f-survey"]) $(id).addEventListener("change", render);
  $("more").addEventListener("click", () => loadComments(true).catch((err) => { $("error").textContent = err.message; }));
  window.addEventListener("hashchange", () => { if (state.token) render(); });
  window.addEventListener("resize", () => state.chart && state.chart.resize());
  if (state.token) signedIn().catch((err) => { $("signin-error").textContent = err.message; });
  else signOut();
}

start();
