// Package progress shows a transfer's progress bar on a terminal, and
// nothing when the output is not a terminal (a pipe, a file, a test).
package progress

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar reports progress; its methods do nothing when the output is not a
// terminal.
type Bar struct {
	bar *progressbar.ProgressBar
}

// New returns a bar writing to out when out is a terminal, described by
// desc. The total is set by the first Set call.
func New(out *os.File, desc string) *Bar {
	if !term.IsTerminal(int(out.Fd())) {
		return &Bar{}
	}
	return &Bar{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = out.WriteString("\n") }),
	)}
}

// Set shows done bytes out of total; it fits filetransfer.Options.Progress.
func (b *Bar) Set(done, total int64) {
	if b.bar == nil {
		return
	}
	if b.bar.GetMax64() != total {
		b.bar.ChangeMax64(total)
	}
	_ = b.bar.Set64(done)
}

// Finish completes the bar, if any.
func (b *Bar) Finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}
