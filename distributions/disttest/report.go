package disttest

import (
	"fmt"
	"runtime"
	"sync"
)

// reporter is the part of *testing.T the checks use. It is an interface
// so that Check, and the kit's own tests, can run the checks under a
// recorder and see what they report.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// recorder collects what a check reports. Like *testing.T, it stops the
// check on Fatalf or Skipf by ending the goroutine the check runs in.
type recorder struct {
	mu      sync.Mutex
	errors  []string
	skipped string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// record runs check in a goroutine of its own, so that Fatalf and Skipf
// can end it, and returns what it reported.
func record(check func(reporter)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r
}
