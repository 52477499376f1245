package walnutcmd

import (
	"fmt"
	"log/slog"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/metrics"
	"github.com/walnutproxy/walnut/stats"
)

// endpoints are the running stats and metrics servers.
type endpoints struct {
	cfg     config.Stats
	stats   *stats.Server
	metrics *metrics.Server
}

// apply starts, stops or moves the endpoints to match cfg.
func (e *endpoints) apply(cfg config.Stats, px *core.Proxy, log *slog.Logger) error {
	if e.stats != nil && cfg.Listen != e.cfg.Listen {
		e.stats.Close()
		e.stats = nil
	}
	if e.metrics != nil && (cfg.MetricsListen != e.cfg.MetricsListen || cfg.Pprof != e.cfg.Pprof) {
		e.metrics.Close()
		e.metrics = nil
	}
	e.cfg = cfg
	if cfg.Listen != "" && e.stats == nil {
		s, err := stats.Listen(cfg.Listen, px, log)
		if err != nil {
			return fmt.Errorf("stats.listen %s: %w", cfg.Listen, err)
		}
		e.stats = s
		log.Info("stats listening", "addr", s.Addr().String())
	}
	if cfg.MetricsListen != "" && e.metrics == nil {
		m, err := metrics.Listen(cfg.MetricsListen, px, cfg.Pprof, log)
		if err != nil {
			return fmt.Errorf("stats.metrics_listen %s: %w", cfg.MetricsListen, err)
		}
		e.metrics = m
		log.Info("metrics listening", "addr", m.Addr().String(), "pprof", cfg.Pprof)
	}
	return nil
}

func (e *endpoints) close() {
	if e.stats != nil {
		e.stats.Close()
		e.stats = nil
	}
	if e.metrics != nil {
		e.metrics.Close()
		e.metrics = nil
	}
}
