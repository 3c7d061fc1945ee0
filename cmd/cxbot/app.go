package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/bot/wechat"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/desk"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/httpapi"
	"github.com/cxbot/cxbot/scheduler"
	"github.com/cxbot/cxbot/segment"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
	"github.com/cxbot/cxbot/webhooks"
)

// app is one running cxbot: stores, channels, the conversation service, the
// HTTP server and the cron table, wired from a config.
type app struct {
	cfg      config
	log      *slog.Logger
	surveys  map[string]*flows.Survey // as loaded, versions assigned
	db       *sqlstore.DB
	redis    *redisstore.Store // owns the connection
	states   *redisstore.Store // the same connection, keys under CXBOT_REDIS_PREFIX
	telegram *telegram.Adapter // nil without a token
	wechat   *wechat.Adapter   // nil without an Official Account
	conv     *conversation.Service
	desk     *desk.Service
	api      *httpapi.Server
	sched    *scheduler.Scheduler
	waves    *scheduler.Manager
	dispatch []*scheduler.Dispatcher
	metrics  *metrics            // GET /metrics
	hooks    *webhooks.Deliverer // nil without CXBOT_WEBHOOK_URL
}

// openDatabase opens SQL and makes sure the schema is current: serve must
// not run against a schema it does not know unless told to migrate.
// openConfiguredDatabase opens the database the environment configures,
// migrating it when CXBOT_AUTO_MIGRATE says so: what a store-backed CLI
// subcommand (agents, tokens) works on.
func openConfiguredDatabase(ctx context.Context, getenv func(string) string, stderr io.Writer) (*sqlstore.DB, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	return openDatabase(ctx, cfg, newLogger(stderr, cfg.LogLevel, cfg.LogFormat), cfg.AutoMigrate)
}

func openDatabase(ctx context.Context, cfg config, log *slog.Logger, migrate bool) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, fmt.Errorf("CXBOT_DATABASE_URL: %w", err)
	}
	current, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	switch {
	case current > latest:
		db.Close()
		return nil, fmt.Errorf("database schema is at version %d, newer than this cxbot (%d): upgrade cxbot", current, latest)
	case current < latest && !migrate:
		db.Close()
		return nil, fmt.Errorf("database schema is at version %d, cxbot needs %d: run `cxbot migrate` first, or start with --migrate (CXBOT_AUTO_MIGRATE=true)", current, latest)
	case current < latest:
		applied, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		log.Info("database migrated", "applied", applied)
	}
	if off, err := db.AutovacuumOff(ctx); err == nil && off {
		log.Warn("PostgreSQL's autovacuum is off: nothing refreshes the planner's statistics as the tables grow, " +
			"and the plans it caches for cxbot's statements stay those made for the sizes first seen (sequential scans " +
			"that slow every answer); turn it on (the default), or ANALYZE the tables regularly")
	}
	return db, nil
}

func newApp(ctx context.Context, cfg config, log *slog.Logger, migrate bool) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, metrics: newMetrics()}
	defer func() {
		if err != nil {
			a.close() // whatever was opened before the failure
		}
	}()
	surveys, err := flows.LoadSurveys(filepath.Join(cfg.ConfigDir, "surveys"))
	if err != nil {
		return nil, fmt.Errorf("surveys: %w", err)
	}
	if len(surveys) == 0 {
		return nil, fmt.Errorf("CXBOT_CONFIG_DIR: no surveys in %s", filepath.Join(cfg.ConfigDir, "surveys"))
	}
	// Every file is checked before any store is opened.
	if _, err := scheduler.ReadWaveDir(filepath.Join(cfg.ConfigDir, "waves"), func(id string) bool { return surveys[id] != nil }); err != nil {
		return nil, fmt.Errorf("waves: %w", err)
	}
	for _, w := range configWarnings(cfg) {
		log.Warn(w)
	}
	if a.db, err = openDatabase(ctx, cfg, log, migrate); err != nil {
		return nil, err
	}
	a.db.Webhooks = cfg.WebhookURL != "" // the desk's handoff.* events go to the outbox with each move
	for id, s := range surveys {
		if s.Version, err = a.db.SaveSurvey(ctx, s); err != nil {
			return nil, fmt.Errorf("save survey %s: %w", id, err)
		}
	}
	a.surveys = surveys
	if a.redis, err = redisstore.Open(ctx, cfg.RedisURL, log); err != nil {
		return nil, fmt.Errorf("CXBOT_REDIS_URL: %w", err)
	}
	a.instrument()
	a.states = a.redis.WithPrefix(cfg.RedisPrefix)
	if a.redis.Embedded() {
		log.Info("using the embedded Redis-compatible server (set CXBOT_REDIS_URL for several replicas)")
	}

	var channels []bot.Channel
	if cfg.TelegramToken != "" {
		a.telegram, err = telegram.New(telegram.Config{
			Token: cfg.TelegramToken, APIURL: cfg.TelegramAPIURL, WebhookSecret: cfg.TelegramWebhookSecret,
			PublicURL: cfg.PublicURL, AgentChatID: cfg.TelegramAgentChat, PollTimeout: cfg.TelegramPollTimeout,
			DecodeTap: flows.DecodeTap, PaidBroadcast: cfg.TelegramPaidBroadcast,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("CXBOT_TELEGRAM_TOKEN: %w", err)
		}
		channels = append(channels, a.metrics.channel(a.telegram))
	}

	links := conversation.NewLinks(a.db, cfg.LinkTTL, nil)
	if cfg.WeChatAppID != "" {
		a.wechat, err = wechat.New(wechat.Config{
			AppID: cfg.WeChatAppID, AppSecret: cfg.WeChatAppSecret, Token: cfg.WeChatToken, AESKey: cfg.WeChatAESKey,
			APIURL: cfg.WeChatAPIURL, DecodeTap: flows.DecodeTap, Cache: a.states, Nonces: a.states, Quota: a.states,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("CXBOT_WECHAT_*: %w", err)
		}
		channels = append(channels, a.metrics.channel(a.wechat))
	}
	if len(channels) == 0 {
		log.Warn("no chat channel configured: set CXBOT_TELEGRAM_TOKEN or CXBOT_WECHAT_APP_ID")
	}
	if a.desk, err = newDesk(cfg, a.db, a.states, a.telegram, channels, log, a.quietUntil()); err != nil {
		return nil, err
	}
	limits := channelLimits(cfg)
	a.conv, err = conversation.New(conversation.Config{
		Records: meteredRecords{a.db, a.metrics}, States: a.states, Channels: channels, Desk: a.desk,
		Throttle: scheduler.APIThrottle(meteredLimiter{a.states, a.metrics}, limits),
		Surveys:  surveys, Links: links, Logger: log,
		ConversationTTL: cfg.ConversationTTL, CommentWait: cfg.CommentWait, LeaseTTL: cfg.ChatLease,
		Webhooks: cfg.WebhookURL != "",
		Inbound:  conversation.InboundLimit{Limiter: a.states, Limit: cfg.ChatInboundRate, Dropped: a.metrics.inboundDropped()},
	})
	if err != nil {
		return nil, err
	}
	a.sched = scheduler.New(a.states, log, nil)
	if err := a.wireWaves(ctx, surveys, limits); err != nil {
		return nil, err
	}
	a.api = httpapi.New(httpapi.Config{
		Token: cfg.APIToken, Tokens: a.db, Conversations: a.conv, Insight: a.db, Responses: a.db, Comments: a.db, Words: segment.New(), Links: links, Logger: log,
		Events: a.db, Waves: a.waves, Desk: a.desk, Agents: a.db, Webhooks: a.db, Privacy: privacyService{a.db, a.states, log},
		Checks:     []httpapi.Check{{Name: "database", Probe: a.db.Ping}, {Name: "redis", Probe: a.states.Ping}},
		QuietUntil: a.quietUntil(),
		Limiter:    a.states, ClientLimit: cfg.APIRate,
		Previews: channelPreviews(),
	})
	if cfg.WebhookURL != "" {
		a.hooks, err = webhooks.New(a.db, webhooks.Config{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret, MaxAttempts: cfg.WebhookMaxAttempts, Logger: log})
		if err != nil {
			return nil, err
		}
	}
	if a.telegram != nil {
		a.api.Handle(telegram.WebhookPath, a.telegram.WebhookHandler(updateRouter{meteredUpdates{a.conv, a.metrics}, a.desk}))
	}
	if a.wechat != nil {
		a.api.Handle(wechat.WebhookPath, a.wechat.WebhookHandler(meteredUpdates{a.conv, a.metrics}))
	}
	a.api.Handle("GET /metrics", a.metrics.handler())
	err = a.sched.Add(scheduler.Job{Name: "handoff-sweep", Spec: cfg.HandoffSweep, Run: func(ctx context.Context, _ time.Time) error {
		n, err := a.conv.NotifyPendingHandoffs(ctx)
		if n > 0 {
			log.Info("pending handoffs notified", "count", n)
		}
		return err
	}})
	if err != nil {
		return nil, fmt.Errorf("CXBOT_HANDOFF_SWEEP: %w", err)
	}
	if err := a.sched.Add(scheduler.Job{Name: "desk-sweep", Spec: cfg.DeskSweep, Run: func(ctx context.Context, _ time.Time) error {
		return a.desk.Sweep(ctx)
	}}); err != nil {
		return nil, fmt.Errorf("CXBOT_DESK_SWEEP: %w", err)
	}
	if err := a.addRetentionJob(); err != nil {
		return nil, err
	}
	if err := a.addHousekeepingJob(); err != nil {
		return nil, err
	}
	return a, nil
}

// channelLimits are the platforms' configured limits, shared by the wave
// dispatchers, reminders and API invitations.
func channelLimits(cfg config) map[flows.Channel]scheduler.ChannelLimits {
	return map[flows.Channel]scheduler.ChannelLimits{
		flows.ChannelTelegram: scheduler.NewChannelLimits(cfg.TelegramRate, cfg.TelegramChatRate),
		flows.ChannelWeChat:   scheduler.NewChannelLimits(cfg.WeChatRate, cfg.WeChatChatRate),
	}
}

// waveLive is what a wave preview reads: caps from SQL, surveys in
// progress from Redis.
type waveLive struct {
	sent interface {
		SentSince(ctx context.Context, customerID int64, since time.Time) (int, error)
	}
	states interface {
		LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error)
	}
}

func (l waveLive) SentSince(ctx context.Context, customerID int64, since time.Time) (int, error) {
	return l.sent.SentSince(ctx, customerID, since)
}

func (l waveLive) LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error) {
	return l.states.LoadState(ctx, ch, chatID)
}

// wireWaves loads the waves (files and SQL), schedules them, and prepares
// this replica's dispatch workers.
func (a *app) wireWaves(ctx context.Context, surveys map[string]*flows.Survey, limits map[flows.Channel]scheduler.ChannelLimits) error {
	a.waves = scheduler.NewManager(scheduler.ManagerConfig{
		Store: a.db, FollowUps: a.db, Planner: scheduler.NewPlanner(a.db, surveys, a.log), Scheduler: a.sched,
		Convs: a.conv, Limiter: meteredLimiter{a.states, a.metrics}, Limits: limits, Surveys: surveys, Logger: a.log,
		Defaults: a.cfg.WaveDefaults, Live: waveLive{a.db, a.states},
	})
	if err := a.waves.LoadDir(ctx, filepath.Join(a.cfg.ConfigDir, "waves")); err != nil {
		return fmt.Errorf("waves: %w", err)
	}
	if err := a.waves.Sync(ctx); err != nil {
		// Files were checked above; a stored API wave that no longer parses
		// (its survey was removed) must not keep every replica from starting.
		a.log.Error("waves not scheduled", "err", err)
	}
	err := a.sched.Add(scheduler.Job{Name: "wave-sync", Spec: a.cfg.WaveSync, EveryReplica: true, Run: func(ctx context.Context, _ time.Time) error {
		return a.waves.Sync(ctx)
	}})
	if err != nil {
		return fmt.Errorf("CXBOT_WAVE_SYNC: %w", err)
	}
	for i := range a.cfg.DispatchWorkers {
		a.dispatch = append(a.dispatch, scheduler.NewDispatcher(scheduler.DispatcherConfig{
			Store: a.db, Limiter: meteredLimiter{a.states, a.metrics}, Sender: a.conv, Waves: a.waves.Lookup,
			Owner: fmt.Sprintf("%s/%d", a.cfg.ReplicaName, i), Limits: limits, Logger: a.log, Observe: a.metrics.observeDispatch,
		}))
	}
	return nil
}

// run serves HTTP on ln, receives Telegram updates (webhook or long polling)
// and runs the cron table until ctx ends, then shuts down gracefully.
func (a *app) run(ctx context.Context, ln net.Listener) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	srv := &http.Server{Handler: a.metrics.instrumentHTTP(a.api), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.log.Info("cxbot serving", "addr", ln.Addr().String())

	polling := make(chan error, 1)
	pollerStarted := false
	if a.telegram != nil {
		if a.cfg.PublicURL != "" {
			if err := a.telegram.RegisterWebhook(ctx); err != nil {
				srv.Close()
				if ctx.Err() != nil {
					return nil // asked to stop while starting: not a failure
				}
				return fmt.Errorf("telegram setWebhook: %w", err)
			}
		} else {
			if err := a.telegram.DeleteWebhook(ctx); err != nil {
				srv.Close()
				if ctx.Err() != nil {
					return nil // asked to stop while starting: not a failure
				}
				return fmt.Errorf("telegram deleteWebhook: %w", err)
			}
			go func() { polling <- a.telegram.Poll(ctx, updateRouter{meteredUpdates{a.conv, a.metrics}, a.desk}) }()
			pollerStarted = true
			a.log.Info("telegram long polling")
		}
	}
	a.sched.Start()
	var workers sync.WaitGroup
	for _, d := range a.dispatch {
		workers.Go(func() { d.Run(ctx) })
	}
	if a.hooks != nil {
		workers.Go(func() { a.hooks.Run(ctx) })
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-served:
	case runErr = <-polling:
		pollerStarted = false
	}
	stop()
	if pollerStarted {
		// The update in hand finishes before the stores close under it.
		runErr = errors.Join(runErr, <-polling)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := a.sched.Stop(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	workers.Wait()
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// instrument feeds the metrics from the stores, before anything runs
// concurrently (the hooks are not synchronised with calls in flight).
func (a *app) instrument() {
	a.redis.Client().AddHook(redisHook{a.metrics})
	a.db.OnStatementDone(func(took time.Duration, failed bool) {
		a.metrics.sqlDuration.Observe(took.Seconds())
		if failed {
			a.metrics.sqlErrors.Inc()
		}
	})
	a.db.OnStatement(func(s sqlstore.Statement) {
		if s == sqlstore.StatementPipelined {
			a.metrics.sqlPipelined.Inc()
		}
	})
	a.metrics.openHandoffs(a.db.OpenHandoffs, time.Now)
}

func (a *app) close() {
	if a.redis != nil {
		a.redis.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// channelPreviews are the adapters' own renderers, for the survey preview:
// what the dashboard shows is what Send sends.
func channelPreviews() []httpapi.ChannelPreview {
	return []httpapi.ChannelPreview{
		{Channel: flows.ChannelTelegram, Render: func(m flows.Message) (any, error) { return telegram.Render(m) }},
		{Channel: flows.ChannelWeChat, Render: func(m flows.Message) (any, error) { return wechat.Render(m), nil }},
	}
}
