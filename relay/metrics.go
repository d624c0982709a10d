package relay

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"veil/relay/wire"
)

// metrics are counts and latencies only (spec/relay.md §12): no label
// ever carries an ID, a key or an address.
type metrics struct {
	conns         prometheus.Gauge
	subs          prometheus.Gauge
	handshakeFail prometheus.Counter
	badBlocks     prometheus.Counter
	blocksIn      prometheus.Counter
	blocksOut     prometheus.Counter
	sent          prometheus.Counter
	delivered     prometheus.Counter
	acked         prometheus.Counter
	logNotes      prometheus.Counter
	forwarded     prometheus.Counter
	r2rDialFail   prometheus.Counter
	chunkPut      prometheus.Counter
	chunkGet      prometheus.Counter
	chunkDel      prometheus.Counter
	errors        *prometheus.CounterVec
	latency       *prometheus.HistogramVec
}

// chunkBytes reports the bytes of stored chunks for a gauge.
func newMetrics(reg prometheus.Registerer, chunkBytes func() int64) (*metrics, error) {
	m := &metrics{
		conns:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "veil_relay_connections", Help: "Open client connections."}),
		subs:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "veil_relay_subscriptions", Help: "Live mailbox subscriptions."}),
		handshakeFail: prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_handshake_failures_total", Help: "Connections that failed the hello."}),
		badBlocks:     prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_bad_blocks_total", Help: "Connections closed for a bad block."}),
		blocksIn:      prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_blocks_received_total", Help: "Transport blocks received."}),
		blocksOut:     prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_blocks_sent_total", Help: "Transport blocks sent."}),
		sent:          prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_messages_stored_total", Help: "Messages stored by SEND."}),
		delivered:     prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_messages_delivered_total", Help: "MSG pushes (including redeliveries)."}),
		acked:         prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_messages_acked_total", Help: "Messages deleted by ACK."}),
		logNotes:      prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_log_notices_total", Help: "LNOTE pushes."}),
		forwarded:     prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_forwarded_total", Help: "FWDs answered by their destination relay."}),
		r2rDialFail:   prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_forward_dial_failures_total", Help: "Failed connections to destination relays."}),
		chunkPut:      prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_chunks_stored_total", Help: "Chunks stored by CPUT."}),
		chunkGet:      prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_chunks_read_total", Help: "Chunks returned by CGET."}),
		chunkDel:      prometheus.NewCounter(prometheus.CounterOpts{Name: "veil_relay_chunks_deleted_total", Help: "Chunks deleted by CDEL."}),
		errors:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "veil_relay_errors_total", Help: "ERR replies by code."}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "veil_relay_command_seconds",
			Help:    "Time from a command's arrival to its reply being queued.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"command"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.conns, m.subs, m.handshakeFail, m.badBlocks, m.blocksIn, m.blocksOut,
			m.sent, m.delivered, m.acked, m.logNotes, m.forwarded, m.r2rDialFail, m.chunkPut, m.chunkGet, m.chunkDel,
			m.errors, m.latency,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veil_relay_chunk_bytes", Help: "Bytes of file chunks stored."},
				func() float64 { return float64(chunkBytes()) }),
		} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(t wire.Type, d time.Duration) {
	m.latency.WithLabelValues(t.String()).Observe(d.Seconds())
}
