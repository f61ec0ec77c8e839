// Package metrics exposes the server's own Prometheus metrics: HTTP request
// counts and latencies by route, points ingested, and group-commit latency
// and size. Each Server owns its registry; nothing is registered globally.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// Metrics is the set of server metrics.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	points        prometheus.Counter
	batches       *prometheus.CounterVec
	ops           *prometheus.CounterVec
	alerts        *prometheus.CounterVec
	gcBlobs       prometheus.Counter
	gcBytes       prometheus.Counter
	commitLatency prometheus.Histogram
	groupSize     prometheus.Histogram
	sseClients    prometheus.GaugeFunc
}

// New returns metrics in a fresh registry; sseClients reports live
// subscribers.
func New(sseClients func() int) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fluoro_http_requests_total", Help: "HTTP requests by route pattern and numeric status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fluoro_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"route"})
	m.points = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fluoro_ingest_points_total", Help: "History points, console lines and system samples committed.",
	})
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fluoro_ingest_batches_total", Help: "Ingest batches by outcome (applied, duplicate, rejected).",
	}, []string{"outcome"})
	m.ops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fluoro_run_ops_total",
		Help: "Run creates, updates and finishes by event (run.created, run.updated, run.finished) and outcome (applied, duplicate).",
	}, []string{"event", "outcome"})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fluoro_alerts_total",
		Help: "Run alerts by outcome: suppressed (a repeat within its wait), delivered, failed or dropped (by the alert webhook).",
	}, []string{"outcome"})
	m.gcBlobs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fluoro_blob_gc_deleted_total", Help: "Blobs the collector deleted: file contents no run file used any more.",
	})
	m.gcBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fluoro_blob_gc_deleted_bytes_total", Help: "Bytes of the blobs the collector deleted.",
	})
	m.commitLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fluoro_ingest_commit_duration_seconds", Help: "Latency of one group commit, fsync included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	m.groupSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fluoro_ingest_group_batches", Help: "Batches per group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	m.sseClients = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fluoro_live_subscribers", Help: "Connected Server-Sent Events clients.",
	}, func() float64 { return float64(sseClients()) })
	m.reg.MustRegister(m.requests, m.latency, m.points, m.batches, m.ops, m.alerts, m.gcBlobs, m.gcBytes, m.commitLatency, m.groupSize, m.sseClients,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route string, code int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// ObserveOp records one run create, update or finish (api.Observer).
func (m *Metrics) ObserveOp(event, outcome string) {
	m.ops.WithLabelValues(event, outcome).Inc()
}

// ObserveAlert counts one alert's outcome (api.Observer, and the webhook's).
func (m *Metrics) ObserveAlert(outcome string) {
	m.alerts.WithLabelValues(outcome).Inc()
}

// BlobsCollected counts one collection's deletions.
func (m *Metrics) BlobsCollected(n int, bytes int64) {
	m.gcBlobs.Add(float64(n))
	m.gcBytes.Add(float64(bytes))
}

// Committed implements ingest.Observer.
func (m *Metrics) Committed(batches []store.Batch, results []store.BatchResult, took time.Duration) {
	m.commitLatency.Observe(took.Seconds())
	m.groupSize.Observe(float64(len(batches)))
	for i, b := range batches {
		switch {
		case results[i].Err != nil:
			m.batches.WithLabelValues("rejected").Inc()
		case results[i].Duplicate:
			m.batches.WithLabelValues("duplicate").Inc()
		default:
			m.batches.WithLabelValues("applied").Inc()
			n := len(b.Console) + len(b.System)
			for _, r := range b.History {
				n += len(r.Fields)
			}
			m.points.Add(float64(n))
		}
	}
}
