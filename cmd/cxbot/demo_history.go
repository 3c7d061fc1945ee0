package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// historyStore is what seeding the demo's history writes through: the
// store's own paths for invitations, answers and the desk, so the reports
// read the history exactly as they read live data.
type historyStore interface {
	UpsertCustomer(ctx context.Context, ref, language string) (flows.Customer, error)
	CreateInvitation(ctx context.Context, inv flows.Invitation) (flows.Invitation, bool, error)
	StartResponse(ctx context.Context, r flows.Response) (flows.Response, error)
	ApplyStep(ctx context.Context, w flows.StepWrite) (bool, error)
	AddAgent(ctx context.Context, a flows.Agent) (flows.Agent, error)
	HandoffForResponse(ctx context.Context, responseID int64) (flows.Handoff, error)
	MarkHandoffNotified(ctx context.Context, id int64, at time.Time) error
	MarkCaseReminded(ctx context.Context, id int64, at time.Time) (bool, error)
	ClaimHandoff(ctx context.Context, id int64, agent flows.Agent, at time.Time) (flows.Handoff, bool, error)
	ResolveHandoff(ctx context.Context, id int64, r flows.Resolution) (flows.Handoff, bool, error)
	MarkFollowUpSent(ctx context.Context, id int64, at time.Time) (bool, error)
	RecordRecovery(ctx context.Context, responseID int64, score int, at time.Time) (flows.Handoff, bool, error)
}

const (
	historyWeeks     = 8
	historyCustomers = 240
	historyEventPref = "demo-hist-" // fixed event ids: a second run finds them and adds nothing
)

// historyAgents work the seeded cases (Li Wei is also the live run's agent).
func historyAgents() []flows.Agent {
	return []flows.Agent{
		{TelegramUserID: demoAgentUser, Name: "Li Wei"},
		{TelegramUserID: 7002, Name: "王芳"},
		{TelegramUserID: 7003, Name: "Sam Taylor"},
	}
}

// historyComments are comments by class and language. Detractors name
// delivery, customer service and refunds, so the terms report has
// something to show.
func historyComments() map[string]map[string][]string {
	return map[string]map[string][]string{
		"detractor": {
			"en": {
				"The delivery was three days late and nobody told me.",
				"Customer service never answered my refund request.",
				"Still waiting for my refund after two weeks.",
				"The delivery driver left the parcel outside in the rain.",
				"Wrong item delivered, and the refund takes forever.",
			},
			"zh-CN": {
				"物流太慢了，等了五天才到。",
				"客服一直不回复，退款也没到账。",
				"快递员态度很差，物流信息也不更新。",
				"申请退款三次都没有处理。",
				"包装破损，联系客服没人管。",
			},
		},
		"passive": {
			"en":    {"Faster delivery would make it a 10.", "More sizes in store, please.", "Fine, but the checkout queue was long."},
			"zh-CN": {"配送再快一点就更好了。", "希望门店的尺码更全一些。", "排队结账的时间有点长。"},
		},
		"happy": {
			"en":    {"Quick refund, thank you!", "The agent was friendly and solved it at once.", "Very helpful customer service."},
			"zh-CN": {"客服很耐心，问题很快就解决了。", "退款很快到账，谢谢！", "服务态度非常好。"},
		},
	}
}

// historyItem is one seeded invitation: who, when, where, and what the
// customer types (nothing: the invitation expired unanswered).
type historyItem struct {
	eventID  string
	customer int // index into the customer pool
	survey   string
	wave     string
	at       time.Time
	context  map[string]string
	inputs   []string
	desk     historyDesk
}

// historyDesk is what the agents do with the item's case, if it opens one.
type historyDesk struct {
	agent     int           // index into historyAgents
	claimIn   time.Duration // after the notice; 0 = nobody claimed it yet
	resolveIn time.Duration // after the claim; 0 = still being worked
	outcome   flows.CaseOutcome
	recovery  int // the follow-up answer 1–5; 0 = not answered
}

// historyPlan scripts eight weeks up to the day before now: about ten
// post-purchase NPS answers a day (in stores and for delivered orders) and
// four CSAT+CES answers for closed tickets, improving week by week, SH-03
// behind the others; detractors explain themselves and are handed off.
// The rand source is fixed, so every run plans the same items with the
// same event ids, only shifted to its own date.
func historyPlan(now time.Time) []historyItem {
	rng := rand.New(rand.NewPCG(11, 9))
	shanghai := time.FixedZone("CST", 8*3600)
	today := time.Date(now.In(shanghai).Year(), now.In(shanghai).Month(), now.In(shanghai).Day(), 0, 0, 0, 0, shanghai)
	days := historyWeeks * 7
	var items []historyItem
	stores := []string{"SH-01", "SH-02", "SH-03", "SH-04"}
	comments := historyComments()
	nAgents := len(historyAgents())
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for d := range days {
		day := today.AddDate(0, 0, d-days)
		week := d / 7
		progress := float64(d) / float64(days) // 0 → 1: things get better
		// Nothing depends on the date, so a run on another day plans the
		// same event ids and adds nothing.
		for range 8 + rng.IntN(6) {
			store := stores[rng.IntN(len(stores))]
			touchpoint, wave := "purchase", "post_purchase"
			if rng.Float64() < 0.4 {
				touchpoint, wave = "order_delivered", flows.WaveAPI
			}
			pDetractor := 0.34 - 0.16*progress
			if store == "SH-03" {
				pDetractor += 0.12 * (1 - progress/2)
			}
			if touchpoint == "order_delivered" {
				pDetractor += 0.05
			}
			pPromoter := 0.36 + 0.2*progress
			it := historyItem{
				eventID: fmt.Sprintf("%s%02d-%03d", historyEventPref, week, len(items)), customer: rng.IntN(historyCustomers),
				survey: "post_purchase_nps", wave: wave, at: day.Add(9*time.Hour + time.Duration(rng.IntN(12*3600))*time.Second),
				context: map[string]string{"store": store, "touchpoint": touchpoint, "order_id": fmt.Sprintf("SO-%05d", 20000+len(items))},
			}
			lang := historyLanguage(it.customer)
			switch r := rng.Float64(); {
			case rng.Float64() < 0.15: // never answered
			case r < pDetractor:
				it.inputs = []string{strconv.Itoa([]int{0, 2, 3, 4, 5, 5, 6, 6}[rng.IntN(8)]), pick(comments["detractor"][lang])}
				it.desk = historyCase(rng, nAgents, day, now)
			case r < 1-pPromoter:
				comment := skipWord(lang)
				if rng.IntN(2) == 0 {
					comment = pick(comments["passive"][lang])
				}
				it.inputs = []string{strconv.Itoa(7 + rng.IntN(2)), comment}
			default:
				it.inputs = []string{strconv.Itoa(9 + rng.IntN(2))}
			}
			items = append(items, it)
		}
		for range 3 + rng.IntN(3) {
			it := historyItem{
				eventID: fmt.Sprintf("%s%02d-%03d", historyEventPref, week, len(items)), customer: rng.IntN(historyCustomers),
				survey: "post_service_csat", wave: flows.WaveAPI, at: day.Add(9*time.Hour + time.Duration(rng.IntN(11*3600))*time.Second),
				context: map[string]string{"store": stores[rng.IntN(len(stores))], "touchpoint": "ticket_closed",
					"ticket_id": fmt.Sprintf("TK-%05d", 50000+len(items))},
			}
			lang := historyLanguage(it.customer)
			switch r := rng.Float64(); {
			case rng.Float64() < 0.2: // never answered
			case r < 0.2-0.1*progress: // unhappy, hard work: handed off
				it.inputs = []string{strconv.Itoa(1 + rng.IntN(2)), strconv.Itoa(5 + rng.IntN(3)), pick(comments["detractor"][lang])}
				it.desk = historyCase(rng, nAgents, day, now)
			case r < 0.4-0.1*progress:
				it.inputs = []string{"3", strconv.Itoa(3 + rng.IntN(2)), skipWord(lang)}
			default:
				comment := skipWord(lang)
				if rng.IntN(3) == 0 {
					comment = pick(comments["happy"][lang])
				}
				it.inputs = []string{strconv.Itoa(4 + rng.IntN(2)), strconv.Itoa(1 + rng.IntN(3)), comment}
			}
			items = append(items, it)
		}
	}
	return items
}

// historyCase decides how the desk handled a case opened on day: older
// cases are claimed within the hour, resolved the same day and mostly
// followed up; the last two days' are partly still open or in progress.
func historyCase(rng *rand.Rand, agents int, day, now time.Time) historyDesk {
	h := historyDesk{agent: rng.IntN(agents), claimIn: time.Duration(5+rng.IntN(80)) * time.Minute,
		resolveIn: time.Duration(20+rng.IntN(300)) * time.Minute, outcome: flows.OutcomeResolved}
	if now.Sub(day) < 3*24*time.Hour {
		switch rng.IntN(3) {
		case 0:
			h.claimIn, h.resolveIn = 0, 0
		case 1:
			h.resolveIn = 0
		}
		return h
	}
	switch r := rng.IntN(10); {
	case r == 0:
		h.outcome = flows.OutcomeNoAnswer
	case r == 1:
		h.outcome = flows.OutcomeNotActionable
	case r < 8:
		h.recovery = []int{2, 3, 4, 4, 5, 5, 5}[rng.IntN(7)]
	}
	return h
}

// historyLanguage: two customers in three write Chinese.
func historyLanguage(customer int) string {
	if customer%3 == 2 {
		return "en"
	}
	return "zh-CN"
}

func skipWord(lang string) string {
	if lang == "zh-CN" {
		return "跳过"
	}
	return "skip"
}

// historyResult counts what a seeding added.
type historyResult struct {
	Invitations, Responses, Handoffs int
	From, To                         time.Time
}

// seedHistory writes the plan through st: each customer types their inputs
// into the survey's own state machine (flows.Step), and its steps are
// stored as the conversation service stores them; the desk then notifies,
// claims, resolves and follows up. An invitation that exists already (its
// fixed event id) is skipped, so a second run adds nothing.
func seedHistory(ctx context.Context, st historyStore, surveys map[string]*flows.Survey, now time.Time) (historyResult, error) {
	plan := historyPlan(now)
	res := historyResult{From: plan[0].at, To: plan[len(plan)-1].at}
	agents := historyAgents()
	for i, a := range agents {
		var err error
		if agents[i], err = st.AddAgent(ctx, a); err != nil {
			return res, err
		}
	}
	customers := map[int]flows.Customer{}
	for _, it := range plan {
		survey, ok := surveys[it.survey]
		if !ok {
			return res, fmt.Errorf("the demo's history needs survey %s in the config folder", it.survey)
		}
		lang := historyLanguage(it.customer)
		c, ok := customers[it.customer]
		if !ok {
			var err error
			if c, err = st.UpsertCustomer(ctx, fmt.Sprintf("D-%04d", it.customer+1), lang); err != nil {
				return res, err
			}
			customers[it.customer] = c
		}
		ch, ext := flows.ChannelTelegram, strconv.Itoa(5_000_000+it.customer)
		if it.customer%4 == 3 {
			ch, ext = flows.ChannelWeChat, fmt.Sprintf("oDemo%07d", it.customer)
		}
		status := flows.InvitationSent
		if len(it.inputs) == 0 {
			status = flows.InvitationExpired
		}
		sent := it.at.Add(-time.Duration(2+it.customer%20) * time.Minute)
		inv, created, err := st.CreateInvitation(ctx, flows.Invitation{
			WaveID: it.wave, CustomerID: c.ID, EventID: it.eventID, SurveyID: survey.ID, SurveyVersion: survey.Version,
			Channel: ch, ExternalID: ext, Language: lang, Context: it.context, Status: status,
			SentAt: &sent, CreatedAt: sent, NotBefore: sent, Attempts: 1,
		})
		if err != nil {
			return res, err
		}
		if !created {
			continue
		}
		res.Invitations++
		if len(it.inputs) == 0 {
			continue
		}
		opened, err := seedConversation(ctx, st, survey, inv, it)
		if err != nil {
			return res, fmt.Errorf("history %s: %w", it.eventID, err)
		}
		res.Responses++
		if opened != 0 {
			res.Handoffs++
			if err := seedCase(ctx, st, agents, opened, it, now); err != nil {
				return res, fmt.Errorf("history %s: case: %w", it.eventID, err)
			}
		}
	}
	return res, nil
}

// seedConversation plays one customer's inputs through flows.Step and
// stores each step like conversation.Service does; it returns the response
// id when a case was opened.
func seedConversation(ctx context.Context, st historyStore, survey *flows.Survey, inv flows.Invitation, it historyItem) (int64, error) {
	resp, err := st.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: it.at})
	if err != nil {
		return 0, err
	}
	state, _ := flows.Start(survey, inv.Language, inv.ID, resp.ID, it.at)
	var caseOf int64
	for i, text := range it.inputs {
		at := it.at.Add(time.Duration(i+1) * 40 * time.Second)
		out := flows.Step(survey, state, flows.Input{Text: text}, at)
		if out.Stale || out.Answer == nil {
			return 0, fmt.Errorf("%s did not take %q as an answer", state.QuestionID, text)
		}
		w := out.Write(resp.ID, at, func(p flows.PendingHandoff) flows.Handoff {
			return flows.Handoff{ResponseID: resp.ID, SurveyID: survey.ID, QuestionID: p.QuestionID, Kind: p.Kind, Score: p.Score,
				Class: p.Class, Comment: p.Comment, Channel: inv.Channel, ExternalID: inv.ExternalID, CreatedAt: at}
		})
		w.State = &out.State
		if out.HandoffReady != nil {
			caseOf = resp.ID
		}
		if _, err := st.ApplyStep(ctx, w); err != nil && !errors.Is(err, flows.ErrApplied) {
			return 0, err
		}
		state = out.State
	}
	if state.QuestionID != "" {
		return 0, fmt.Errorf("the script ends before the survey does, at %s", state.QuestionID)
	}
	return caseOf, nil
}

// seedCase moves a seeded case through the desk. Notices are recorded
// without an agents' chat, so the running service never posts reminders
// for them; an unclaimed one is marked reminded already.
func seedCase(ctx context.Context, st historyStore, agents []flows.Agent, responseID int64, it historyItem, now time.Time) error {
	h, err := st.HandoffForResponse(ctx, responseID)
	if err != nil {
		return err
	}
	at := h.CreatedAt.Add(30 * time.Second)
	if err := st.MarkHandoffNotified(ctx, h.ID, at); err != nil {
		return err
	}
	d := it.desk
	if d.claimIn == 0 {
		_, err := st.MarkCaseReminded(ctx, h.ID, at.Add(time.Hour))
		return err
	}
	agent := agents[d.agent]
	at = at.Add(d.claimIn)
	if at.After(now) { // a late case: not claimed yet
		return nil
	}
	if _, _, err := st.ClaimHandoff(ctx, h.ID, agent, at); err != nil {
		return err
	}
	if d.resolveIn == 0 {
		return nil
	}
	at = at.Add(d.resolveIn)
	if at.After(now) {
		return nil
	}
	if _, _, err := st.ResolveHandoff(ctx, h.ID, flows.Resolution{Outcome: d.outcome, By: agent.Name, At: at}); err != nil {
		return err
	}
	if d.outcome != flows.OutcomeResolved {
		return nil
	}
	// The follow-up question counts as sent, so the service does not ask it.
	if at = at.Add(24 * time.Hour); at.After(now) {
		at = now
	}
	if _, err := st.MarkFollowUpSent(ctx, h.ID, at); err != nil {
		return err
	}
	if d.recovery > 0 && at.Add(2*time.Hour).Before(now) {
		if _, _, err := st.RecordRecovery(ctx, responseID, d.recovery, at.Add(2*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}
