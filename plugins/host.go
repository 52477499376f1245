package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/plugins/shared"
)

// Timeouts and restart pacing. A plugin call that takes longer fails:
// a table build keeps the old table, a hash batch answers its requests
// with an error; neither waits on a hung plugin.
var (
	// StartTimeout bounds a plugin's start: exec and handshake.
	StartTimeout = 10 * time.Second
	// BuildTimeout bounds one Build call.
	BuildTimeout = 10 * time.Second
	// HashTimeout bounds one batch of keys.
	HashTimeout = 2 * time.Second
	// probeTimeout bounds the start-up calls that learn what a plugin
	// serves.
	probeTimeout = 5 * time.Second

	// A plugin that died is started again after minBackoff, doubling
	// up to maxBackoff while it keeps dying; one that had run for
	// stableAfter starts the count afresh.
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 10 * time.Second
	stableAfter = time.Minute
	// exitPoll is how often a supervisor asks go-plugin whether its
	// process exited (go-plugin offers a flag, not a channel).
	exitPoll = 50 * time.Millisecond
)

// Host runs a configuration's plugins.
type Host struct {
	log   *slog.Logger
	procs map[string]*proc
	order []*proc
	spawn *spawner

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // supervisors

	mu        sync.Mutex
	onRestart func(name string)
}

// proc is one configured plugin across its restarts.
type proc struct {
	h   *Host
	cfg config.Plugin
	log *slog.Logger
	// What the first start found it serves; a restarted binary must
	// serve it too.
	servesDist, servesHash bool
	dist                   *remoteDistribution
	hash                   *remoteHasher

	cur atomic.Pointer[conn] // nil while the plugin is down
}

// conn is one running process of a plugin.
type conn struct {
	client  *plugin.Client
	dist    *shared.DistributionClient // nil unless it serves one
	hash    *shared.HashClient
	pid     int
	started time.Time
}

// Start starts every configured plugin and learns what each serves. It
// fails, naming the plugin, on a missing or non-executable binary, a
// failed handshake, or a plugin that serves neither a distribution nor
// a hash; then no plugin is left running. The plugins are restarted if
// they die, until Close.
func Start(cfgs []config.Plugin, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.Default()
	}
	h := &Host{log: log, procs: map[string]*proc{}, done: make(chan struct{})}
	if len(cfgs) == 0 {
		return h, nil
	}
	h.spawn = newSpawner()
	for _, c := range cfgs {
		p := &proc{h: h, cfg: c, log: log.With("plugin", c.Name)}
		cn, err := p.start()
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("plugin %s: %w", c.Name, err)
		}
		p.servesDist, p.servesHash = cn.dist != nil, cn.hash != nil
		p.dist, p.hash = &remoteDistribution{p}, &remoteHasher{p}
		p.cur.Store(cn)
		h.procs[c.Name] = p
		h.order = append(h.order, p)
		p.log.Info("plugin started", "path", c.Path, "pid", cn.pid, "serves", p.kinds())
	}
	for _, p := range h.order {
		h.wg.Add(1)
		go p.supervise()
	}
	return h, nil
}

// Distribution returns the distribution the plugin called name serves,
// or false if there is no such plugin or it serves none.
func (h *Host) Distribution(name string) (distributions.Distribution, bool) {
	p := h.procs[name]
	if p == nil || !p.servesDist {
		return nil, false
	}
	return p.dist, true
}

// Hasher returns the hash function the plugin called name serves, or
// false if there is no such plugin or it serves none.
func (h *Host) Hasher(name string) (distributions.BatchHasher, bool) {
	p := h.procs[name]
	if p == nil || !p.servesHash {
		return nil, false
	}
	return p.hash, true
}

// Serves lists what the plugin called name serves ("distribution",
// "hash"), for messages; nil if there is no such plugin.
func (h *Host) Serves(name string) []string {
	if p := h.procs[name]; p != nil {
		return p.kinds()
	}
	return nil
}

// Names lists the plugins in configuration order.
func (h *Host) Names() []string {
	names := make([]string, len(h.order))
	for i, p := range h.order {
		names[i] = p.cfg.Name
	}
	return names
}

// Pid returns the process id of the plugin called name, or 0 while it
// is down.
func (h *Host) Pid(name string) int {
	if p := h.procs[name]; p != nil {
		if c := p.cur.Load(); c != nil {
			return c.pid
		}
	}
	return 0
}

// OnRestart sets fn to be called with a plugin's name each time it has
// been restarted after dying: a distribution's tables should then be
// rebuilt, since the new process may answer otherwise than the old one.
func (h *Host) OnRestart(fn func(name string)) {
	h.mu.Lock()
	h.onRestart = fn
	h.mu.Unlock()
}

// Close stops restarting the plugins and ends their processes.
func (h *Host) Close() {
	h.closeOnce.Do(func() {
		close(h.done)
		h.wg.Wait()
		var wg sync.WaitGroup
		for _, p := range h.order {
			if c := p.cur.Swap(nil); c != nil {
				wg.Go(c.client.Kill)
			}
		}
		wg.Wait()
		if h.spawn != nil {
			h.spawn.close()
		}
	})
}

func (h *Host) closing() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (p *proc) kinds() []string {
	var k []string
	if p.servesDist {
		k = append(k, shared.DistributionPlugin)
	}
	if p.servesHash {
		k = append(k, shared.HashPlugin)
	}
	return k
}

// start runs the plugin's binary, does the handshake and asks which
// services it serves.
func (p *proc) start() (*conn, error) {
	switch st, err := os.Stat(p.cfg.Path); {
	case err != nil:
		return nil, err
	case st.IsDir() || st.Mode()&0o111 == 0:
		return nil, fmt.Errorf("%s is not an executable file", p.cfg.Path)
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	dieWithParent(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          shared.PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     StartTimeout,
		Logger:           newHCLogger(p.log, filepath.Base(p.cfg.Path)),
		SyncStdout:       newLineWriter(func(l string) { p.log.Info(l, "stream", "stdout") }),
		SyncStderr:       newLineWriter(func(l string) { p.log.Info(l, "stream", "stderr") }),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(shared.MaxMessageSize), grpc.MaxCallSendMsgSize(shared.MaxMessageSize))},
	})
	var rpc plugin.ClientProtocol
	var err error
	p.h.spawn.do(func() { rpc, err = client.Client() })
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%s: handshake failed: %w", p.cfg.Path, firstLine(err))
	}
	c := &conn{client: client, started: time.Now()}
	c.pid, _ = strconv.Atoi(client.ID())
	if err := c.probe(rpc); err != nil {
		client.Kill()
		return nil, fmt.Errorf("%s: %w", p.cfg.Path, err)
	}
	return c, nil
}

// firstLine keeps the first line of go-plugin's handshake errors, whose
// rest is advice to plugin authors about go-plugin itself.
func firstLine(err error) error {
	msg, _, cut := strings.Cut(err.Error(), "\n")
	msg = strings.TrimSpace(msg)
	if strings.HasSuffix(msg, "message:") {
		// go-plugin quotes what the process said instead of a handshake,
		// which is nothing when it exits at once (/bin/true).
		msg += " none (it exited or said nothing: is it a walnut plugin?)"
	} else if !cut {
		return err
	}
	return &trimmedError{msg: msg, err: err}
}

type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return e.err }

// probe learns which services the plugin serves: go-plugin dispenses a
// stub for any service the host knows, so only a call tells.
func (c *conn) probe(rpc plugin.ClientProtocol) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	raw, err := rpc.Dispense(shared.DistributionPlugin)
	if err != nil {
		return err
	}
	d := raw.(*shared.DistributionClient)
	if ok, err := d.Probe(ctx); err != nil {
		return fmt.Errorf("asking whether it serves a distribution: %w", err)
	} else if ok {
		c.dist = d
	}
	if raw, err = rpc.Dispense(shared.HashPlugin); err != nil {
		return err
	}
	hc := raw.(*shared.HashClient)
	if ok, err := hc.Probe(ctx); err != nil {
		return fmt.Errorf("asking whether it serves a hash: %w", err)
	} else if ok {
		c.hash = hc
	}
	if c.dist == nil && c.hash == nil {
		return errors.New("serves neither a distribution nor a hash")
	}
	return nil
}

// supervise restarts the plugin whenever its process exits, with
// backoff, until the host closes. Meanwhile walnut routes with the
// tables it has; hash batches fail.
func (p *proc) supervise() {
	defer p.h.wg.Done()
	tick := time.NewTicker(exitPoll)
	defer tick.Stop()
	backoff := minBackoff
	for {
		c := p.cur.Load()
		for !c.client.Exited() {
			select {
			case <-p.h.done:
				return
			case <-tick.C:
			}
		}
		p.cur.Store(nil)
		c.client.Kill() // reaps what go-plugin still holds of it
		if time.Since(c.started) >= stableAfter {
			backoff = minBackoff
		}
		p.log.Error("plugin exited; restarting it", "pid", c.pid, "ran_for", time.Since(c.started).Round(time.Millisecond),
			"restart_in", backoff)
		for {
			select {
			case <-p.h.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			next, err := p.start()
			if err == nil && (p.servesDist && next.dist == nil || p.servesHash && next.hash == nil) {
				next.client.Kill()
				err = fmt.Errorf("it now serves %v, no longer %v", next.kinds(), p.kinds())
			}
			if err != nil {
				p.log.Error("plugin restart failed", "err", err, "retry_in", backoff)
				continue
			}
			if p.h.closing() {
				next.client.Kill()
				return
			}
			p.cur.Store(next)
			p.log.Info("plugin restarted", "pid", next.pid)
			break
		}
		p.h.mu.Lock()
		fn := p.h.onRestart
		p.h.mu.Unlock()
		if fn != nil {
			fn(p.cfg.Name)
		}
	}
}

func (c *conn) kinds() []string {
	var k []string
	if c.dist != nil {
		k = append(k, shared.DistributionPlugin)
	}
	if c.hash != nil {
		k = append(k, shared.HashPlugin)
	}
	return k
}

// errDown is what calls get while a plugin is being restarted.
func (p *proc) errDown() error {
	return fmt.Errorf("plugin %s is not running (restarting)", p.cfg.Name)
}

// remoteDistribution is a distribution plugin as walnut's core sees it.
type remoteDistribution struct{ p *proc }

// Build asks the plugin for a table and converts it into one that routes
// in walnut's process.
func (d *remoteDistribution) Build(servers []distributions.Server) (distributions.Table, error) {
	c := d.p.cur.Load()
	if c == nil {
		return nil, d.p.errDown()
	}
	in := make([]shared.Server, len(servers))
	for i, s := range servers {
		in[i] = shared.Server{Name: s.Name, Addr: s.Addr, Weight: s.Weight, Alive: s.Alive}
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	t, err := c.dist.Build(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: build: %w", d.p.cfg.Name, err)
	}
	tab, err := newTable(t, in)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: bad table: %w", d.p.cfg.Name, err)
	}
	return tab, nil
}

// remoteHasher is a hash plugin as walnut's core sees it: one call per
// batch of keys, which core makes off its event loops.
type remoteHasher struct{ p *proc }

// HashBatch hashes keys in one call to the plugin.
func (r *remoteHasher) HashBatch(keys [][]byte, out []uint32) error {
	c := r.p.cur.Load()
	if c == nil {
		return r.p.errDown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), HashTimeout)
	defer cancel()
	if err := c.hash.Hash(ctx, keys, out); err != nil {
		return fmt.Errorf("plugin %s: %w", r.p.cfg.Name, err)
	}
	return nil
}
