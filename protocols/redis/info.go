package redis

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/protocols"
)

// INFO [section ...] answers Redis' sections with walnut's own figures
// where they mean something for a proxy (its process, its clients, its
// requests), and with the servers' where the pool's data is theirs:
// keyspace (each database's keys and expires summed over the servers,
// avg_ttl averaged by expires), errorstats (the servers' error counts,
// summed per error code) and number_of_cached_scripts (the most any
// server has: SCRIPT LOAD loads every script on every server). Asking
// for any of those sends "INFO keyspace errorstats memory" to every
// server (Broadcast); the others are answered at once. Inside MULTI,
// where walnut answers INFO itself, the servers' figures are left out.
//
// Sections are Redis 7's and its rules: none, "default", "all" or
// "everything" for all of them, names in any case, several at once,
// always in Redis' order; an unknown name adds nothing. INFO servers
// is walnut's own: every server's INFO, one after another (keyspace.go).

// infoSection is a bit per section, in Redis' order.
type infoSection uint16

const (
	secServer infoSection = 1 << iota
	secClients
	secMemory
	secPersistence
	secStats
	secReplication
	secCPU
	secModules
	secErrorstats
	secCluster
	secKeyspace
	secAll = secKeyspace<<1 - 1
	// secFromServers need the servers' INFO.
	secFromServers = secMemory | secErrorstats | secKeyspace
)

var infoNames = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
	"errorstats", "cluster", "keyspace"}

// infoServerReq is what walnut asks every server for.
var infoServerReq = []byte("*4\r\n$4\r\nINFO\r\n$8\r\nkeyspace\r\n$10\r\nerrorstats\r\n$6\r\nmemory\r\n")

// appendInfo wraps INFO's text as the client gets it, as Redis sends
// it: a bulk string in RESP2, a verbatim string in RESP3. It is the one
// place that does.
func appendInfo(dst, text []byte, r3 bool) []byte { return appendText(dst, text, r3) }

// infoWanted returns the sections args name.
func infoWanted(args [][]byte) infoSection {
	if len(args) == 0 {
		return secAll
	}
	var want infoSection
	for _, a := range args {
		if equalFold(a, "DEFAULT") || equalFold(a, "ALL") || equalFold(a, "EVERYTHING") {
			want |= secAll
			continue
		}
		for i, n := range infoNames {
			if strings.EqualFold(string(a), n) {
				want |= 1 << i
			}
		}
	}
	return want
}

// infoCommand answers INFO [section ...]: with "servers" among the
// sections, every server's INFO; with sections that need the servers'
// figures, a Broadcast that mergeOwnInfo answers; otherwise at once.
func (c *Codec) infoCommand(req *protocols.Request, inTx bool) {
	for _, a := range req.Args[1:] {
		if equalFold(a, "SERVERS") {
			req.Kind = protocols.Broadcast
			req.Flags |= reqRewrite
			return
		}
	}
	want := infoWanted(req.Args[1:])
	if want&secFromServers != 0 && !inTx {
		req.Kind = protocols.Broadcast
		req.Flags |= reqRewrite
		return
	}
	req.Kind = protocols.Local
	req.Reply = appendInfo(req.Reply[:0], c.infoText(want, nil), isResp3(req))
}

// infoServersMode reports whether an INFO request is INFO servers.
func infoServersMode(args [][]byte) bool {
	for _, a := range args[1:] {
		if equalFold(a, "SERVERS") {
			return true
		}
	}
	return false
}

// mergeOwnInfo answers INFO from walnut's figures and the servers'
// answers to infoServerReq.
func (c *Codec) mergeOwnInfo(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	for i := range parts {
		// A bulk string, or a verbatim one from a server in RESP3.
		if _, ok := textOf(parts[i].Resp); !ok {
			return appendUnexpected(dst, &parts[i])
		}
	}
	return appendInfo(dst, c.infoText(infoWanted(req.Args[1:]), parts), isResp3(req))
}

// runID is INFO's run_id: random, one per process, as Redis' is per
// run.
var runID = sync.OnceValue(func() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
})

// opsSample is the request count at the last INFO, for
// instantaneous_ops_per_sec: the rate since the INFO before, which for
// a monitor polling INFO is the rate over its period.
type opsSample struct {
	mu   sync.Mutex
	at   time.Time
	reqs uint64
}

var opsSamples sync.Map // pool name -> *opsSample

func opsPerSec(pool string, reqs uint64) uint64 {
	v, _ := opsSamples.LoadOrStore(pool, &opsSample{})
	s := v.(*opsSample)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var rate uint64
	if dt := now.Sub(s.at); !s.at.IsZero() && dt > 0 && reqs >= s.reqs {
		rate = uint64(float64(reqs-s.reqs) / dt.Seconds())
	}
	s.at, s.reqs = now, reqs
	return rate
}

// infoText renders the sections in want; servers are the servers'
// answers to infoServerReq, nil when they were not asked.
func (c *Codec) infoText(want infoSection, servers []protocols.Part) []byte {
	var in protocols.ProxyInfo
	if c.info != nil {
		in = c.info()
	}
	var b []byte
	section := func(s infoSection, title string) bool {
		if want&s == 0 {
			return false
		}
		if len(b) > 0 {
			b = append(b, "\r\n"...)
		}
		b = append(b, "# "+title+"\r\n"...)
		return true
	}
	line := func(k, v string) { b = append(b, k+":"+v+"\r\n"...) }
	num := func(k string, v uint64) { line(k, strconv.FormatUint(v, 10)) }
	if section(secServer, "Server") {
		up := time.Duration(0)
		if !in.Start.IsZero() {
			up = time.Since(in.Start)
		}
		port := ""
		if i := strings.LastIndexByte(in.Listen, ':'); i >= 0 && !strings.HasPrefix(in.Listen, "/") {
			port = in.Listen[i+1:]
		}
		if port == "" {
			port = "0"
		}
		exe, _ := os.Executable()
		line("redis_version", redisVersion)
		line("redis_mode", "standalone")
		line("walnut_version", in.Version)
		line("walnut_pool", in.Pool)
		line("os", runtime.GOOS+" "+runtime.GOARCH)
		line("arch_bits", strconv.Itoa(strconv.IntSize))
		line("go_version", runtime.Version())
		line("process_id", strconv.Itoa(os.Getpid()))
		line("run_id", runID())
		line("tcp_port", port)
		line("server_time_usec", strconv.FormatInt(time.Now().UnixMicro(), 10))
		line("uptime_in_seconds", strconv.FormatInt(int64(up/time.Second), 10))
		line("uptime_in_days", strconv.FormatInt(int64(up/(24*time.Hour)), 10))
		line("executable", exe)
		line("config_file", in.ConfigFile)
		line("walnut_workers", strconv.Itoa(in.Workers))
	}
	if section(secClients, "Clients") {
		line("connected_clients", strconv.FormatInt(in.Clients, 10))
		line("cluster_connections", "0")
		line("maxclients", strconv.Itoa(in.MaxClients))
		line("blocked_clients", strconv.Itoa(c.blocks.count()))
		line("tracking_clients", "0")
	}
	if section(secMemory, "Memory") {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss := residentBytes()
		line("used_memory", strconv.FormatUint(ms.Alloc, 10))
		line("used_memory_human", humanBytes(ms.Alloc))
		line("used_memory_rss", strconv.FormatUint(rss, 10))
		line("used_memory_rss_human", humanBytes(rss))
		line("walnut_memory_sys", strconv.FormatUint(ms.Sys, 10))
		line("mem_allocator", "go")
		if servers != nil {
			line("number_of_cached_scripts", strconv.FormatInt(maxField(servers, "number_of_cached_scripts"), 10))
		}
	}
	if section(secPersistence, "Persistence") {
		line("loading", "0")
		line("async_loading", "0")
	}
	if section(secStats, "Stats") {
		num("total_connections_received", in.ClientsAccepted)
		num("total_commands_processed", in.Requests)
		num("instantaneous_ops_per_sec", opsPerSec(in.Pool, in.Requests))
		num("rejected_connections", in.Rejected)
		num("walnut_forward_errors", in.ForwardErrors)
		num("walnut_fragments", in.Fragments)
		line("walnut_servers", strconv.Itoa(in.Servers))
		line("walnut_servers_ejected", strconv.Itoa(in.Ejected))
		num("walnut_server_ejections", in.Ejections)
		b = c.fn.appendInfo(b)
	}
	if section(secReplication, "Replication") {
		line("role", "master")
		line("connected_slaves", "0")
	}
	if section(secCPU, "CPU") {
		var ru unix.Rusage
		if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
			line("used_cpu_sys", fmt.Sprintf("%d.%06d", ru.Stime.Sec, ru.Stime.Usec))
			line("used_cpu_user", fmt.Sprintf("%d.%06d", ru.Utime.Sec, ru.Utime.Usec))
		}
	}
	section(secModules, "Modules")
	if section(secErrorstats, "Errorstats") && servers != nil {
		b = appendErrorstats(b, servers)
	}
	if section(secCluster, "Cluster") {
		line("cluster_enabled", "0")
	}
	if section(secKeyspace, "Keyspace") && servers != nil {
		b = appendKeyspace(b, servers)
	}
	return b
}

// infoLines calls f with each "name:value" line of the INFO text in a
// server's reply (checked by mergeOwnInfo).
func infoLines(resp []byte, f func(name, value []byte)) {
	text, _ := textOf(resp)
	for len(text) > 0 {
		ln := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			ln, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		ln = bytes.TrimSuffix(ln, []byte("\r"))
		if k, v, ok := bytes.Cut(ln, []byte(":")); ok && len(ln) > 0 && ln[0] != '#' {
			f(k, v)
		}
	}
}

// maxField is the largest value of an integer field over the servers.
func maxField(servers []protocols.Part, name string) int64 {
	var top int64
	for i := range servers {
		infoLines(servers[i].Resp, func(k, v []byte) {
			if string(k) == name {
				if n, ok := parseInt(v); ok {
					top = max(top, n)
				}
			}
		})
	}
	return top
}

// appendErrorstats sums the servers' errorstat_CODE:count=N lines per
// code, in the order of their names, as Redis lists them.
func appendErrorstats(b []byte, servers []protocols.Part) []byte {
	counts := map[string]int64{}
	for i := range servers {
		infoLines(servers[i].Resp, func(k, v []byte) {
			if bytes.HasPrefix(k, []byte("errorstat_")) && bytes.HasPrefix(v, []byte("count=")) {
				if n, ok := parseInt(v[len("count="):]); ok {
					counts[string(k)] += n
				}
			}
		})
	}
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b = append(b, k+":count="+strconv.FormatInt(counts[k], 10)+"\r\n"...)
	}
	return b
}

// appendKeyspace merges the servers' dbN:keys=K,expires=E,avg_ttl=T
// lines: keys and expires summed per database, avg_ttl the average of
// the servers' weighted by their expires.
func appendKeyspace(b []byte, servers []protocols.Part) []byte {
	type dbStats struct{ keys, expires, ttlSum int64 }
	dbs := map[int64]*dbStats{}
	for i := range servers {
		infoLines(servers[i].Resp, func(k, v []byte) {
			if !bytes.HasPrefix(k, []byte("db")) {
				return
			}
			db, ok := parseInt(k[2:])
			if !ok {
				return
			}
			var keys, expires, ttl int64
			for _, f := range bytes.Split(v, []byte(",")) {
				name, val, _ := bytes.Cut(f, []byte("="))
				n, _ := parseInt(val)
				switch string(name) {
				case "keys":
					keys = n
				case "expires":
					expires = n
				case "avg_ttl":
					ttl = n
				}
			}
			d := dbs[db]
			if d == nil {
				d = &dbStats{}
				dbs[db] = d
			}
			d.keys += keys
			d.expires += expires
			d.ttlSum += ttl * expires
		})
	}
	ids := make([]int64, 0, len(dbs))
	for db := range dbs {
		ids = append(ids, db)
	}
	slices.Sort(ids)
	for _, db := range ids {
		d := dbs[db]
		avg := int64(0)
		if d.expires > 0 {
			avg = d.ttlSum / d.expires
		}
		b = fmt.Appendf(b, "db%d:keys=%d,expires=%d,avg_ttl=%d\r\n", db, d.keys, d.expires, avg)
	}
	return b
}

// residentBytes is the process' resident set size, from /proc.
func residentBytes() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(data)
	if len(f) < 2 {
		return 0
	}
	pages, ok := parseUint(f[1])
	if !ok {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// humanBytes is Redis' bytesToHuman: "1.65M".
func humanBytes(n uint64) string {
	f := float64(n)
	switch {
	case n < 1024:
		return strconv.FormatUint(n, 10) + "B"
	case n < 1<<20:
		return fmt.Sprintf("%.2fK", f/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.2fM", f/(1<<20))
	case n < 1<<40:
		return fmt.Sprintf("%.2fG", f/(1<<30))
	}
	return fmt.Sprintf("%.2fT", f/(1<<40))
}
