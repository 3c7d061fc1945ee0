package desk

import (
	"strings"

	"github.com/cxbot/cxbot/flows"
)

// agentTexts are what the desk says to agents, in CXBOT_AGENT_LANGUAGE.
// Placeholders in braces are filled by say; values are HTML-escaped first.
var agentTexts = map[string]map[string]string{
	"case":               {"en": "Case #{id}", "zh-CN": "工单 #{id}"},
	"customer":           {"en": "Customer", "zh-CN": "客户"},
	"survey":             {"en": "Survey", "zh-CN": "问卷"},
	"answers":            {"en": "Answers", "zh-CN": "回答"},
	"comment":            {"en": "Comment", "zh-CN": "留言"},
	"no_comment":         {"en": "(no comment)", "zh-CN": "（无留言）"},
	"context":            {"en": "Event", "zh-CN": "业务事件"},
	"history":            {"en": "Earlier scores", "zh-CN": "历史评分"},
	"other_cases":        {"en": "Other open cases", "zh-CN": "其他未结工单"},
	"skipped":            {"en": "skipped", "zh-CN": "已跳过"},
	"claim":              {"en": "Claim", "zh-CN": "认领"},
	"resolve":            {"en": "Resolve", "zh-CN": "结案"},
	"back":               {"en": "Back", "zh-CN": "返回"},
	"resolved":           {"en": "Resolved", "zh-CN": "已解决"},
	"no_answer":          {"en": "No answer", "zh-CN": "客户未回复"},
	"not_actionable":     {"en": "Not actionable", "zh-CN": "无法处理"},
	"claimed_by":         {"en": "✅ Claimed by {name}", "zh-CN": "✅ 已由 {name} 认领"},
	"closed_by":          {"en": "☑️ Closed by {name}: {outcome}", "zh-CN": "☑️ {name} 已结案：{outcome}"},
	"you_own":            {"en": "Case #{id} is yours", "zh-CN": "工单 #{id} 已由您认领"},
	"taken":              {"en": "Case #{id} was already claimed by {name}", "zh-CN": "工单 #{id} 已被 {name} 认领"},
	"not_live":           {"en": "Case #{id} is already closed", "zh-CN": "工单 #{id} 已结案"},
	"not_agent":          {"en": "Sorry, only registered agents can work cases. A supervisor can add you with: cxbot agents add --telegram-user {user} --name NAME", "zh-CN": "抱歉，只有已登记的客服可以处理工单。请主管用以下命令添加您：cxbot agents add --telegram-user {user} --name 姓名"},
	"owned_by":           {"en": "Case #{id} belongs to {name}; only they or a supervisor can act on it.", "zh-CN": "工单 #{id} 由 {name} 负责，只有负责人或主管可以操作。"},
	"claim_first":        {"en": "Claim case #{id} first (tap Claim on its notice).", "zh-CN": "请先认领工单 #{id}（点击通知上的“认领”）。"},
	"unknown_case":       {"en": "There is no case #{id}.", "zh-CN": "没有工单 #{id}。"},
	"reply_usage":        {"en": "Usage: /reply <case number> <text>, /note <case number> <text>, /resolve <case number> [outcome] [note] (in a case's topic or as a reply in its thread the number may be left out, but for /reply)", "zh-CN": "用法：/reply <工单号> <内容>、/note <工单号> <备注>、/resolve <工单号> [结果] [说明]（在工单话题中或回复其消息时可省略工单号，/reply 除外）"},
	"customer_wrote":     {"en": "💬 #{id} · {customer}", "zh-CN": "💬 #{id} · {customer}"},
	"late_comment":       {"en": "💬 #{id} · {customer} added a comment", "zh-CN": "💬 #{id} · {customer} 补充了留言"},
	"blocked":            {"en": "⚠️ Not delivered: the customer has blocked the bot or unfollowed. Case #{id} cannot reach them on {channel}.", "zh-CN": "⚠️ 未送达：客户已屏蔽机器人或取消关注，工单 #{id} 无法通过 {channel} 联系到客户。"},
	"outside_window":     {"en": "⚠️ Not delivered: more than 48 hours since this WeChat customer last wrote. Only a template message can reach them now ({template}).", "zh-CN": "⚠️ 未送达：该微信客户最后一次留言已超过 48 小时，现在只能发送模板消息（{template}）。"},
	"no_template":        {"en": "no template configured", "zh-CN": "未配置模板"},
	"no_photo":           {"en": "⚠️ Photos cannot be relayed to {channel} customers; send text.", "zh-CN": "⚠️ 无法向 {channel} 客户转发图片，请发送文字。"},
	"send_failed":        {"en": "⚠️ Not delivered to the customer: {error}. Try again.", "zh-CN": "⚠️ 未能送达客户：{error}，请重试。"},
	"reopened":           {"en": "🔁 Case #{id} reopened: the customer wrote again.", "zh-CN": "🔁 工单 #{id} 已重新打开：客户再次留言。"},
	"closed_customer":    {"en": "☑️ The customer closed case #{id} themselves.", "zh-CN": "☑️ 客户已自行关闭工单 #{id}。"},
	"recovery":           {"en": "📈 Case #{id} follow-up: the customer rated the handling {score}/5 — {verdict}.", "zh-CN": "📈 工单 #{id} 回访：客户对处理结果评分 {score}/5 —— {verdict}。"},
	"recovered":          {"en": "won back", "zh-CN": "已挽回"},
	"not_recovered":      {"en": "not won back", "zh-CN": "未挽回"},
	"reminder":           {"en": "⏰ Case #{id} has waited {wait} without an owner.", "zh-CN": "⏰ 工单 #{id} 已等待 {wait}，仍无人认领。"},
	"escalated":          {"en": "🚨 Escalated: case #{id} has waited {wait} without an owner.", "zh-CN": "🚨 升级：工单 #{id} 已等待 {wait}，仍无人认领。"},
	"opted_out":          {"en": "ℹ️ The customer of case #{id} opted out of surveys; replies still reach them.", "zh-CN": "ℹ️ 工单 #{id} 的客户已退订问卷，回复仍可送达。"},
	"via_api":            {"en": "↗️ {name} (API) → customer:", "zh-CN": "↗️ {name}（API）→ 客户："},
	"topic":              {"en": "#{id} {customer} · {score}", "zh-CN": "#{id} {customer} · {score}"},
	"wait_minutes":       {"en": "{m}m", "zh-CN": "{m}分钟"},
	"wait_hours":         {"en": "{h}h{mm}m", "zh-CN": "{h}小时{mm}分钟"},
	"nothing_to_send":    {"en": "Nothing to send: write some text.", "zh-CN": "没有可发送的内容，请输入文字。"},
	"too_long":           {"en": "The message is longer than 3500 characters; send it in parts.", "zh-CN": "消息超过 3500 个字符，请分段发送。"},
	"bad_outcome":        {"en": "Outcome must be resolved, no_answer or not_actionable.", "zh-CN": "结案结果须为：已解决、客户未回复 或 无法处理。"},
	"noted":              {"en": "📝 Note kept on case #{id} (not sent to the customer).", "zh-CN": "📝 已为工单 #{id} 记录备注（不会发给客户）。"},
	"class_promoter":     {"en": "promoter", "zh-CN": "推荐者"},
	"class_passive":      {"en": "passive", "zh-CN": "中立者"},
	"class_detractor":    {"en": "detractor", "zh-CN": "贬损者"},
	"class_satisfied":    {"en": "satisfied", "zh-CN": "满意"},
	"class_neutral":      {"en": "neutral", "zh-CN": "一般"},
	"class_dissatisfied": {"en": "dissatisfied", "zh-CN": "不满意"},
	"class_easy":         {"en": "easy", "zh-CN": "容易"},
	"class_difficult":    {"en": "difficult", "zh-CN": "困难"},
	"quota_spent":        {"en": "⚠️ Not delivered: WeChat allows no more messages to the customer of case #{id} until they write again (5 per customer message, 3 after a follow).", "zh-CN": "⚠️ 未送达：工单 #{id} 的客户留言后可接收的客服消息已用完（每条留言 5 条，关注后 3 条），需等客户再次留言。"},
}

// deskLanguages are the languages agents can be spoken to in.
var deskLanguages = []string{"zh-CN", "en"}

// say returns an agent text with its placeholders filled (values as given:
// escape them first when the text is HTML).
func say(lang, key string, kv ...string) string {
	t := agentTexts[key][flows.ResolveLanguage(deskLanguages, lang, "zh-CN")]
	if t == "" {
		t = key
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t = strings.ReplaceAll(t, "{"+kv[i]+"}", kv[i+1])
	}
	return t
}

// ValidLanguage reports whether the desk speaks lang.
func ValidLanguage(lang string) bool {
	for _, l := range deskLanguages {
		if strings.EqualFold(l, lang) {
			return true
		}
	}
	return false
}
