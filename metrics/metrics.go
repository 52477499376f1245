package metrics

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/walnutproxy/walnut/core"
)

// Server is a running metrics endpoint.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup
	once sync.Once
}

// Listen serves px's metrics on addr, with /debug/pprof if pprofOn.
func Listen(addr string, px *core.Proxy, pprofOn bool, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{px: px},
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		snap := px.Snapshot()
		if !snap.Ready() {
			http.Error(w, "not ready: a pool has no live server\n", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the address the endpoint listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the endpoint.
func (s *Server) Close() error {
	s.once.Do(func() { s.srv.Close() })
	s.wg.Wait()
	return nil
}

var (
	poolLabels   = []string{"pool"}
	serverLabels = []string{"pool", "server"}
	familyLabels = []string{"pool", "command"}

	descClientConns   = prometheus.NewDesc("walnut_pool_client_connections", "Client connections open now.", poolLabels, nil)
	descClientsTotal  = prometheus.NewDesc("walnut_pool_client_connections_total", "Client connections accepted.", poolLabels, nil)
	descClientEOF     = prometheus.NewDesc("walnut_pool_client_eof_total", "Client connections closed by the client.", poolLabels, nil)
	descClientErr     = prometheus.NewDesc("walnut_pool_client_errors_total", "Client connections closed for an error (bad input, a failed write).", poolLabels, nil)
	descForwardErr    = prometheus.NewDesc("walnut_pool_forward_errors_total", "Requests answered with an error because no server could serve them.", poolLabels, nil)
	descFragments     = prometheus.NewDesc("walnut_pool_fragments_total", "Parts that multi-key requests were split into.", poolLabels, nil)
	descEjects        = prometheus.NewDesc("walnut_pool_server_ejects_total", "Times a server of the pool was ejected.", poolLabels, nil)
	descDedConns      = prometheus.NewDesc("walnut_pool_dedicated_connections", "Dedicated server connections (transactions, blocking commands, pub/sub) open now, idle ones included.", poolLabels, nil)
	descDedLeases     = prometheus.NewDesc("walnut_pool_dedicated_leases_total", "Dedicated server connections handed to clients.", poolLabels, nil)
	descDedRefused    = prometheus.NewDesc("walnut_pool_dedicated_refused_total", "Requests refused because the pool had max_dedicated dedicated connections.", poolLabels, nil)
	descPushes        = prometheus.NewDesc("walnut_pool_pushes_total", "Values servers sent unasked (pub/sub messages) relayed to clients.", poolLabels, nil)
	descRequests      = prometheus.NewDesc("walnut_requests_total", "Client requests by command.", familyLabels, nil)
	descRequestDur    = prometheus.NewDesc("walnut_request_duration_seconds", "Time from reading a client's request to having its reply, by command.", familyLabels, nil)
	descSrvRequests   = prometheus.NewDesc("walnut_server_requests_total", "Requests sent to the server (a split request counts once per part).", serverLabels, nil)
	descSrvReqBytes   = prometheus.NewDesc("walnut_server_request_bytes_total", "Bytes sent to the server.", serverLabels, nil)
	descSrvResponses  = prometheus.NewDesc("walnut_server_responses_total", "Responses read from the server.", serverLabels, nil)
	descSrvRespBytes  = prometheus.NewDesc("walnut_server_response_bytes_total", "Bytes read from the server.", serverLabels, nil)
	descSrvEOF        = prometheus.NewDesc("walnut_server_eof_total", "Server connections the server closed.", serverLabels, nil)
	descSrvErr        = prometheus.NewDesc("walnut_server_errors_total", "Server connections lost to an error.", serverLabels, nil)
	descSrvTimeouts   = prometheus.NewDesc("walnut_server_timeouts_total", "Server connections closed because a request timed out.", serverLabels, nil)
	descSrvConns      = prometheus.NewDesc("walnut_server_connections", "Connections to the server open now.", serverLabels, nil)
	descSrvReconnects = prometheus.NewDesc("walnut_server_dials_total", "Connections dialed to the server, first ones and reconnects.", serverLabels, nil)
	descSrvEjected    = prometheus.NewDesc("walnut_server_ejected", "1 while the server is ejected from the pool.", serverLabels, nil)
	descSrvEjections  = prometheus.NewDesc("walnut_server_ejections_total", "Times the server was ejected.", serverLabels, nil)
	descSrvInflight   = prometheus.NewDesc("walnut_server_inflight_requests", "Requests sent to the server and not answered yet.", serverLabels, nil)
	descSrvInflightB  = prometheus.NewDesc("walnut_server_inflight_bytes", "Bytes of requests sent to the server and not answered yet.", serverLabels, nil)
	descSrvDur        = prometheus.NewDesc("walnut_server_response_duration_seconds", "Time from sending a request to the server to reading its response.", serverLabels, nil)
	descUp            = prometheus.NewDesc("walnut_up", "1: walnut is running.", nil, nil)
	descInfo          = prometheus.NewDesc("walnut_build_info", "walnut's version.", []string{"version"}, nil)
	descStart         = prometheus.NewDesc("walnut_start_time_seconds", "When walnut started, in seconds since the epoch.", nil, nil)
	descReady         = prometheus.NewDesc("walnut_ready", "1 when every pool has a live server (what /readyz answers).", nil, nil)
)

// collector turns a snapshot into metrics at scrape time.
type collector struct{ px *core.Proxy }

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.px.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(descUp, 1)
	gauge(descInfo, 1, snap.Version)
	gauge(descStart, float64(snap.Start.UnixNano())/1e9)
	gauge(descReady, b2f(snap.Ready()))
	for _, p := range snap.Pools {
		gauge(descClientConns, float64(p.ClientConnections), p.Name)
		counter(descClientsTotal, p.ClientsAccepted, p.Name)
		counter(descClientEOF, p.ClientEOF, p.Name)
		counter(descClientErr, p.ClientErr, p.Name)
		counter(descForwardErr, p.ForwardError, p.Name)
		counter(descFragments, p.Fragments, p.Name)
		counter(descEjects, p.ServerEjects, p.Name)
		gauge(descDedConns, float64(p.DedicatedConnections), p.Name)
		counter(descDedLeases, p.DedicatedLeases, p.Name)
		counter(descDedRefused, p.DedicatedRefused, p.Name)
		counter(descPushes, p.Pushes, p.Name)
		for _, f := range p.Families {
			counter(descRequests, f.Requests, p.Name, f.Name)
			if snap.Latency {
				ch <- histogram(descRequestDur, f.Latency, p.Name, f.Name)
			}
		}
		for _, s := range p.Servers {
			l := []string{p.Name, s.Name}
			counter(descSrvRequests, s.Requests, l...)
			counter(descSrvReqBytes, s.RequestBytes, l...)
			counter(descSrvResponses, s.Responses, l...)
			counter(descSrvRespBytes, s.ResponseBytes, l...)
			counter(descSrvEOF, s.ServerEOF, l...)
			counter(descSrvErr, s.ServerErr, l...)
			counter(descSrvTimeouts, s.ServerTimedout, l...)
			gauge(descSrvConns, float64(s.ServerConnections), l...)
			counter(descSrvReconnects, s.Reconnects, l...)
			gauge(descSrvEjected, b2f(s.Ejected), l...)
			counter(descSrvEjections, s.Ejections, l...)
			gauge(descSrvInflight, float64(s.OutQueue), l...)
			gauge(descSrvInflightB, float64(s.OutQueueBytes), l...)
			if snap.Latency {
				ch <- histogram(descSrvDur, s.Latency, l...)
			}
		}
	}
}

// histogram converts core's per-bucket counts to Prometheus' cumulative
// ones.
func histogram(d *prometheus.Desc, h core.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(core.HistogramBounds))
	var cum uint64
	for i, bound := range core.HistogramBounds {
		cum += h.Counts[i]
		buckets[bound] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count(), h.Sum, buckets, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
