package shared

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/walnutproxy/walnut/plugins/proto"
)

// DistributionClient is the host's end of a distribution plugin.
type DistributionClient struct{ c pb.DistributionClient }

// Build asks the plugin for a table over servers. It does not check the
// table: the caller does, against the same servers.
func (d *DistributionClient) Build(ctx context.Context, servers []Server) (Table, error) {
	req := &pb.BuildRequest{Servers: make([]*pb.Server, len(servers))}
	for i, s := range servers {
		req.Servers[i] = &pb.Server{Name: s.Name, Addr: s.Addr, Weight: int32(s.Weight), Alive: s.Alive}
	}
	resp, err := d.c.Build(ctx, req)
	if err != nil {
		return Table{}, err
	}
	return tableFromProto(resp)
}

// Probe reports whether the plugin serves the Distribution service, with
// the empty request the contract reserves for that.
func (d *DistributionClient) Probe(ctx context.Context) (bool, error) {
	_, err := d.c.Build(ctx, &pb.BuildRequest{})
	return served(err)
}

// HashClient is the host's end of a hash plugin.
type HashClient struct{ c pb.HashClient }

// Hash hashes keys into out in one call.
func (h *HashClient) Hash(ctx context.Context, keys [][]byte, out []uint32) error {
	resp, err := h.c.Hash(ctx, &pb.HashRequest{Keys: keys})
	if err != nil {
		return err
	}
	if len(resp.Hashes) != len(keys) {
		return fmt.Errorf("%d hashes for %d keys", len(resp.Hashes), len(keys))
	}
	copy(out, resp.Hashes)
	return nil
}

// Probe reports whether the plugin serves the Hash service.
func (h *HashClient) Probe(ctx context.Context) (bool, error) {
	_, err := h.c.Hash(ctx, &pb.HashRequest{})
	return served(err)
}

func served(err error) (bool, error) {
	if status.Code(err) == codes.Unimplemented {
		return false, nil
	}
	return err == nil, err
}

func tableFromProto(resp *pb.BuildResponse) (Table, error) {
	switch t := resp.Table.(type) {
	case nil:
		return Table{}, nil
	case *pb.BuildResponse_Buckets:
		return Table{Buckets: t.Buckets.GetServers()}, nil
	case *pb.BuildResponse_Continuum:
		points, servers := t.Continuum.GetPoints(), t.Continuum.GetServers()
		if len(points) != len(servers) {
			return Table{}, fmt.Errorf("continuum has %d points but %d servers; want one server per point", len(points), len(servers))
		}
		c := make([]Point, len(points))
		for i := range c {
			c[i] = Point{Hash: points[i], Server: servers[i]}
		}
		return Table{Continuum: c}, nil
	default:
		return Table{}, fmt.Errorf("unknown table type %T (a plugin built against a newer contract?)", t)
	}
}

func tableToProto(t Table) *pb.BuildResponse {
	switch {
	case len(t.Continuum) > 0:
		c := &pb.Continuum{Points: make([]uint32, len(t.Continuum)), Servers: make([]int32, len(t.Continuum))}
		for i, p := range t.Continuum {
			c.Points[i], c.Servers[i] = p.Hash, p.Server
		}
		return &pb.BuildResponse{Table: &pb.BuildResponse_Continuum{Continuum: c}}
	case len(t.Buckets) > 0:
		return &pb.BuildResponse{Table: &pb.BuildResponse_Buckets{Buckets: &pb.Buckets{Servers: t.Buckets}}}
	default:
		return &pb.BuildResponse{}
	}
}

// distributionServer is the plugin's end of the Distribution service.
type distributionServer struct {
	pb.UnimplementedDistributionServer
	impl Distribution
}

func (s *distributionServer) Build(_ context.Context, req *pb.BuildRequest) (resp *pb.BuildResponse, err error) {
	if len(req.Servers) == 0 {
		return &pb.BuildResponse{}, nil // the host's probe; no pool has no server
	}
	servers := make([]Server, len(req.Servers))
	for i, s := range req.Servers {
		servers[i] = Server{Name: s.Name, Addr: s.Addr, Weight: int(s.Weight), Alive: s.Alive}
	}
	defer recoverTo(&err)
	t, err := s.impl.Build(servers)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if err := t.Check(servers); err != nil {
		return nil, status.Errorf(codes.Internal, "the plugin built a bad table: %v", err)
	}
	return tableToProto(t), nil
}

// hashServer is the plugin's end of the Hash service.
type hashServer struct {
	pb.UnimplementedHashServer
	impl Hash
}

func (s *hashServer) Hash(_ context.Context, req *pb.HashRequest) (resp *pb.HashResponse, err error) {
	if len(req.Keys) == 0 {
		return &pb.HashResponse{}, nil // the host's probe
	}
	defer recoverTo(&err)
	out := make([]uint32, len(req.Keys))
	if err := s.impl.Hash(req.Keys, out); err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &pb.HashResponse{Hashes: out}, nil
}

// recoverTo turns a panic in a plugin's code into an error for the one
// call that caused it: the plugin keeps serving, and walnut keeps its
// last table (or fails that one batch of requests) instead of restarting
// the plugin.
func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = status.Error(codes.Internal, fmt.Sprintf("the plugin panicked: %v", r))
	}
}
