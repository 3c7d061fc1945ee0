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
    waves: "Waves", surveys: "Surveys", queue: "Queue", newWave: "New wave", wave: "Wave", schedule: "Schedule", state: "State",
    planned: "Planned", active: "active", paused: "paused (draft)", retired: "retired", edit: "Edit", activate: "Activate",
    pause: "Pause", retire: "Retire", retireConfirm: "Retire for good", preview: "Preview", previewTitle: "If it ran now",
    wouldInvite: "would be invited", considered: "considered", skipReason: "Skipped because", channel: "Channel", chat: "Chat",
    language: "Language", event: "Event", definition: "Definition", counts: "Counts", waveId: "Wave id", who: "Whom to invite",
    kindTrigger: "after each event (trigger)", kindSegment: "a segment, on a calendar", touchpoint: "Touchpoint",
    delay: "Delay after the event", maxAge: "Ignore events older than", where: "Attribute filter (key=pattern, one a line)",
    repeat: "Repeat", freqEvery: "every N minutes", freqDaily: "every day", freqWeekdays: "Monday to Friday", freqWeekly: "once a week",
    freqMonthly: "once a month", freqCron: "cron spec", minutes: "Minutes", weekday: "Day", monthday: "Day of month", at: "At",
    cron: "Cron spec", waveTz: "Time zone", quiet: "Quiet hours", cap: "Frequency cap", sample: "Sample", expires: "Expires after",
    phQuiet: "empty: the default · off: none", phCap: "empty: the default · off: none", phDelay: "empty: 0, at once",
    phMaxAge: "empty: 7d", phSample: "empty: 100%", phExpires: "empty: 72h", phReminder: "empty: no reminder",
    phTz: "empty: UTC", phDefault: "empty: the default, ", phOff: " · off: none",
    reminder: "Reminder after", channels: "Channels", saveDraft: "Save as draft", save: "Save", cancel: "Cancel",
    createWave: "New wave", editWave: "Edit wave", nextRuns: "Next runs", status: "Status", stOpen: "open", stClaimed: "claimed",
    stResolved: "resolved", stAwaiting: "awaiting comment", agent: "Agent", actingAs: "Acting as", claim: "Claim",
    reply: "Reply to the customer", send: "Send", outcome: "Outcome", outResolved: "resolved", outNoAnswer: "no answer",
    outNotActionable: "not actionable", note: "Note", resolve: "Resolve", customerSaid: "customer", agentSaid: "agent",
    notDelivered: "not delivered", questions: "questions", kind: "Kind", trigger: "trigger", segment: "segment",
    source: "Source", skipped: "skipped", failed: "failed", expired: "expired", noWaves: "No waves yet.",
    noCases: "No cases.", asText: "as text (more than ten options)", asMenu: "menu", option: "option",
    days: ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    promoter: "promoter", passive: "passive", detractor: "detractor", satisfied: "satisfied", neutral: "neutral",
    dissatisfied: "dissatisfied", easy: "easy", difficult: "difficult", others: "Others %",
    baseHappy: "Set against the {n} comments of happy customers (promoter, satisfied, easy).",
    baseOthers: "No happy customer left a comment (the survey may not ask them), so set against the {n} other comments (passive, neutral).",
    baseNone: "Only unhappy customers left comments: words ranked by how many of them used each.",
    noTerms: "No word was used by two unhappy customers more than by the others.",
    before_first_answer: "before the first answer", signedInAs: "Signed in as",
    admin: "admin", marketer: "marketer", agent_role: "agent",
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
    waves: "调研波次", surveys: "问卷", queue: "待办队列", newWave: "新建波次", wave: "波次", schedule: "计划", state: "状态",
    planned: "已计划", active: "运行中", paused: "已暂停（草稿）", retired: "已停用", edit: "编辑", activate: "启用",
    pause: "暂停", retire: "停用", retireConfirm: "确认永久停用", preview: "预览", previewTitle: "如果现在运行",
    wouldInvite: "位客户将被邀请", considered: "位符合条件", skipReason: "跳过原因", channel: "渠道", chat: "会话",
    language: "语言", event: "事件", definition: "定义", counts: "计数", waveId: "波次 ID", who: "邀请谁",
    kindTrigger: "每个事件之后（触发）", kindSegment: "一个客群，按日历", touchpoint: "触点",
    delay: "事件后延迟", maxAge: "忽略早于此的事件", where: "属性筛选（键=模式，每行一个）",
    repeat: "重复", freqEvery: "每 N 分钟", freqDaily: "每天", freqWeekdays: "周一至周五", freqWeekly: "每周一次",
    freqMonthly: "每月一次", freqCron: "cron 表达式", minutes: "分钟", weekday: "星期", monthday: "日期", at: "时间",
    cron: "cron 表达式", waveTz: "时区", quiet: "免打扰时段", cap: "频率上限", sample: "抽样", expires: "过期时间",
    phQuiet: "留空：使用默认值 · off：不设", phCap: "留空：使用默认值 · off：不设", phDelay: "留空：0，立即",
    phMaxAge: "留空：7d", phSample: "留空：100%", phExpires: "留空：72h", phReminder: "留空：不提醒",
    phTz: "留空：UTC", phDefault: "留空：默认值 ", phOff: " · off：不设",
    reminder: "提醒时间", channels: "渠道", saveDraft: "保存为草稿", save: "保存", cancel: "取消",
    createWave: "新建波次", editWave: "编辑波次", nextRuns: "接下来的运行时间", status: "状态", stOpen: "待处理", stClaimed: "已认领",
    stResolved: "已解决", stAwaiting: "等待评论", agent: "客服", actingAs: "当前客服", claim: "认领",
    reply: "回复客户", send: "发送", outcome: "结果", outResolved: "已解决", outNoAnswer: "无回应",
    outNotActionable: "无法处理", note: "备注", resolve: "解决", customerSaid: "客户", agentSaid: "客服",
    notDelivered: "未送达", questions: "个问题", kind: "类型", trigger: "触发", segment: "客群",
    source: "来源", skipped: "已跳过", failed: "失败", expired: "已过期", noWaves: "还没有波次。",
    noCases: "没有案例。", asText: "以文字发送（选项超过十个）", asMenu: "菜单", option: "选项",
    days: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
    promoter: "推荐者", passive: "被动者", detractor: "贬损者", satisfied: "满意", neutral: "一般",
    dissatisfied: "不满意", easy: "轻松", difficult: "费力", others: "其他 %",
    baseHappy: "对照 {n} 条满意客户（推荐者、满意、轻松）的评论。",
    baseOthers: "没有满意客户留下评论（问卷可能没有问他们），因此对照其余 {n} 条评论（被动者、一般）。",
    baseNone: "只有不满意的客户留下了评论：按使用每个词的客户数排序。",
    noTerms: "没有哪个词被两位以上不满意客户更多地使用。",
    before_first_answer: "回答第一个问题之前", signedInAs: "当前登录",
    admin: "管理员", marketer: "市场", agent_role: "客服",
  },
};

const state = {
  lang: localStorage.getItem("cxbot.lang") || (navigator.language.startsWith("zh") ? "zh-CN" : "en"),
  token: sessionStorage.getItem("cxbot.token") || "",
  cursor: "",
  chart: null,
  role: "admin",
  me: null,
  surveys: [],
  checkTimer: 0,
  checkSeq: 0,
  editing: "", // the id of the wave being edited, "" for a new one
};

// Which pages each role may open (the API enforces it; this only hides).
const roles = {
  admin: ["overview", "comments", "waves", "surveys", "queue"],
  marketer: ["overview", "comments", "waves", "surveys"],
  agent: ["queue"],
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
  for (const e of document.querySelectorAll("[data-tp]")) e.placeholder = t(e.dataset.tp);
  const wd = document.querySelector('select[name="weekday"]');
  const keep = wd.value;
  wd.replaceChildren(...t("days").map((d, i) => { const o = el("option", d); o.value = String(i); return o; }));
  wd.value = keep || "1";
  $("lang").textContent = state.lang === "en" ? "中文" : "English";
}

// api calls the JSON API; a failure throws an Error carrying the status
// and, for a refused wave, the bad fields.
async function api(path, method, body) {
  const opts = { method: method || "GET", headers: { Authorization: "Bearer " + state.token } };
  if (body !== undefined) {
    opts.body = typeof body === "string" ? body : JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, opts);
  const data = await resp.json();
  if (resp.status === 401) {
    signOut();
    // A wrong token is told in the reader's language; any other refusal
    // (a revoked token) as the API words it.
    throw new Error(!data.error || data.error === "missing or wrong bearer token" ? t("badToken") : data.error);
  }
  if (!resp.ok) {
    const err = new Error(data.error || resp.statusText);
    err.status = resp.status;
    err.fields = data.fields || [];
    throw err;
  }
  return data;
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
    api("/api/v1/reports/nps?" + query({ group_by: dim })).catch((err) => {
      if (err.status !== 400) throw err;
      return { groups: [], refused: err.message }; // e.g. no response has this attribute yet
    }),
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
  if (breakdown.refused) {
    const tr = el("tr");
    const td = el("td", breakdown.refused, "detail");
    td.colSpan = 4;
    tr.append(td);
    bb.append(tr);
  }
  for (const g of breakdown.groups || []) {
    const tr = el("tr");
    tr.dataset.key = g.key;
    tr.append(el("td", g.key || t("none")), el("td", g.responses), el("td", fmt(g.score)), el("td", fmt(g.margin_of_error)));
    bb.append(tr);
  }
}

function scoreOf(rec) {
  const a = rec.answers.find((x) => x.score !== undefined && !x.skipped);
  return a ? `${a.score} (${t(a.class)})` : "";
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
  // What the words are set against: happy comments, the others, or nothing.
  const note = { happy: "baseHappy", others: "baseOthers", none: "baseNone" }[rep.baseline] || "baseHappy";
  $("terms-note").textContent = t(note).replace("{n}", rep.baseline_comments) + (rep.terms.length ? "" : " " + t("noTerms"));
  $("terms-note").dataset.baseline = rep.baseline;
  const base = $("terms-base");
  base.dataset.t = rep.baseline === "others" ? "others" : "happy";
  base.textContent = t(base.dataset.t);
  base.hidden = rep.baseline === "none";
  $("terms").tHead.rows[0].cells[3].hidden = rep.baseline === "none";
  for (const term of rep.terms) {
    const tr = el("tr");
    const baseCell = el("td", term.baseline_rate + "%");
    const liftCell = el("td", fmt(term.lift));
    baseCell.hidden = liftCell.hidden = rep.baseline === "none";
    tr.append(el("td", term.term), el("td", term.unhappy_rate + "%"), baseCell, liftCell);
    tb.append(tr);
  }
}

// ---- waves ----

function waveState(w) {
  if (w.retired) return "retired";
  return w.paused ? "paused" : "active";
}

function words(when) {
  if (!when) return "";
  const w = when.words.find((x) => x.language === state.lang) || when.words[0];
  return w ? w.text : when.spec;
}

// runTimes lists the next runs as the wave's zone tells them: the API
// sends each with its zone's offset, shown as written.
function runTimes(list, when) {
  list.replaceChildren();
  if (!when) return;
  for (const at of when.next_runs) list.append(el("li", at.replace("T", " ").replace(/([+-]\d\d:\d\d|Z)$/, " $1")));
  list.dataset.tz = when.timezone;
}

async function loadWaves() {
  const data = await api("/api/v1/waves");
  const tb = $("waves").tBodies[0];
  tb.replaceChildren();
  for (const w of data.waves) {
    const tr = el("tr");
    tr.dataset.id = w.id;
    const link = el("a", w.id);
    link.href = "#/waves/" + encodeURIComponent(w.id);
    const id = el("td");
    id.append(link);
    tr.append(id, el("td", w.survey), el("td", words(w.when) || w.schedule), el("td", t(waveState(w)), "state-" + waveState(w)),
      el("td", w.counts.planned), el("td", w.counts.sent), el("td", w.counts.completed));
    tb.append(tr);
  }
  if (!data.waves.length) {
    const tr = el("tr");
    const td = el("td", t("noWaves"));
    td.colSpan = 7;
    tr.append(td);
    tb.append(tr);
  }
}

function kvRows(table, rows) {
  const tb = table.tBodies[0];
  tb.replaceChildren();
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.dataset.key = k;
    tr.append(el("th", t(k)), el("td", v));
    tb.append(tr);
  }
}

function filterText(where) {
  return Object.entries(where || {}).map(([k, v]) => `${k}=${v}`).join(", ");
}

function definitionRows(w) {
  const d = w.definition;
  const rows = [["survey", w.survey], ["kind", t(w.kind)]];
  const who = d.trigger || d.segment || {};
  rows.push(["touchpoint", who.touchpoint || t("none")]);
  if (d.trigger) rows.push(["delay", d.trigger.delay], ["maxAge", d.trigger.max_age]);
  rows.push(["where", filterText(who.where) || t("none")], ["schedule", w.schedule], ["waveTz", d.timezone || t("none")],
    ["quiet", d.quiet_hours.join(", ") || t("none")], ["cap", d.frequency_cap || t("none")],
    ["sample", Math.round(d.sample * 10000) / 100 + "%"], ["expires", d.expires_after], ["reminder", d.reminder_after || t("none")],
    ["channels", d.channels.join(", ")], ["source", w.source]);
  return rows;
}

async function loadWave(id) {
  const w = await api("/api/v1/waves/" + encodeURIComponent(id));
  showWave(w);
}

function showWave(w) {
  state.wave = w;
  $("w-title").textContent = w.id;
  const st = waveState(w);
  $("w-state").textContent = t(st);
  $("w-state").dataset.state = st;
  $("w-edit").href = "#/wave-edit/" + encodeURIComponent(w.id);
  const fromAPI = w.source === "api";
  $("w-edit").hidden = !fromAPI || w.retired;
  $("w-activate").hidden = st !== "paused";
  $("w-pause").hidden = st !== "active";
  $("w-retire").hidden = !fromAPI || w.retired;
  $("w-retire-confirm").hidden = true;
  $("w-preview").hidden = w.retired;
  $("w-when").textContent = words(w.when);
  runTimes($("w-runs"), w.when);
  kvRows($("w-definition"), definitionRows(w));
  const c = w.counts;
  kvRows($("w-counts"), [["planned", c.planned], ["sent", c.sent], ["delivered", c.delivered], ["started", c.started],
    ["completed", c.completed], ["expired", c.expired], ["failed", c.failed], ["skipped", c.skipped]]);
}

async function previewWave() {
  const p = await api("/api/v1/waves/" + encodeURIComponent(state.wave.id) + "/preview");
  $("w-would").textContent = p.would_invite;
  $("w-considered").textContent = p.considered;
  const sk = $("w-skipped").tBodies[0];
  sk.replaceChildren();
  for (const [reason, n] of Object.entries(p.skipped)) {
    const tr = el("tr");
    tr.append(el("td", reason), el("td", n));
    sk.append(tr);
  }
  const sb = $("w-sample").tBodies[0];
  sb.replaceChildren();
  for (const s of p.sample) {
    const tr = el("tr");
    tr.dataset.chat = s.chat_id;
    tr.append(el("td", s.customer_ref), el("td", s.channel), el("td", s.chat_id), el("td", s.language), el("td", s.event_id));
    sb.append(tr);
  }
  $("w-previewed").hidden = false;
  document.body.dataset.previewed = String(p.would_invite);
}

async function waveAction(path, method) {
  const w = await api("/api/v1/waves/" + encodeURIComponent(state.wave.id) + path, method || "POST");
  showWave(w);
  document.body.dataset.action = waveState(w);
}

// ---- wave editor ----

const form = () => $("wave-form");
const field = (name) => form().elements[name];

function fieldsShown() {
  const kind = form().querySelector('input[name="kind"]:checked').value;
  for (const e of form().querySelectorAll(".trigger-only")) e.hidden = kind !== "trigger";
  const freq = field("freq").value;
  const show = { every: ["every"], daily: ["at"], weekdays: ["at"], weekly: ["weekly", "at"], monthly: ["monthly", "at"], cron: [] }[freq];
  for (const part of ["every", "weekly", "monthly", "at"]) form().querySelector(".freq-" + part).hidden = !show.includes(part);
  field("schedule").readOnly = freq !== "cron";
}

// cronSpec writes the calendar choice as the cron spec the API takes; the
// wave's time zone goes in as CRON_TZ so 10:00 means 10:00 there.
function cronSpec() {
  const freq = field("freq").value;
  if (freq === "cron") return field("schedule").value.trim();
  if (freq === "every") return "@every " + Math.max(1, parseInt(field("every").value, 10) || 1) + "m";
  const [h, m] = (field("at").value || "10:00").split(":").map((x) => parseInt(x, 10));
  const dom = freq === "monthly" ? String(parseInt(field("monthday").value, 10) || 1) : "*";
  const dow = { daily: "*", weekdays: "1-5", weekly: field("weekday").value, monthly: "*" }[freq];
  const tz = field("timezone").value.trim();
  return (tz ? "CRON_TZ=" + tz + " " : "") + `${m} ${h} ${dom} * ${dow}`;
}

// scheduleForm reads a stored spec back into the calendar fields when it
// has one of their shapes, else leaves it as a cron spec.
function scheduleForm(spec, tz) {
  let body = spec;
  const m = /^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(spec);
  if (m) {
    if (m[1] !== tz) return setFreq("cron", spec);
    body = m[2];
  }
  let g = /^@every (\d+)m$/.exec(body);
  if (g && !m) { field("every").value = g[1]; return setFreq("every", spec); }
  g = /^(\d+) (\d+) (\*|\d+) \* (\*|1-5|\d)$/.exec(body);
  if (!g || (!m && tz)) return setFreq("cron", spec);
  field("at").value = g[2].padStart(2, "0") + ":" + g[1].padStart(2, "0");
  if (g[3] !== "*" && g[4] === "*") { field("monthday").value = g[3]; return setFreq("monthly", spec); }
  if (g[3] !== "*") return setFreq("cron", spec);
  if (g[4] === "*") return setFreq("daily", spec);
  if (g[4] === "1-5") return setFreq("weekdays", spec);
  field("weekday").value = g[4];
  return setFreq("weekly", spec);
}

function setFreq(freq, spec) {
  field("freq").value = freq;
  field("schedule").value = spec;
}

// waveDefinition is the form as the API's wave definition (JSON).
function waveDefinition() {
  const v = (name) => field(name).value.trim();
  const where = {};
  for (const line of field("where").value.split("\n")) {
    const [k, ...rest] = line.split("=");
    if (k.trim()) where[k.trim()] = rest.join("=").trim();
  }
  const def = { id: v("id"), survey: v("survey"), schedule: cronSpec() };
  const kind = form().querySelector('input[name="kind"]:checked').value;
  if (kind === "trigger") {
    def.trigger = { touchpoint: v("touchpoint"), where };
    if (v("delay")) def.trigger.delay = v("delay");
    if (v("max_age")) def.trigger.max_age = v("max_age");
  } else {
    def.segment = { where };
    if (v("touchpoint")) def.segment.touchpoint = v("touchpoint");
  }
  const quiet = v("quiet_hours").split(",").map((x) => x.trim()).filter(Boolean);
  if (quiet.length === 1 && quiet[0] === "off") def.quiet_hours = "off";
  else if (quiet.length) def.quiet_hours = quiet;
  for (const name of ["frequency_cap", "sample", "expires_after", "reminder_after", "timezone"]) if (v(name)) def[name] = v(name);
  const channels = [...form().querySelectorAll('input[name="channels"]:checked')].map((c) => c.value);
  if (channels.length) def.channels = channels;
  return def;
}

// fieldFor maps an API field name ("trigger.where.store") to the form's.
function fieldFor(name) {
  if (/^(trigger|segment)\.where/.test(name)) return "where";
  if (name === "trigger" || name === "segment") return "kind";
  const short = name.replace(/^(trigger|segment)\./, "");
  return form().querySelector(`[data-field="${short}"]`) ? short : "";
}

function showFieldErrors(err) {
  for (const e of form().querySelectorAll(".field-error")) e.textContent = "";
  for (const e of form().querySelectorAll("[data-field]")) e.classList.remove("invalid");
  $("e-error").textContent = "";
  if (!err) return;
  const loose = [];
  for (const f of err.fields || []) {
    const box = form().querySelector(`[data-field="${fieldFor(f.field)}"]`);
    if (!box) { loose.push(f.field + ": " + f.error); continue; }
    box.classList.add("invalid");
    const small = box.querySelector(".field-error");
    small.textContent = small.textContent ? small.textContent + "; " + f.error : f.error;
  }
  if (!err.fields || !err.fields.length) loose.push(err.message);
  $("e-error").textContent = loose.join("; ");
}

// checkWave asks the API what the form would run, storing nothing. Only
// the latest answer counts (an older one may arrive after it).
async function checkWave() {
  fieldsShown();
  const def = waveDefinition();
  if (field("freq").value !== "cron") field("schedule").value = def.schedule;
  const seq = ++state.checkSeq;
  try {
    const c = await api("/api/v1/wave-checks", "POST", def);
    if (seq !== state.checkSeq) return;
    showFieldErrors(null);
    showDefaults(c.definition);
    $("e-when").textContent = words(c.schedule);
    runTimes($("e-runs"), c.schedule);
    form().dataset.valid = "true";
  } catch (err) {
    if (seq !== state.checkSeq) return;
    showFieldErrors(err);
    $("e-when").textContent = "";
    $("e-runs").replaceChildren();
    form().dataset.valid = "false";
  }
  form().dataset.checked = String(seq);
}

// showDefaults says in an empty quiet-hours or cap field what applies:
// the server's default, which the check has filled in.
function showDefaults(d) {
  const quiet = (d.quiet_hours || []).join(", ") || "off";
  field("quiet_hours").placeholder = field("quiet_hours").value ? t("phQuiet") : t("phDefault") + quiet + t("phOff");
  field("frequency_cap").placeholder = field("frequency_cap").value ? t("phCap") : t("phDefault") + (d.frequency_cap || "off") + t("phOff");
}

function scheduleCheck() {
  clearTimeout(state.checkTimer);
  form().dataset.valid = "";
  state.checkTimer = setTimeout(checkWave, 300);
}

async function loadEditor(id) {
  state.editing = id || "";
  form().reset();
  form().dataset.checked = "0";
  const sel = field("survey");
  sel.replaceChildren(...state.surveys.map((s) => { const o = el("option", s.title ? `${s.title} (${s.id})` : s.id); o.value = s.id; return o; }));
  $("e-title").textContent = id ? t("editWave") + " " + id : t("createWave");
  field("id").readOnly = !!id;
  $("e-save").textContent = id ? t("save") : t("saveDraft");
  $("e-cancel").href = id ? "#/waves/" + encodeURIComponent(id) : "#/waves";
  if (id) {
    const w = await api("/api/v1/waves/" + encodeURIComponent(id));
    const d = w.definition;
    const who = d.trigger || d.segment || {};
    field("id").value = w.id;
    field("survey").value = w.survey;
    form().querySelector(`input[name="kind"][value="${w.kind}"]`).checked = true;
    field("touchpoint").value = who.touchpoint || "";
    field("where").value = Object.entries(who.where || {}).map(([k, v]) => `${k}=${v}`).join("\n");
    if (d.trigger) { field("delay").value = d.trigger.delay; field("max_age").value = d.trigger.max_age; }
    field("timezone").value = d.timezone || "";
    // The effective values: "off" where the wave has none, so saving
    // does not bring the default back.
    field("quiet_hours").value = d.quiet_hours.join(", ") || "off";
    field("frequency_cap").value = d.frequency_cap || "off";
    field("sample").value = Math.round(d.sample * 10000) / 100 + "%";
    field("expires_after").value = d.expires_after;
    field("reminder_after").value = d.reminder_after || "";
    for (const c of form().querySelectorAll('input[name="channels"]')) c.checked = d.channels.includes(c.value);
    scheduleForm(w.schedule, d.timezone || "");
  } else {
    setFreq("every", "@every 1m");
  }
  for (const e of form().querySelectorAll("[data-tp]")) e.placeholder = t(e.dataset.tp);
  // A new form is checked once something is typed: checking it empty
  // would only be a 400 listing the required fields.
  if (id) await checkWave();
}

// saveWave stores the form: a new wave is a paused draft, to preview and
// then activate on its page; an edited one keeps its state.
async function saveWave(ev) {
  ev.preventDefault();
  const def = waveDefinition();
  try {
    const w = state.editing
      ? await api("/api/v1/waves/" + encodeURIComponent(state.editing), "PUT", def)
      : await api("/api/v1/waves?paused=true", "POST", def);
    location.hash = "#/waves/" + encodeURIComponent(w.id);
  } catch (err) {
    if (err.status === 409 && !state.editing) err.fields = [{ field: "id", error: err.message }];
    showFieldErrors(err);
  }
}

// ---- survey preview ----

async function loadSurveyList() {
  const ul = $("survey-list");
  ul.replaceChildren();
  for (const s of state.surveys) {
    const li = el("li");
    const a = el("a", s.title ? `${s.title} (${s.id})` : s.id);
    a.href = "#/surveys/" + encodeURIComponent(s.id);
    li.append(a);
    ul.append(li);
  }
}

async function loadSurvey(id) {
  const p = await api("/api/v1/surveys/" + encodeURIComponent(id) + "/preview");
  state.survey = p;
  $("s-title").textContent = p.title ? `${p.title} (${p.survey})` : p.survey;
  const sel = $("s-lang");
  const keep = sel.value;
  sel.replaceChildren(...p.previews.map((x) => { const o = el("option", x.language); o.value = x.language; return o; }));
  sel.value = p.previews.some((x) => x.language === keep) ? keep : (p.previews.some((x) => x.language === state.lang) ? state.lang : p.previews[0].language);
  showSurveyLanguage();
}

function bubble(text, cls) {
  const b = el("div", text, "bubble " + (cls || ""));
  return b;
}

function showSurveyLanguage() {
  const p = state.survey;
  const lang = $("s-lang").value;
  const pv = p.previews.find((x) => x.language === lang);
  const box = $("s-questions");
  box.replaceChildren();
  for (const q of pv.questions) {
    const row = el("div", null, "question");
    row.dataset.question = q.id;
    row.append(el("h2", `${q.id} · ${q.kind}`));
    const phones = el("div", null, "phones");
    const tg = el("div", null, "phone telegram");
    tg.append(el("div", "Telegram", "phone-title"), bubble(q.telegram.text));
    const kb = el("div", null, "keyboard");
    for (const r of q.telegram.keyboard) {
      const kr = el("div", null, "krow");
      for (const label of r) kr.append(el("span", label, "kbtn"));
      kb.append(kr);
    }
    tg.append(kb);
    const wx = el("div", null, "phone wechat");
    wx.append(el("div", "WeChat · " + (q.wechat.kind === "menu" ? t("asMenu") : q.wechat.options.length ? t("asText") : "text"), "phone-title"));
    const wb = bubble(q.wechat.text);
    if (q.wechat.kind === "menu") {
      for (const o of q.wechat.options) wb.append(el("div", o, "menu-item"));
      if (q.wechat.tail) wb.append(el("div", q.wechat.tail, "menu-tail"));
    }
    wx.append(wb);
    phones.append(tg, wx);
    row.append(phones);
    box.append(row);
  }
}

// ---- handoff queue ----

function statusText(s) {
  return t({ open: "stOpen", claimed: "stClaimed", resolved: "stResolved", awaiting_comment: "stAwaiting" }[s] || s);
}

async function loadQueue() {
  const status = $("q-status").value;
  const data = await api("/api/v1/handoffs" + (status ? "?status=" + status : ""));
  const tb = $("cases").tBodies[0];
  tb.replaceChildren();
  for (const h of data.handoffs) {
    const tr = el("tr");
    tr.dataset.id = h.id;
    const a = el("a", "#" + h.id);
    a.href = "#/queue/" + h.id;
    const id = el("td");
    id.append(a);
    tr.append(id, el("td", new Date(h.created_at).toLocaleString(state.lang)), el("td", h.customer_ref), el("td", `${h.score} (${t(h.class)})`),
      el("td", h.comment, "comment"), el("td", statusText(h.status)), el("td", h.claimed_by_name || ""));
    tb.append(tr);
  }
  if (!data.handoffs.length) {
    const tr = el("tr");
    const td = el("td", t("noCases"));
    td.colSpan = 7;
    tr.append(td);
    tb.append(tr);
  }
}

async function loadAgents() {
  const sel = $("c-agent");
  if (sel.options.length) return;
  let agents = [];
  try {
    agents = (await api("/api/v1/agents")).agents;
  } catch (err) {
    if (err.status !== 403 && err.status !== 503) throw err;
  }
  for (const a of agents) {
    const o = el("option", a.name);
    o.value = String(a.id);
    o.dataset.telegram = String(a.telegram_user_id);
    sel.append(o);
  }
  // A token bound to an agent acts only as that agent: the choice is fixed
  // (agent_id 0 lets the API pick the bound agent when it is not listed).
  const mine = state.me && state.me.agent_telegram_user_id;
  if (mine) {
    const own = [...sel.options].find((o) => o.dataset.telegram === String(mine));
    if (own) sel.replaceChildren(own);
    else {
      const o = el("option", state.me.name);
      o.value = "0";
      o.dataset.telegram = String(mine);
      sel.replaceChildren(o);
    }
    sel.disabled = true;
  }
}

async function loadCase(id) {
  await loadAgents();
  const c = await api("/api/v1/handoffs/" + encodeURIComponent(id));
  state.case = c;
  $("c-title").textContent = `#${c.id} · ${c.customer_ref}`;
  $("c-status").textContent = statusText(c.status);
  $("c-status").dataset.state = c.status;
  kvRows($("c-facts"), [["survey", c.survey], ["score", `${c.score} (${t(c.class)})`], ["comment", c.comment || t("none")],
    ["channel", `${c.channel} ${c.chat_id}`], ["attributes", filterText(c.context) || t("none")], ["agent", c.claimed_by_name || t("none")]]);
  const ol = $("c-messages");
  ol.replaceChildren();
  for (const m of c.messages) {
    const li = el("li", null, "msg " + m.author);
    li.append(el("div", `${m.author === "agent" ? m.agent_name || t("agentSaid") : t("customerSaid")} · ${new Date(m.created_at).toLocaleString(state.lang)}`, "meta"),
      el("div", m.text, "text"));
    if (m.author === "agent" && !m.delivered) li.append(el("div", t("notDelivered") + (m.error ? ": " + m.error : ""), "error"));
    ol.append(li);
  }
  const done = c.status === "resolved";
  $("c-claim").hidden = done || c.status === "claimed";
  $("c-reply-form").hidden = done;
  $("c-resolve-form").hidden = done;
}

async function caseAction(path, body) {
  $("c-error").textContent = "";
  try {
    await api("/api/v1/handoffs/" + state.case.id + path, "POST", body);
  } catch (err) {
    $("c-error").textContent = err.message;
  }
  await loadCase(state.case.id);
  document.body.dataset.action = path + ":" + state.case.status;
}

// ---- pages ----

const pages = ["overview", "comments", "waves", "wave", "wave-edit", "surveys", "survey", "queue", "case"];

// route reads the hash: "#/waves/spring" is the wave page of spring.
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const name = parts[0] || "";
  const arg = parts.slice(1).join("/");
  const allowed = roles[state.role] || roles.admin;
  const page = {
    overview: "overview", comments: "comments", waves: arg ? "wave" : "waves", "wave-new": "wave-edit", "wave-edit": "wave-edit",
    surveys: arg ? "survey" : "surveys", queue: arg ? "case" : "queue",
  }[name];
  const section = { wave: "waves", "wave-edit": "waves", survey: "surveys", case: "queue" }[page] || page;
  if (!page || !allowed.includes(section)) return { page: allowed[0], section: allowed[0], arg: "" };
  return { page, section, arg };
}

async function render() {
  $("error").textContent = "";
  $("page-error").textContent = "";
  const { page, section, arg } = route();
  for (const p of pages) $("page-" + p).hidden = p !== page;
  $("filters").hidden = page !== "overview" && page !== "comments";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + section);
  document.body.dataset.loaded = "";
  document.body.dataset.page = page;
  try {
    switch (page) {
      case "overview": await loadOverview(); break;
      case "comments": await loadComments(false); break;
      case "waves": await loadWaves(); break;
      case "wave": $("w-previewed").hidden = true; await loadWave(arg); break;
      case "wave-edit": await loadEditor(arg); break;
      case "surveys": await loadSurveyList(); break;
      case "survey": await loadSurvey(arg); break;
      case "queue": await loadQueue(); break;
      case "case": await loadCase(arg); break;
    }
    document.body.dataset.loaded = page;
  } catch (err) {
    ($("filters").hidden ? $("page-error") : $("error")).textContent = err.message;
    document.body.dataset.loaded = "error";
  }
}

// whoAmI asks the API for the signed-in role; a server without roles
// (404) has one token, the admin's.
async function whoAmI() {
  try {
    state.me = await api("/api/v1/me");
    state.role = roles[state.me.role] ? state.me.role : "admin";
  } catch (err) {
    if (err.status !== 404) throw err;
    state.me = null;
    state.role = "admin";
  }
  const allowed = roles[state.role];
  for (const a of document.querySelectorAll("#nav a")) a.hidden = !allowed.includes(a.getAttribute("href").slice(2));
  showWhoAmI();
}

// showWhoAmI names the signed-in token and its role in the header.
function showWhoAmI() {
  const who = $("whoami");
  const role = t(state.role === "agent" ? "agent_role" : state.role);
  who.textContent = state.me ? `${t("signedInAs")} ${state.me.name} (${role})` : `${t("signedInAs")} ${role}`;
  who.hidden = !state.token;
}

// surveyTitle is the survey's title in the reader's language when it has one.
function surveyTitle(s) {
  const own = (s.titles || []).find((x) => x.language === state.lang);
  return own ? own.title : s.title;
}

function fillSurveys() {
  const sel = $("f-survey");
  const keep = sel.value;
  sel.replaceChildren();
  for (const s of state.surveys) {
    const title = surveyTitle(s);
    const o = el("option", title ? `${title} (${s.id})` : s.id);
    o.value = s.id;
    sel.append(o);
  }
  if (keep) sel.value = keep;
}

async function signedIn() {
  $("signin").hidden = true;
  for (const id of ["nav", "signout"]) $(id).hidden = false;
  await whoAmI();
  if (state.role !== "agent") {
    const surveys = await api("/api/v1/surveys");
    state.surveys = surveys.surveys || [];
    fillSurveys();
  }
  await render();
}

function signOut() {
  sessionStorage.removeItem("cxbot.token");
  state.token = "";
  $("signin").hidden = false;
  for (const id of ["nav", "filters", "signout", "whoami"]) $(id).hidden = true;
  for (const p of pages) $("page-" + p).hidden = true;
}

function fail(err) {
  $("page-error").textContent = err.message;
}

function start() {
  applyLanguage();
  $("f-tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh-CN" : "en";
    localStorage.setItem("cxbot.lang", state.lang);
    applyLanguage();
    fillSurveys();
    if (state.token) { showWhoAmI(); render(); }
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
  $("w-preview").addEventListener("click", () => previewWave().catch(fail));
  $("w-activate").addEventListener("click", () => waveAction("/resume").catch(fail));
  $("w-pause").addEventListener("click", () => waveAction("/pause").catch(fail));
  $("w-retire").addEventListener("click", () => { $("w-retire").hidden = true; $("w-retire-confirm").hidden = false; });
  $("w-retire-confirm").addEventListener("click", () => waveAction("", "DELETE").catch(fail));
  form().addEventListener("input", scheduleCheck);
  form().addEventListener("change", scheduleCheck);
  form().addEventListener("submit", saveWave);
  $("s-lang").addEventListener("change", showSurveyLanguage);
  $("q-status").addEventListener("change", render);
  $("c-claim").addEventListener("click", () => caseAction("/claim", { agent_id: Number($("c-agent").value) }));
  $("c-reply-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    caseAction("/reply", { agent_id: Number($("c-agent").value), text: $("c-reply").value }).then(() => { $("c-reply").value = ""; });
  });
  $("c-resolve-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    caseAction("/resolve", { agent_id: Number($("c-agent").value) || 0, outcome: $("c-outcome").value, note: $("c-note").value });
  });
  window.addEventListener("hashchange", () => { if (state.token) render(); });
  window.addEventListener("resize", () => state.chart && state.chart.resize());
  if (state.token) signedIn().catch((err) => { $("signin-error").textContent = err.message; });
  else signOut();
}

start();
