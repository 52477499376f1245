package distributions

import (
	"slices"
	"testing"
)

func TestDefaultName(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:11211", "127.0.0.1"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"cache-1.example.com:11211", "cache-1.example.com"},
		{"cache-1.example.com:22122", "cache-1.example.com:22122"},
		{"127.0.0.1:011211", "127.0.0.1"},      // nc_atoi accepts leading zeros
		{"127.0.0.1:06379", "127.0.0.1:06379"}, // and the name keeps the text
		{"::1:11211", "::1"},                   // the last colon splits
		{"/var/run/redis.sock", "/var/run/redis.sock:"},
		{"/tmp/mc", "/tmp/mc:"},
		{"localhost", "localhost"},
	}
	for _, tt := range tests {
		if got := DefaultName(tt.addr); got != tt.want {
			t.Errorf("DefaultName(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestSortServers(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{
			in:   []string{"10.0.0.10:6379", "10.0.0.9:6379", "10.0.0.1:6379"},
			want: []string{"10.0.0.1:6379", "10.0.0.9:6379", "10.0.0.10:6379"},
		},
		{ // length before content
			in:   []string{"aa", "b", "zzz", "a"},
			want: []string{"a", "b", "aa", "zzz"},
		},
		{ // bytes compare unsigned
			in:   []string{"\xe9", "z", "A"},
			want: []string{"A", "z", "\xe9"},
		},
		{ // strncmp stops at NUL, so these are equal and keep their order
			in:   []string{"a\x00z", "a\x00b", "a\x00m"},
			want: []string{"a\x00z", "a\x00b", "a\x00m"},
		},
		{in: nil, want: nil},
	}
	for _, tt := range tests {
		servers := make([]Server, len(tt.in))
		for i, n := range tt.in {
			servers[i] = Server{Name: n, Addr: "addr-" + n, Weight: 1}
		}
		SortServers(servers)
		var got []string
		for _, s := range servers {
			got = append(got, s.Name)
			if s.Addr != "addr-"+s.Name {
				t.Errorf("server %q lost its fields", s.Name)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("SortServers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
