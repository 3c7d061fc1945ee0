package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/webhooks"
)

// config is every CXBOT_* setting. Environment first; defaults make
// `cxbot serve` run on one machine with no services at all.
type config struct {
	HTTPAddr    string
	DatabaseURL string
	RedisURL    string
	RedisPrefix string
	ConfigDir   string
	APIToken    string
	LinkTTL     time.Duration
	AutoMigrate bool
	LogLevel    string
	LogFormat   string

	TelegramToken         string
	TelegramAPIURL        string
	TelegramAgentChat     int64
	PublicURL             string
	TelegramWebhookSecret string
	TelegramPollTimeout   time.Duration

	ConversationTTL time.Duration
	CommentWait     time.Duration
	ChatLease       time.Duration
	HandoffSweep    string

	// The handoff desk.
	AgentLanguage      string
	SupervisorChat     int64
	HandoffRoutes      []flows.Route
	ClaimSLA           time.Duration
	EscalateAfter      time.Duration
	DeskHours          string
	DeskTimeZone       string
	FollowUpDelay      time.Duration
	ReopenWindow       time.Duration
	DeskSweep          string
	TextRetention      time.Duration // 0: free text is kept
	RetentionSweep     string
	DeliveryLogKeep    time.Duration // finished webhook deliveries are deleted after this
	WeChatDeskTemplate string

	WeChatAppID     string
	WeChatAppSecret string
	WeChatToken     string
	WeChatAESKey    string
	WeChatAPIURL    string

	ReplicaName           string
	DispatchWorkers       int
	WaveSync              string
	TelegramRate          flows.Limit
	APIRate               flows.Limit // zero: no limit
	TelegramChatRate      flows.Limit
	ChatInboundRate       flows.Limit // zero: no limit
	TelegramPaidBroadcast bool
	WeChatRate            flows.Limit
	WeChatChatRate        flows.Limit
	APIQuietHours         []scheduler.TimeRange
	WaveDefaults          scheduler.WaveDefaults

	WebhookURL         string
	WebhookSecret      string
	WebhookMaxAttempts int
}

// setting documents one variable; the table drives loading, validation
// messages and `cxbot serve --help`.
type setting struct {
	name, def, help string
	secret          bool
	apply           func(c *config, v string) error
}

func settings() []setting {
	str := func(dst func(*config) *string) func(*config, string) error {
		return func(c *config, v string) error { *dst(c) = v; return nil }
	}
	dur := func(dst func(*config) *time.Duration) func(*config, string) error {
		return func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a positive duration such as 30s, 10m or 72h", v)
			}
			*dst(c) = d
			return nil
		}
	}
	return []setting{
		{"CXBOT_HTTP_ADDR", ":8080", "address the HTTP server listens on", false, func(c *config, v string) error {
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				return fmt.Errorf("%q is not host:port (for example :8080)", v)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("%q: the port must be a number from 0 to 65535", v)
			}
			c.HTTPAddr = v
			return nil
		}},
		{"CXBOT_DATABASE_URL", "cxbot.db", "postgres://… for PostgreSQL, otherwise a SQLite file path (its folder must exist)", true, func(c *config, v string) error {
			if err := checkDatabaseURL(v); err != nil {
				return err
			}
			c.DatabaseURL = v
			return nil
		}},
		{"CXBOT_REDIS_URL", "", "redis://… for one server, redis+cluster://host1:port1,host2:port2 for a Redis Cluster; empty starts an embedded Redis-compatible server", true, func(c *config, v string) error {
			if err := redisstore.CheckURL(v); err != nil {
				return err
			}
			c.RedisURL = v
			return nil
		}},
		{"CXBOT_REDIS_PREFIX", "cx:", "prefix of every Redis key, to share one Redis between environments", false, func(c *config, v string) error {
			if strings.ContainsAny(v, " \t\r\n") {
				return fmt.Errorf("%q must not contain white space", v)
			}
			if strings.ContainsAny(v, "{}") {
				return fmt.Errorf("%q must not contain { or }: each chat's keys carry a Redis Cluster hash tag of their own", v)
			}
			c.RedisPrefix = v
			return nil
		}},
		{"CXBOT_CONFIG_DIR", "configs", "folder with surveys/*.yaml", false, str(func(c *config) *string { return &c.ConfigDir })},
		{"CXBOT_API_TOKEN", "", "admin bearer token for /api/v1 (cxbot tokens create makes tokens with roles); with it empty and no tokens made, every API call is refused", true, str(func(c *config) *string { return &c.APIToken })},
		{"CXBOT_LINK_TTL", "168h", "how long a deep-link token from POST /api/v1/links works", false, dur(func(c *config) *time.Duration { return &c.LinkTTL })},
		{"CXBOT_AUTO_MIGRATE", "false", "true lets serve apply database migrations at start-up", false, func(c *config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			c.AutoMigrate = b
			return nil
		}},
		{"CXBOT_LOG_LEVEL", "info", "debug, info, warn or error", false, func(c *config, v string) error {
			switch strings.ToLower(v) {
			case "debug", "info", "warn", "error":
				c.LogLevel = strings.ToLower(v)
				return nil
			}
			return fmt.Errorf("%q is not debug, info, warn or error", v)
		}},
		{"CXBOT_LOG_FORMAT", "text", "text (key=value lines) or json (one JSON object per line)", false, func(c *config, v string) error {
			switch strings.ToLower(v) {
			case "text", "json":
				c.LogFormat = strings.ToLower(v)
				return nil
			}
			return fmt.Errorf("%q is not text or json", v)
		}},
		{"CXBOT_TELEGRAM_TOKEN", "", "bot token from @BotFather; empty runs without Telegram", true, str(func(c *config) *string { return &c.TelegramToken })},
		{"CXBOT_TELEGRAM_API_URL", "", "Bot API base URL (self-hosted Bot API server or a test server); empty = api.telegram.org", false, optionalURL(func(c *config) *string { return &c.TelegramAPIURL })},
		{"CXBOT_TELEGRAM_AGENT_CHAT", "", "chat id where agents are told about handoffs (a group id is negative)", false, func(c *config, v string) error {
			if v == "" {
				return nil
			}
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("%q is not a Telegram chat id", v)
			}
			c.TelegramAgentChat = id
			return nil
		}},
		{"CXBOT_PUBLIC_URL", "", "public https URL of this service; set it for webhook mode, leave empty to long-poll", false, optionalURL(func(c *config) *string { return &c.PublicURL })},
		{"CXBOT_TELEGRAM_WEBHOOK_SECRET", "", "secret Telegram sends with each webhook call (1–256 of A-Z a-z 0-9 _ -)", true, func(c *config, v string) error {
			if v != "" && !validWebhookSecret(v) {
				return errors.New("must be 1–256 characters of A-Z, a-z, 0-9, _ and -")
			}
			c.TelegramWebhookSecret = v
			return nil
		}},
		{"CXBOT_WECHAT_APP_ID", "", "Official Account AppID (开发者ID); with the secret and token it turns WeChat on", false, str(func(c *config) *string { return &c.WeChatAppID })},
		{"CXBOT_WECHAT_APP_SECRET", "", "Official Account AppSecret", true, str(func(c *config) *string { return &c.WeChatAppSecret })},
		{"CXBOT_WECHAT_TOKEN", "", "the Token set in the Official Account's server configuration (服务器配置)", true, str(func(c *config) *string { return &c.WeChatToken })},
		{"CXBOT_WECHAT_AES_KEY", "", "EncodingAESKey (43 characters) for compatible or safe mode; empty = plaintext mode", true, func(c *config, v string) error {
			if v != "" && len(v) != 43 {
				return errors.New("must be the 43-character EncodingAESKey")
			}
			c.WeChatAESKey = v
			return nil
		}},
		{"CXBOT_WECHAT_API_URL", "", "WeChat API base URL (a proxy or test server); empty = https://api.weixin.qq.com", false, optionalURL(func(c *config) *string { return &c.WeChatAPIURL })},
		{"CXBOT_TELEGRAM_POLL_TIMEOUT", "30s", "long-poll timeout in polling mode", false, dur(func(c *config) *time.Duration { return &c.TelegramPollTimeout })},
		{"CXBOT_CONVERSATION_TTL", "72h", "an idle conversation expires after this", false, dur(func(c *config) *time.Duration { return &c.ConversationTTL })},
		{"CXBOT_HANDOFF_COMMENT_WAIT", "10m", "a detractor's handoff goes out without a comment after this", false, dur(func(c *config) *time.Duration { return &c.CommentWait })},
		{"CXBOT_CHAT_LEASE", "10s", "how long a chat stays locked after the replica holding it crashed (a running step renews it)", false, dur(func(c *config) *time.Duration { return &c.ChatLease })},
		{"CXBOT_HANDOFF_SWEEP", "@every 30s", "cron spec of the job that retries handoff notices", false, cronSpec(func(c *config) *string { return &c.HandoffSweep })},
		{"CXBOT_AGENT_LANGUAGE", "zh-CN", "the language the desk speaks to agents in: zh-CN or en", false, func(c *config, v string) error {
			if v != "zh-CN" && v != "en" {
				return fmt.Errorf("%q is not zh-CN or en", v)
			}
			c.AgentLanguage = v
			return nil
		}},
		{"CXBOT_TELEGRAM_SUPERVISOR_CHAT", "", "Telegram chat id of the supervisors: cases unclaimed for CXBOT_HANDOFF_ESCALATE_AFTER go there; empty = no escalation", false, func(c *config, v string) error {
			if v == "" {
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("%q is not a Telegram chat id", v)
			}
			c.SupervisorChat = n
			return nil
		}},
		{"CXBOT_HANDOFF_ROUTES", "", "route cases by event attribute to other agents' chats: attribute=glob:chat_id, comma-separated, first match wins (e.g. store=SH-*:-1001234567890)", false, func(c *config, v string) error {
			routes, err := flows.ParseRoutes(v)
			c.HandoffRoutes = routes
			return err
		}},
		{"CXBOT_HANDOFF_CLAIM_SLA", "15m", "an unclaimed case is announced again after this much working time", false, dur(func(c *config) *time.Duration { return &c.ClaimSLA })},
		{"CXBOT_HANDOFF_ESCALATE_AFTER", "60m", "an unclaimed case goes to the supervisors' chat after this much working time", false, dur(func(c *config) *time.Duration { return &c.EscalateAfter })},
		{"CXBOT_DESK_HOURS", "always", "when the desk is staffed, for the SLA clocks: always, or days and hours such as Mon-Fri 09:00-18:00", false, str(func(c *config) *string { return &c.DeskHours })},
		{"CXBOT_DESK_TIME_ZONE", "Asia/Shanghai", "time zone of CXBOT_DESK_HOURS (IANA name)", false, str(func(c *config) *string { return &c.DeskTimeZone })},
		{"CXBOT_HANDOFF_FOLLOWUP_DELAY", "24h", "how long after a case is resolved the customer is asked whether it was fixed", false, dur(func(c *config) *time.Duration { return &c.FollowUpDelay })},
		{"CXBOT_HANDOFF_REOPEN_WINDOW", "168h", "a customer who writes within this time of a resolution reopens the case", false, dur(func(c *config) *time.Duration { return &c.ReopenWindow })},
		{"CXBOT_DESK_SWEEP", "@every 1m", "cron spec of the desk's job: SLA reminders, escalations, follow-up questions", false, cronSpec(func(c *config) *string { return &c.DeskSweep })},
		{"CXBOT_TEXT_RETENTION", "", "free text (answers, handoff comments, relayed messages) older than this is purged, scores kept: days like 365d or a duration like 8760h; empty keeps it", false, func(c *config, v string) error {
			d, err := flows.ParseRetention(v)
			c.TextRetention = d
			return err
		}},
		{"CXBOT_RETENTION_SWEEP", "@every 1h", "cron spec of the housekeeping job: CXBOT_TEXT_RETENTION, finished webhook deliveries, expired link tokens", false, cronSpec(func(c *config) *string { return &c.RetentionSweep })},
		{"CXBOT_WEBHOOK_LOG_RETENTION", "30d", "delivered and given-up webhook deliveries older than this leave the delivery log: days like 30d or a duration (at least a day)", false, func(c *config, v string) error {
			d, err := flows.ParseRetention(v)
			if err == nil && d <= 0 {
				err = fmt.Errorf("%q: the delivery log must be pruned: give days like 30d", v)
			}
			c.DeliveryLogKeep = d
			return err
		}},
		{"CXBOT_WECHAT_DESK_TEMPLATE", "", "the WeChat template agents are told to use when a customer is outside the 48-hour window (shown to them; not sent by cxbot)", false, str(func(c *config) *string { return &c.WeChatDeskTemplate })},
		{"CXBOT_REPLICA_NAME", "", "this replica's name in invitation claims and logs; empty = host name and process id", false, str(func(c *config) *string { return &c.ReplicaName })},
		{"CXBOT_DISPATCH_WORKERS", "2", "invitation dispatch workers in this replica (0 = this replica does not send waves)", false, func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 64 {
				return fmt.Errorf("%q is not a number from 0 to 64", v)
			}
			c.DispatchWorkers = n
			return nil
		}},
		{"CXBOT_WAVE_SYNC", "@every 30s", "cron spec: how often a replica picks up waves created or paused elsewhere", false, cronSpec(func(c *config) *string { return &c.WaveSync })},
		{"CXBOT_API_RATE", "", "calls to /api/ per client IP, all replicas together, with a burst of as many (e.g. 20/s); empty = no limit", false, func(c *config, v string) error {
			if v == "" {
				return nil
			}
			if err := rate(func(c *config) *flows.Limit { return &c.APIRate })(c, v); err != nil {
				return err
			}
			c.APIRate.Burst = c.APIRate.Count
			return nil
		}},
		{"CXBOT_CHAT_INBOUND_RATE", "30/min", "updates one chat (Telegram or WeChat) may send, all replicas together, with a burst of as many; the excess is acknowledged and dropped; off = no limit", false, func(c *config, v string) error {
			if v == "off" {
				c.ChatInboundRate = flows.Limit{}
				return nil
			}
			if err := rate(func(c *config) *flows.Limit { return &c.ChatInboundRate })(c, v); err != nil {
				return fmt.Errorf("%w (or off)", err)
			}
			c.ChatInboundRate.Burst = c.ChatInboundRate.Count
			return nil
		}},
		{"CXBOT_TELEGRAM_RATE", "30/s", "invitations and reminders per bot, all replicas together", false, rate(func(c *config) *flows.Limit { return &c.TelegramRate })},
		{"CXBOT_TELEGRAM_CHAT_RATE", "1/s", "messages the dispatcher sends to one chat", false, rate(func(c *config) *flows.Limit { return &c.TelegramChatRate })},
		{"CXBOT_TELEGRAM_PAID_BROADCAST", "false", "true sends invitations with allow_paid_broadcast at up to 1000/s (Telegram Stars are charged)", false, func(c *config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			c.TelegramPaidBroadcast = b
			return nil
		}},
		{"CXBOT_WECHAT_RATE", "20/s", "WeChat invitations and reminders, all replicas together", false, rate(func(c *config) *flows.Limit { return &c.WeChatRate })},
		{"CXBOT_WECHAT_CHAT_RATE", "1/s", "messages the dispatcher sends to one WeChat user", false, rate(func(c *config) *flows.Limit { return &c.WeChatChatRate })},
		{"CXBOT_API_QUIET_HOURS", "21:00-09:00", `quiet hours of direct API invitations, in the customer's time zone (UTC if unknown): refused with 409 unless the call says "now": true; "off" for none`, false, func(c *config, v string) error {
			r, err := scheduler.ParseQuietHours(v)
			if err != nil {
				return fmt.Errorf("%s (want HH:MM-HH:MM, several separated by commas, or off)", err)
			}
			c.APIQuietHours = r
			return nil
		}},
		{"CXBOT_DEFAULT_FREQUENCY_CAP", "1 per 7d", `frequency cap of every wave that names none (invitations sent to one customer by all waves together, "1 per 7d"); "off" for none, but a segment wave always needs one`, false, func(c *config, v string) error {
			fc, err := scheduler.ParseFrequencyCap(v)
			if err != nil {
				return fmt.Errorf("%s (or off)", err)
			}
			c.WaveDefaults.FrequencyCap = fc
			return nil
		}},
		{"CXBOT_DEFAULT_QUIET_HOURS", "21:00-09:00", `quiet hours of every wave that names none, in the customer's time zone (else the wave's, else UTC): sends wait until they end; several ranges separated by commas; "off" for none`, false, func(c *config, v string) error {
			r, err := scheduler.ParseQuietHours(v)
			if err != nil {
				return fmt.Errorf("%s (want HH:MM-HH:MM, several separated by commas, or off)", err)
			}
			c.WaveDefaults.QuietHours = r
			return nil
		}},
		{"CXBOT_WEBHOOK_URL", "", "the business's receiver of outbound webhooks (response.completed, handoff.*); empty turns them off", false, func(c *config, v string) error {
			if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return fmt.Errorf("%q is not an http(s) URL", v)
			}
			c.WebhookURL = v
			return nil
		}},
		{"CXBOT_WEBHOOK_SECRET", "", "HMAC-SHA256 key signing each outbound webhook (at least 16 characters); required with CXBOT_WEBHOOK_URL", true, func(c *config, v string) error {
			if v != "" && len(v) < webhooks.MinSecretLength {
				return fmt.Errorf("must be at least %d characters", webhooks.MinSecretLength)
			}
			c.WebhookSecret = v
			return nil
		}},
		{"CXBOT_WEBHOOK_MAX_ATTEMPTS", "15", "attempts per outbound webhook before it is given up (backoff 10s doubling, capped at 1h: 15 is about a day)", false, func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return fmt.Errorf("%q is not a number from 1 to 100", v)
			}
			c.WebhookMaxAttempts = n
			return nil
		}},
	}
}

// loadConfig reads the settings from getenv and checks them together; the
// error names every bad setting, never a secret's value.
func loadConfig(getenv func(string) string) (config, error) {
	var c config
	var errs []error
	for _, s := range settings() {
		v, ok := strings.TrimSpace(getenv(s.name)), true
		if v == "" {
			v, ok = s.def, false
		}
		if err := s.apply(&c, v); err != nil {
			msg := settingMessage(err)
			if s.secret && ok {
				msg = redact(msg, v)
			}
			errs = append(errs, fmt.Errorf("%s: %s", s.name, msg))
		}
	}
	if _, err := time.LoadLocation(c.DeskTimeZone); err != nil {
		errs = append(errs, fmt.Errorf("CXBOT_DESK_TIME_ZONE: %q is not an IANA time zone such as Asia/Shanghai", c.DeskTimeZone))
	} else if _, err := flows.ParseWorkingHours(c.DeskHours, c.DeskTimeZone); err != nil {
		errs = append(errs, fmt.Errorf("CXBOT_DESK_HOURS: %s", settingMessage(err)))
	}
	if c.EscalateAfter < c.ClaimSLA {
		errs = append(errs, errors.New("CXBOT_HANDOFF_ESCALATE_AFTER: must not be shorter than CXBOT_HANDOFF_CLAIM_SLA"))
	}
	if c.PublicURL != "" && c.TelegramToken != "" && c.TelegramWebhookSecret == "" {
		errs = append(errs, errors.New("CXBOT_TELEGRAM_WEBHOOK_SECRET: required in webhook mode (CXBOT_PUBLIC_URL is set)"))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") && !isLocal(c.PublicURL) {
		errs = append(errs, errors.New("CXBOT_PUBLIC_URL: Telegram only calls https webhooks"))
	}
	if set := c.WeChatAppID != "" || c.WeChatAppSecret != "" || c.WeChatToken != ""; set && (c.WeChatAppID == "" || c.WeChatAppSecret == "" || c.WeChatToken == "") {
		errs = append(errs, errors.New("CXBOT_WECHAT_APP_ID, CXBOT_WECHAT_APP_SECRET and CXBOT_WECHAT_TOKEN: set all three to use WeChat"))
	}
	if c.WebhookURL != "" && c.WebhookSecret == "" {
		errs = append(errs, errors.New("CXBOT_WEBHOOK_SECRET: required when CXBOT_WEBHOOK_URL is set"))
	}
	if c.ReplicaName == "" {
		host, _ := os.Hostname()
		c.ReplicaName = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.TelegramPaidBroadcast && getenv("CXBOT_TELEGRAM_RATE") == "" {
		c.TelegramRate = flows.Limit{Count: 1000, Per: time.Second}
	}
	return c, errors.Join(errs...)
}

// settingMessage is err's text without the domain's sentinel prefixes
// ("invalid: "), which mean nothing to whoever set the variable.
func settingMessage(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"invalid: ", "open database: "} {
		msg = strings.ReplaceAll(msg, prefix, "")
	}
	return msg
}

// redact keeps the reason a secret setting is wrong but never shows the
// secret: the value, and a URL's password, become "***".
func redact(msg, value string) string {
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if pass, ok := u.User.Password(); ok && pass != "" {
			msg = strings.ReplaceAll(msg, pass, "***")
		}
	}
	msg = strings.ReplaceAll(msg, strconv.Quote(value), `"***"`)
	if len(value) >= 4 {
		msg = strings.ReplaceAll(msg, value, "***")
	}
	return msg
}

// cronSpec accepts what the scheduler accepts ("@every 30s", "*/5 * * * *").
func cronSpec(dst func(*config) *string) func(*config, string) error {
	return func(c *config, v string) error {
		if _, err := scheduler.ParseCron(v); err != nil {
			return fmt.Errorf("%q is not a cron spec such as \"@every 30s\" or \"*/5 * * * *\": %v", v, err)
		}
		*dst(c) = v
		return nil
	}
}

// checkDatabaseURL refuses what sqlstore.Open would refuse, before anything
// is opened, and a SQLite file in a folder that does not exist: a typo in
// the path must not create folders and serve an empty database.
func checkDatabaseURL(v string) error {
	switch {
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if _, err := url.Parse(v); err != nil {
			return errors.New("is not a valid postgres:// URL")
		}
		return nil
	case strings.Contains(v, "://") && !strings.HasPrefix(v, "sqlite://"):
		scheme, _, _ := strings.Cut(v, "://")
		return fmt.Errorf("unsupported URL scheme %q: use postgres://… or a SQLite file path", scheme)
	}
	file, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(v, "sqlite://"), "sqlite:"), "?")
	if file == "" || file == ":memory:" || strings.HasPrefix(file, "file:") {
		return nil
	}
	dir := filepath.Dir(file)
	info, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("the folder %s of the SQLite file does not exist: create it, or fix the path (cxbot creates the file, not folders)", dir)
	case !info.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	return nil
}

// configWarnings are settings that work but are probably not what was meant.
func configWarnings(c config) []string {
	var out []string
	if c.APIToken == "" {
		out = append(out, "CXBOT_API_TOKEN is empty: /api/v1 takes only tokens made with cxbot tokens create (with none, every call is refused with 401)")
	}
	return out
}

// rate parses "30/s", "20/min" or "1000/h" into a limit.
func rate(dst func(*config) *flows.Limit) func(*config, string) error {
	return func(c *config, v string) error {
		count, unit, ok := strings.Cut(v, "/")
		n, err := strconv.Atoi(strings.TrimSpace(count))
		per := map[string]time.Duration{"s": time.Second, "sec": time.Second, "m": time.Minute, "min": time.Minute, "h": time.Hour}[strings.TrimSpace(unit)]
		if !ok || err != nil || n < 1 || per == 0 {
			return fmt.Errorf("%q is not a rate such as 30/s or 20/min", v)
		}
		*dst(c) = flows.Limit{Count: n, Per: per}
		return nil
	}
}

// optionalURL accepts an empty value or an http(s) URL, stored without a
// trailing slash.
func optionalURL(dst func(*config) *string) func(*config, string) error {
	return func(c *config, v string) error {
		if v != "" {
			if err := checkHTTPURL(v); err != nil {
				return err
			}
		}
		*dst(c) = strings.TrimRight(v, "/")
		return nil
	}
}

func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

func isLocal(v string) bool {
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	host := u.Hostname()
	return host == "localhost" || net.ParseIP(host).IsLoopback()
}

func validWebhookSecret(v string) bool {
	if len(v) > 256 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// envOf serves settings from a map instead of the process environment, for
// the demo and tests.
func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}
