package protocols_test

import (
	"errors"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/redis"
)

func TestNewCodecFrom(t *testing.T) {
	bad := errors.New("bad options")
	if c, err := protocols.NewCodecFrom((*redis.Codec)(nil), bad); c != nil || err != bad {
		t.Errorf("on an error: got %v, %v; want a nil Codec and the error", c, err)
	}
	want, err := redis.New(protocols.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := protocols.NewCodecFrom(want, nil); c != want || err != nil {
		t.Errorf("got %v, %v; want the codec", c, err)
	}
}
