package reshard

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress shows how a pool's reshard goes: on a terminal, one line
// redrawn in place a few times a second; elsewhere (a log, a pipe), a
// line every few seconds.
type progress struct {
	w        io.Writer
	terminal bool
	width    int
	every    time.Duration
	pr       *PoolReport
	start    time.Time
	dryRun   bool

	stop chan struct{}
	done sync.WaitGroup
}

func startProgress(w io.Writer, terminal bool, width int, every time.Duration, pr *PoolReport, dryRun bool) *progress {
	if w == nil {
		return nil
	}
	if width <= 0 {
		width = 100
	}
	if terminal {
		every = 200 * time.Millisecond
	} else if every <= 0 {
		every = 5 * time.Second
	}
	p := &progress{w: w, terminal: terminal, width: width, every: every, pr: pr, start: time.Now(), dryRun: dryRun, stop: make(chan struct{})}
	p.done.Add(1)
	go p.run()
	return p
}

func (p *progress) run() {
	defer p.done.Done()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.show()
		}
	}
}

// end stops the updates and leaves the last state shown.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
	p.show()
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) show() {
	pr := p.pr
	pr.mu.Lock()
	scanned, total := pr.Scanned, pr.Total
	done := scanned + pr.earlierScanned
	var moved, bytes int64
	for _, x := range pr.Pairs {
		moved += x.Keys
		bytes += x.Bytes
	}
	pr.mu.Unlock()
	elapsed := time.Since(p.start)
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	rate := float64(moved) / max(elapsed.Seconds(), 0.001)
	eta := "?"
	if scanned > 0 && total > 0 {
		left := time.Duration(float64(elapsed) * float64(max(0, total-done)) / float64(scanned))
		eta = formatETA(left)
	}
	verb := "moved"
	if p.dryRun {
		verb = "to move"
	}
	stats := fmt.Sprintf("%d/%d keys scanned, %d %s (%s), %.0f keys/s, ETA %s",
		done, total, moved, verb, formatBytes(bytes), rate, eta)
	if !p.terminal {
		fmt.Fprintf(p.w, "reshard: pool %s: %3.0f%% %s\n", pr.Name, 100*frac, stats)
		return
	}
	const barWidth = 24
	filled := int(frac * barWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled)
	line := fmt.Sprintf("%s [%s] %3.0f%% %s", pr.Name, bar, 100*frac, stats)
	if len(line) > p.width-1 {
		line = line[:p.width-1]
	}
	// Back to the start of the line and clear it, then redraw.
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

func formatETA(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// limiter spaces out moves to at most rate keys per second over the
// whole run; rate 0 is no limit.
type limiter struct {
	rate  float64
	mu    sync.Mutex
	start time.Time
	used  float64
}

func newLimiter(rate int) *limiter { return &limiter{rate: float64(rate)} }

// wait returns once n more keys fit in the rate, or ctx ends.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	due := l.start.Add(time.Duration(l.used / l.rate * float64(time.Second)))
	l.used += float64(n)
	l.mu.Unlock()
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
