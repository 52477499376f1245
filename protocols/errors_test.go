package protocols_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func TestAsProtocolError(t *testing.T) {
	pe := &protocols.ProtocolError{Msg: "bad"}
	for _, tc := range []struct {
		err  error
		want *protocols.ProtocolError
	}{
		{pe, pe},
		{fmt.Errorf("wrapped: %w", pe), pe},
		{errors.New("other"), nil},
		{nil, nil},
	} {
		got, ok := protocols.AsProtocolError(tc.err)
		if got != tc.want || ok != (tc.want != nil) {
			t.Errorf("AsProtocolError(%v) = %v, %v; want %v", tc.err, got, ok, tc.want)
		}
	}
	var sink *protocols.ProtocolError
	if n := testing.AllocsPerRun(100, func() { sink, _ = protocols.AsProtocolError(pe) }); n != 0 {
		t.Errorf("AsProtocolError of a *ProtocolError: %v allocations", n)
	}
	_ = sink
}

func TestAppendOneLine(t *testing.T) {
	if got := string(protocols.AppendOneLine([]byte("-ERR "), "a\r\nb\nc")); got != "-ERR a  b c" {
		t.Errorf("got %q", got)
	}
}
