package flows

// Kind is the kind of a question.
type Kind string

const (
	KindNPS    Kind = "nps"    // 0–10 "how likely to recommend"
	KindCSAT   Kind = "csat"   // 1–5 satisfaction
	KindCES    Kind = "ces"    // 1–7 customer effort
	KindChoice Kind = "choice" // one of the listed options
	KindText   Kind = "text"   // a free reply
)

// Class is what a scale score says about the customer.
type Class string

const (
	ClassPromoter     Class = "promoter" // NPS
	ClassPassive      Class = "passive"
	ClassDetractor    Class = "detractor"
	ClassSatisfied    Class = "satisfied" // CSAT
	ClassNeutral      Class = "neutral"   // CSAT and CES
	ClassDissatisfied Class = "dissatisfied"
	ClassEasy         Class = "easy" // CES
	ClassDifficult    Class = "difficult"
)

// Text holds one string per language tag ("en", "zh-CN").
type Text map[string]string

// Survey is a questionnaire loaded from configs/surveys/*.yaml.
type Survey struct {
	ID              string
	Version         int // assigned by the store when the definition changes
	Title           Text
	DefaultLanguage string // fallback when the customer's language has no text
	Questions       []Question
	Thresholds      Thresholds
	Messages        Messages
	WeChatTemplate  *WeChatTemplate // invitation outside WeChat's 48-hour window; nil = none
	Source          string          // file the survey came from, for error messages
}

// WeChatTemplate is a template message configured in the Official Account
// admin. Field values may use {survey} (the title), {question} (the first
// question), {valid} (what may be typed) and {date}.
type WeChatTemplate struct {
	ID     Text // template id per language (usually one for all)
	URL    string
	Fields map[string]Text
}

// Question is one step of a survey.
type Question struct {
	ID       string
	Kind     Kind
	Prompt   Text
	Options  []Option // KindChoice only
	Next     string   // question asked when no branch matches; "" ends the survey
	Branches []Branch
	Optional bool // a text question the customer may skip
}

// Option is one answer of a choice question.
type Option struct {
	ID    string
	Label Text
}

// Branch sends the conversation elsewhere when an answer matches When:
// a Class name, "detractor" for any detractor class, or an Option ID.
// Goto "" (or "end") ends the survey.
type Branch struct {
	When string
	Goto string
}

// Thresholds decide the classes of scale scores; every survey may set its own.
type Thresholds struct {
	NPSDetractorMax  int // default 6: 0–6 detractor
	NPSPromoterMin   int // default 9: 9–10 promoter
	CSATDetractorMax int // default 2: 1–2 dissatisfied
	CSATSatisfiedMin int // default 4: 4–5 satisfied
	CESDetractorMin  int // default 5: 5–7 difficult
	CESEasyMax       int // default 3: 1–3 easy
}

// Messages are the survey's own texts around the questions.
type Messages struct {
	Intro    Text // put before the first question of an invitation
	Thanks   Text // when the survey ends
	Handoff  Text // to a detractor: "a person will contact you"
	Expired  Text // to a customer who writes after the conversation expired
	Reprompt Text // optional override; "{valid}" is replaced by the valid range
}
