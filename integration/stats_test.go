package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// readStats reads one stats document from a nutcracker-style stats port.
func readStats(t *testing.T, addr string) (map[string]any, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("stats are not JSON: %v\n%s", err, raw)
	}
	return doc, string(raw)
}

// trafficScript is the same mix sent through nutcracker and walnut:
// single-key commands, and multi-key ones that split per server.
func trafficScript() string {
	var b strings.Builder
	for i := range 200 {
		k := fmt.Sprintf("t:%d", i)
		fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(k), k)
		fmt.Fprintf(&b, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(k), k)
	}
	for i := range 50 {
		b.WriteString("*11\r\n$4\r\nMGET\r\n")
		for j := range 10 {
			k := fmt.Sprintf("t:%d", i*3+j*7)
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(k), k)
		}
	}
	for i := range 20 {
		b.WriteString("*4\r\n$3\r\nDEL\r\n")
		for j := range 3 {
			k := fmt.Sprintf("t:%d", i*5+j*11)
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(k), k)
		}
	}
	return b.String()
}

// sendAndDrain sends script and reads until replies stop coming.
func sendAndDrain(t *testing.T, addr, script string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, script); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	for {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// The same traffic through nutcracker and walnut gives the same request
// and response counts per server: a 10-key MGET over several servers
// counts one request per server it went to.
func TestStatsCountLikeNutcracker(t *testing.T) {
	servers := testbed.Redises(t, 3)
	var yaml strings.Builder
	ncPort := testbed.FreePort(t)
	fmt.Fprintf(&yaml, "alpha:\n  listen: 127.0.0.1:%d\n  hash: md5\n  redis: true\n  servers:\n", ncPort)
	for _, s := range servers {
		fmt.Fprintf(&yaml, "   - %s:1\n", s.Addr)
	}
	nc := testbed.Nutcracker(t, yaml.String(), ncPort)
	_, addrs := startWalnut(t, "[stats]\nlisten = \"127.0.0.1:0\"\n"+redisPool("alpha", servers, "hash = \"md5\""))

	script := trafficScript()
	sendAndDrain(t, fmt.Sprintf("127.0.0.1:%d", ncPort), script)
	sendAndDrain(t, addrs["alpha"], script)
	time.Sleep(300 * time.Millisecond) // nutcracker publishes every 100ms here

	ncDoc, _ := readStats(t, nc.StatsAddr)
	wnDoc, raw := readStats(t, addrs["stats"])
	ncPool := ncDoc["alpha"].(map[string]any)
	wnPool := wnDoc["alpha"].(map[string]any)
	var total float64
	for _, s := range servers {
		ncS, ok1 := ncPool[s.Addr].(map[string]any)
		wnS, ok2 := wnPool[s.Addr].(map[string]any)
		if !ok1 || !ok2 {
			t.Fatalf("server %s missing: nutcracker %v, walnut %v\n%s", s.Addr, ok1, ok2, raw)
		}
		for _, f := range []string{"requests", "responses"} {
			if ncS[f] != wnS[f] {
				t.Errorf("server %s %s: nutcracker %v, walnut %v", s.Addr, f, ncS[f], wnS[f])
			}
		}
		total += wnS["requests"].(float64)
		t.Logf("server %s: requests %v/%v responses %v/%v (nutcracker/walnut)", s.Addr,
			ncS["requests"], wnS["requests"], ncS["responses"], wnS["responses"])
	}
	for _, f := range []string{"fragments", "forward_error", "client_eof", "client_err", "server_ejects"} {
		t.Logf("pool %s: nutcracker %v, walnut %v", f, ncPool[f], wnPool[f])
	}
	if total <= 470 { // 400 single-key commands plus more than one part per split request
		t.Fatalf("only %v requests counted", total)
	}
}

// The stats document has nutcracker's fields in nutcracker's order.
func TestStatsLayout(t *testing.T) {
	servers := testbed.Redises(t, 2)
	_, addrs := startWalnut(t, "[stats]\nlisten = \"127.0.0.1:0\"\n"+redisPool("alpha", servers, "")+redisPool("beta", servers[:1], ""))
	sendAndDrain(t, addrs["alpha"], "SET a 1\r\nGET a\r\n")
	// walnut sees the client's close a moment after the client made it.
	var doc map[string]any
	var raw string
	waitFor(3*time.Second, func() bool {
		doc, raw = readStats(t, addrs["stats"])
		return doc["alpha"].(map[string]any)["client_eof"].(float64) == 1
	})
	order := []string{`"service":`, `"source":`, `"version":`, `"uptime":`, `"timestamp":`, `"total_connections":`,
		`"curr_connections":`, `"alpha": {"client_eof":`, `"client_err":`, `"client_connections":`, `"server_ejects":`,
		`"forward_error":`, `"fragments":`, `"server_eof":`, `"server_err":`, `"server_timedout":`, `"server_connections":`,
		`"server_ejected_at":`, `"requests":`, `"request_bytes":`, `"responses":`, `"response_bytes":`, `"in_queue":`,
		`"in_queue_bytes":`, `"out_queue":`, `"out_queue_bytes":`, `"beta": {`}
	at := 0
	for _, f := range order {
		i := strings.Index(raw[at:], f)
		if i < 0 {
			t.Fatalf("%s missing or out of order in\n%s", f, raw)
		}
		at += i
	}
	if doc["service"] != "walnut" || doc["version"] != "test" {
		t.Fatalf("service/version: %v %v", doc["service"], doc["version"])
	}
	if ts := doc["timestamp"].(float64); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Fatalf("timestamp %v", ts)
	}
	alpha := doc["alpha"].(map[string]any)
	var reqs float64
	for _, s := range servers {
		reqs += alpha[s.Addr].(map[string]any)["requests"].(float64)
	}
	if reqs != 2 {
		t.Fatalf("alpha requests = %v, want 2\n%s", reqs, raw)
	}
	if alpha["client_eof"].(float64) != 1 {
		t.Fatalf("client_eof = %v, want 1", alpha["client_eof"])
	}
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// metric returns the value of the metric with the given labels.
func metric(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestPrometheusMetrics(t *testing.T) {
	servers := testbed.Redises(t, 2)
	px, addrs := startWalnut(t, "[stats]\nmetrics_listen = \"127.0.0.1:0\"\n"+
		redisPool("alpha", servers, "hash = \"md5\"\nauto_eject_hosts = true\nserver_failure_limit = 1\nserver_retry_timeout = \"60s\""))
	sendAndDrain(t, addrs["alpha"], trafficScript())
	fams := scrape(t, addrs["metrics"])

	for _, name := range []string{"walnut_up", "walnut_build_info", "walnut_ready", "go_goroutines", "process_cpu_seconds_total",
		"walnut_pool_client_connections", "walnut_pool_fragments_total", "walnut_server_requests_total",
		"walnut_server_response_duration_seconds", "walnut_request_duration_seconds", "walnut_server_inflight_requests",
		"walnut_server_ejected", "walnut_server_dials_total"} {
		if fams[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	if v, _ := metric(fams, "walnut_requests_total", map[string]string{"pool": "alpha", "command": "get"}); v != 200 {
		t.Errorf("walnut_requests_total{command=get} = %v, want 200", v)
	}
	if v, _ := metric(fams, "walnut_requests_total", map[string]string{"pool": "alpha", "command": "mget"}); v != 50 {
		t.Errorf("walnut_requests_total{command=mget} = %v, want 50", v)
	}
	if v, _ := metric(fams, "walnut_request_duration_seconds", map[string]string{"pool": "alpha", "command": "set"}); v != 200 {
		t.Errorf("walnut_request_duration_seconds{command=set} count = %v, want 200", v)
	}
	var sent, answered float64
	for _, s := range servers {
		r, _ := metric(fams, "walnut_server_requests_total", map[string]string{"pool": "alpha", "server": s.Addr})
		a, _ := metric(fams, "walnut_server_response_duration_seconds", map[string]string{"pool": "alpha", "server": s.Addr})
		sent += r
		answered += a
	}
	if sent < 470 || sent != answered {
		t.Errorf("server requests %v, timed responses %v", sent, answered)
	}

	get := func(path string) int {
		resp, err := http.Get("http://" + addrs["metrics"] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 200 {
		t.Fatal("healthz/readyz not 200 with every server up")
	}
	if code := get("/debug/pprof/"); code != 404 {
		t.Fatalf("pprof served without being enabled: %d", code)
	}
	// Both servers gone: ejected, not ready.
	for _, s := range servers {
		s.Kill()
	}
	sendAndDrain(t, addrs["alpha"], trafficScript())
	if !waitFor(3*time.Second, func() bool { return get("/readyz") == 503 }) {
		t.Fatalf("readyz still ok with every server dead: %+v", px.Pool("alpha").Servers())
	}
	fams = scrape(t, addrs["metrics"])
	if v, _ := metric(fams, "walnut_pool_server_ejects_total", map[string]string{"pool": "alpha"}); v < 2 {
		t.Errorf("walnut_pool_server_ejects_total = %v, want 2 or more", v)
	}
	if v, _ := metric(fams, "walnut_ready", nil); v != 0 {
		t.Errorf("walnut_ready = %v with every server dead", v)
	}
}

func TestPprofWhenEnabled(t *testing.T) {
	servers := testbed.Redises(t, 1)
	_, addrs := startWalnut(t, "[stats]\nmetrics_listen = \"127.0.0.1:0\"\npprof = true\n"+redisPool("alpha", servers, ""))
	resp, err := http.Get("http://" + addrs["metrics"] + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof: %d %.100s", resp.StatusCode, body)
	}
}
