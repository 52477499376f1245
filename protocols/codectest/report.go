package codectest

import (
	"fmt"
	"sync"
)

// reporter is what the checks need of a *testing.T. They never stop
// early (a check reports each failure and goes on, a panic of the codec
// included), so Check and the kit's own tests can run them with a
// recorder in their place.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// recorder collects what the checks report; Concurrent reports from
// several goroutines.
type recorder struct {
	mu     sync.Mutex
	errors []string
}

func (*recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, msg)
}

// failures runs check and returns what it reported.
func failures(check func(reporter)) []string {
	var r recorder
	check(&r)
	return r.errors
}
