package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// metrics is what an operator watches, served at GET /metrics in the
// Prometheus text format. Each app has its own registry (no global state):
// the series are fed by thin wrappers around the parts cmd wires, so the
// layers below know nothing of Prometheus. No label carries customer data.
type metrics struct {
	reg *prometheus.Registry

	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	updates        *prometheus.CounterVec
	answers        *prometheus.CounterVec
	handoffsOpened prometheus.Counter
	sends          *prometheus.CounterVec
	dispatch       *prometheus.CounterVec
	dispatchLag    prometheus.Histogram
	rateWaits      prometheus.Counter
	rateWaitTime   prometheus.Histogram
	redisDuration  *prometheus.HistogramVec
	redisErrors    prometheus.Counter
	sqlDuration    prometheus.Histogram
	sqlErrors      prometheus.Counter
	sqlPipelined   prometheus.Counter
}

// latencyBuckets spans a fast Redis command to a slow platform call.
func latencyBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{reg: reg}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxbot_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cxbot_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route pattern.", Buckets: latencyBuckets()}, []string{"route"})
	m.updates = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxbot_updates_total",
		Help: "Platform updates (taps, messages, follows) handled, by channel and outcome (ok, error: the platform redelivers)."}, []string{"channel", "outcome"})
	m.answers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxbot_answers_total",
		Help: "Answers stored in SQL, by question kind and class (promoter, detractor, …; none for choice and text)."}, []string{"kind", "class"})
	m.handoffsOpened = prometheus.NewCounter(prometheus.CounterOpts{Name: "cxbot_handoffs_opened_total",
		Help: "Detractor handoffs opened."})
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxbot_sends_total",
		Help: "Messages sent to customers through a platform, by channel and outcome (ok, rate_limited, blocked, quota_spent, error)."}, []string{"channel", "outcome"})
	m.dispatch = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxbot_wave_dispatch_attempts_total",
		Help: "Wave invitation send attempts, by channel and outcome (sent, deferred, rate_limited, retry, failed, blocked, skipped, expired)."}, []string{"channel", "outcome"})
	m.dispatchLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cxbot_wave_dispatch_lag_seconds",
		Help: "How long after an invitation was due its send attempt ended.", Buckets: []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600}})
	m.rateWaits = prometheus.NewCounter(prometheus.CounterOpts{Name: "cxbot_rate_limit_waits_total",
		Help: "Sends that waited for a platform rate limit (global or per chat) before going out."})
	m.rateWaitTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cxbot_rate_limit_wait_seconds",
		Help: "Time spent waiting for a platform rate limit.", Buckets: []float64{.01, .05, .1, .5, 1, 5, 30}})
	m.redisDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cxbot_redis_duration_seconds",
		Help: "Redis round trips, by kind (command, pipeline).", Buckets: latencyBuckets()}, []string{"kind"})
	m.redisErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "cxbot_redis_errors_total",
		Help: "Redis round trips that failed (a missing key is not a failure)."})
	m.sqlDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cxbot_sql_duration_seconds",
		Help: "SQL statements' round trip time.", Buckets: latencyBuckets()})
	m.sqlErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "cxbot_sql_errors_total",
		Help: "SQL statements that failed (a row not found is not a failure)."})
	m.sqlPipelined = prometheus.NewCounter(prometheus.CounterOpts{Name: "cxbot_sql_pipelined_total",
		Help: "SQL statements sent in the round trip of another (concurrent steps batched into one round trip and one commit); round trips are the statements less these."})
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.updates, m.answers, m.handoffsOpened, m.sends,
		m.dispatch, m.dispatchLag, m.rateWaits, m.rateWaitTime, m.redisDuration, m.redisErrors, m.sqlDuration, m.sqlErrors, m.sqlPipelined,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// handler serves the registry.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// openHandoffs exports the handoffs waiting for an agent and the age of the
// oldest, read from SQL at each scrape (every replica reports the same
// figure: alert on max, not sum).
func (m *metrics) openHandoffs(read func(ctx context.Context) (int64, time.Time, error), now func() time.Time) {
	m.reg.MustRegister(&handoffCollector{read: read, now: now,
		count: prometheus.NewDesc("cxbot_handoffs_open", "Handoffs waiting for an agent (awaiting a comment or open).", nil, nil),
		age:   prometheus.NewDesc("cxbot_handoff_oldest_open_age_seconds", "Age of the oldest handoff waiting for an agent (0 when none).", nil, nil),
	})
}

type handoffCollector struct {
	read       func(ctx context.Context) (int64, time.Time, error)
	now        func() time.Time
	count, age *prometheus.Desc
}

func (c *handoffCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.count; ch <- c.age }

func (c *handoffCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.count, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = c.now().Sub(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// instrumentHTTP counts and times every request by the pattern the mux
// matched (never the raw path, which holds ids).
func (m *metrics) instrumentHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.httpRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// updateHandler is what the channel adapters hand updates to.
type updateHandler interface {
	HandleUpdate(ctx context.Context, u flows.Update) error
}

type meteredUpdates struct {
	next updateHandler
	m    *metrics
}

func (h meteredUpdates) HandleUpdate(ctx context.Context, u flows.Update) error {
	err := h.next.HandleUpdate(ctx, u)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	h.m.updates.WithLabelValues(string(u.Channel), outcome).Inc()
	return err
}

// meteredRecords counts answers and handoffs as they are committed.
type meteredRecords struct {
	conversation.Records
	m *metrics
}

func (r meteredRecords) ApplyStep(ctx context.Context, w flows.StepWrite) (bool, error) {
	ok, err := r.Records.ApplyStep(ctx, w)
	if err == nil {
		if a := w.Answer; a != nil && !a.Skipped {
			class := string(a.Class)
			if class == "" {
				class = "none"
			}
			r.m.answers.WithLabelValues(string(a.Kind), class).Inc()
		}
		if w.OpenHandoff != nil {
			r.m.handoffsOpened.Inc()
		}
	}
	return ok, err
}

// meteredChannel counts what a channel adapter sends.
type meteredChannel struct {
	bot.Channel
	m *metrics
}

func (c meteredChannel) Send(ctx context.Context, chatID string, msg flows.Message) (int, error) {
	id, err := c.Channel.Send(ctx, chatID, msg)
	c.m.sends.WithLabelValues(string(c.Name()), sendOutcome(err)).Inc()
	return id, err
}

// meteredTemplateChannel keeps a WeChat adapter a bot.TemplateSender.
type meteredTemplateChannel struct {
	meteredChannel
	templates bot.TemplateSender
}

func (c meteredTemplateChannel) SendTemplate(ctx context.Context, chatID, templateID, url string, data map[string]string) error {
	err := c.templates.SendTemplate(ctx, chatID, templateID, url, data)
	c.m.sends.WithLabelValues(string(c.Name()), sendOutcome(err)).Inc()
	return err
}

// photoSender is a channel that sends photos (Telegram), which the desk
// relays between agents and customers.
type photoSender interface {
	SendPhoto(ctx context.Context, chatID, photoID, caption string) (int, error)
}

// meteredPhotoChannel keeps a Telegram adapter a photo sender.
type meteredPhotoChannel struct {
	meteredChannel
	photos photoSender
}

func (c meteredPhotoChannel) SendPhoto(ctx context.Context, chatID, photoID, caption string) (int, error) {
	id, err := c.photos.SendPhoto(ctx, chatID, photoID, caption)
	c.m.sends.WithLabelValues(string(c.Name()), sendOutcome(err)).Inc()
	return id, err
}

func (m *metrics) channel(ch bot.Channel) bot.Channel {
	mc := meteredChannel{Channel: ch, m: m}
	if t, ok := ch.(bot.TemplateSender); ok {
		return meteredTemplateChannel{meteredChannel: mc, templates: t}
	}
	if p, ok := ch.(photoSender); ok {
		return meteredPhotoChannel{meteredChannel: mc, photos: p}
	}
	return mc
}

func sendOutcome(err error) string {
	var limited *bot.RateLimitedError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &limited):
		return "rate_limited"
	case errors.Is(err, bot.ErrBlocked):
		return "blocked"
	case errors.Is(err, bot.ErrQuotaSpent):
		return "quota_spent"
	}
	return "error"
}

// observeDispatch is the dispatchers' Observe hook.
func (m *metrics) observeDispatch(inv flows.Invitation, outcome flows.AttemptOutcome, lag time.Duration) {
	m.dispatch.WithLabelValues(string(inv.Channel), string(outcome)).Inc()
	if outcome == flows.AttemptSent {
		m.dispatchLag.Observe(max(lag, 0).Seconds())
	}
}

// meteredLimiter times the waits for platform rate limits.
type meteredLimiter struct {
	scheduler.Limiter
	m *metrics
}

func (l meteredLimiter) Wait(ctx context.Context, key string, limit flows.Limit) error {
	start := time.Now()
	err := l.Limiter.Wait(ctx, key, limit)
	if waited := time.Since(start); waited > 5*time.Millisecond {
		l.m.rateWaits.Inc()
		l.m.rateWaitTime.Observe(waited.Seconds())
	}
	return err
}

// redisHook times every Redis round trip of cxbot's client.
type redisHook struct{ m *metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.observe("command", start, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		var failed error
		for _, c := range cmds {
			// go-redis's connection handshake (CLIENT SETINFO) may be refused
			// by older servers, and go-redis goes on without it.
			if c.Err() != nil && c.Name() != "client" {
				failed = c.Err()
				break
			}
		}
		if err != nil && len(cmds) == 0 {
			failed = err
		}
		h.observe("pipeline", start, failed)
		return err
	}
}

func (h redisHook) observe(kind string, start time.Time, err error) {
	h.m.redisDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, redis.TxFailedErr) {
		h.m.redisErrors.Inc()
	}
}
