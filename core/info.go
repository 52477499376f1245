//go:build linux

package core

import "github.com/walnutproxy/walnut/protocols"

// info reports the pool's figures to its codec (Redis' INFO). It runs on
// a loop, so it takes no lock a loop could be waited for under: counters
// are atomics and the routing table is read whole.
func (p *Pool) info() protocols.ProxyInfo {
	if p == nil {
		return protocols.ProxyInfo{}
	}
	cfg := p.settings().cfg
	in := protocols.ProxyInfo{Version: p.px.version, Pool: p.name, Listen: cfg.Listen, Start: p.px.start,
		Workers: p.px.workers, Clients: p.clients.Load(), MaxClients: cfg.ClientConnections,
		ConfigFile: p.px.confPath, Rejected: p.rejected.Load()}
	if p.lnAddr != nil {
		in.Listen = p.lnAddr.String()
	}
	for i := range p.counters {
		c := &p.counters[i]
		in.ClientsAccepted += c.clientsAccepted.Load()
		in.ForwardErrors += c.forwardError.Load()
		in.Fragments += c.fragments.Load()
		for j := range c.families {
			in.Requests += c.families[j].requests.Load()
		}
	}
	t := p.table.Load()
	in.Servers = len(t.backends)
	for i, b := range t.backends {
		if !t.alive[i] {
			in.Ejected++
		}
		in.Ejections += b.ejections.Load()
	}
	return in
}
