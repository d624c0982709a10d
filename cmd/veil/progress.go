package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Progress bar tuning.
const (
	progressMinSize  = 1_000_000              // smaller files show no bar
	progressInterval = 100 * time.Millisecond // at most 10 lines a second
	progressTau      = 2 * time.Second        // time constant of the rate's moving average
	progressWidth    = 80                     // when the terminal does not say
)

// transferBar draws one line on a terminal, redrawn in place with \r:
//
//	[#######-------]  47%  47.0/100.0 MB  61.2 MB/s  0:01 left
//
// The rate is an exponentially weighted moving average of the bytes moved.
type transferBar struct {
	w     io.Writer
	now   func() time.Time
	width int // the terminal's columns
	total int64

	drawnAt   time.Time // last line drawn (zero: none yet)
	drawnLen  int       // its length, to blank what a shorter line leaves
	sampleAt  time.Time
	sampleN   int64
	rate      float64 // bytes a second
	haveRate  bool
	lastBytes int64
}

// newTransferBar returns a bar for a transfer of total bytes on w, width
// columns wide, read from now.
func newTransferBar(w io.Writer, total int64, width int, now func() time.Time) *transferBar {
	if width <= 0 {
		width = progressWidth
	}
	return &transferBar{w: w, now: now, width: width, total: total}
}

// terminalBar returns a bar on w for total bytes when w is a
// terminal, the output is not JSON and the file is large enough to be
// worth one; else nil. A nil *transferBar does nothing.
func terminalBar(w io.Writer, total int64, asJSON bool) *transferBar {
	f, ok := w.(*os.File)
	if !ok || asJSON || total <= progressMinSize || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		width = progressWidth
	}
	return newTransferBar(w, total, width, time.Now)
}

// update records that n bytes have moved and redraws the line if the
// last one is at least progressInterval old.
func (p *transferBar) update(n int64) {
	if p == nil {
		return
	}
	now := p.now()
	p.sample(now, n)
	if !p.drawnAt.IsZero() && now.Sub(p.drawnAt) < progressInterval {
		return
	}
	p.draw(now)
}

// finish draws the last line, at n bytes, and ends it.
func (p *transferBar) finish(n int64) {
	if p == nil {
		return
	}
	now := p.now()
	p.sample(now, n)
	p.draw(now)
	fmt.Fprintln(p.w)
}

// abandon ends the line where it is, if one was drawn.
func (p *transferBar) abandon() {
	if p == nil || p.drawnAt.IsZero() {
		return
	}
	fmt.Fprintln(p.w)
}

func (p *transferBar) sample(now time.Time, n int64) {
	p.lastBytes = n
	if p.sampleAt.IsZero() {
		p.sampleAt, p.sampleN = now, n
		return
	}
	dt := now.Sub(p.sampleAt).Seconds()
	if dt <= 0 {
		return
	}
	inst := float64(n-p.sampleN) / dt
	if !p.haveRate {
		p.rate, p.haveRate = inst, true
	} else {
		a := 1 - math.Exp(-dt/progressTau.Seconds())
		p.rate += a * (inst - p.rate)
	}
	p.sampleAt, p.sampleN = now, n
}

func (p *transferBar) draw(now time.Time) {
	line := progressLine(p.width, p.lastBytes, p.total, p.rate)
	pad := ""
	if n := p.drawnLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(p.w, "\r"+line+pad)
	p.drawnAt, p.drawnLen = now, len(line)
}

// progressLine is the bar's text for done of total bytes at rate bytes a
// second, fitting in width columns (the last one left free, so the
// terminal does not wrap).
func progressLine(width int, done, total int64, rate float64) string {
	done = min(max(done, 0), total)
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	unit, div := "MB", 1e6
	if total >= 1e9 {
		unit, div = "GB", 1e9
	}
	left := "-:--"
	if rate > 0 {
		left = clock(time.Duration(float64(total-done) / rate * float64(time.Second)))
	}
	tail := fmt.Sprintf(" %3d%%  %.1f/%.1f %s  %.1f MB/s  %s left", int(frac*100), float64(done)/div, float64(total)/div, unit, rate/1e6, left)
	bar := width - 1 - len(tail) - 2
	if bar < 5 {
		return strings.TrimLeft(tail, " ")
	}
	fill := int(math.Round(frac * float64(bar)))
	return "[" + strings.Repeat("#", fill) + strings.Repeat("-", bar-fill) + "]" + tail
}

// clock says d as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
