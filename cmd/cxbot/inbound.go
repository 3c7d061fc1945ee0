package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxbot/cxbot/flows"
)

// inboundDropped registers cxbot_inbound_dropped_total and returns what
// counts one update dropped by CXBOT_CHAT_INBOUND_RATE.
func (m *metrics) inboundDropped() func(flows.Channel) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxbot_inbound_dropped_total",
		Help: "Updates acknowledged without being applied because their chat was over CXBOT_CHAT_INBOUND_RATE, by channel."}, []string{"channel"})
	m.reg.MustRegister(c)
	return func(ch flows.Channel) { c.WithLabelValues(string(ch)).Inc() }
}
