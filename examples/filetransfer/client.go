package filetransfer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// Caller sends one IIP request and returns its response; *iip.Client and
// *iip.Channel satisfy it.
type Caller interface {
	Do(ctx context.Context, path string, data []byte) ([]byte, error)
}

// Options configures Download and Upload. The zero value of every field
// means its default; a nil *Options means all defaults.
type Options struct {
	// ChunkSize is the size of one read or write request, 1..MaxChunkSize.
	// Default DefaultChunkSize; a larger value is lowered to MaxChunkSize.
	ChunkSize int
	// RateLimit caps the transfer at this many bytes per second (through
	// golang.org/x/time/rate, with a burst of one chunk). Default 0:
	// unlimited.
	RateLimit float64
	// CallTimeout bounds each request. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// RetryTimeout is how long transient failures (connection lost, server
	// unreachable, timeouts) are retried, with backoff from 50 ms to 2 s,
	// before the transfer gives up; the clock restarts at every success.
	// Default DefaultRetryTimeout; negative disables retries.
	RetryTimeout time.Duration
	// Progress, when set, is called with the bytes done and the total
	// before the first chunk and after each one. It runs on the
	// transferring goroutine.
	Progress func(done, total int64)
	// Logger receives a line per retry. Default slog.Default().
	Logger *slog.Logger
}

// Result describes a finished transfer.
type Result struct {
	Size    int64  // file size in bytes
	SHA256  string // hex SHA-256 of the file, checked by the receiving side
	Resumed int64  // bytes that were already there when this run started
	Sent    int64  // bytes transferred by this run
}

// transfer holds what Download and Upload share: options with defaults
// applied, the rate limiter and the retrying call.
type transfer struct {
	c       Caller
	opts    Options
	limiter *rate.Limiter
}

func newTransfer(c Caller, o *Options) *transfer {
	t := &transfer{c: c}
	if o != nil {
		t.opts = *o
	}
	switch {
	case t.opts.ChunkSize <= 0:
		t.opts.ChunkSize = DefaultChunkSize
	case t.opts.ChunkSize > MaxChunkSize:
		t.opts.ChunkSize = MaxChunkSize
	}
	if t.opts.CallTimeout <= 0 {
		t.opts.CallTimeout = DefaultCallTimeout
	}
	if t.opts.RetryTimeout == 0 {
		t.opts.RetryTimeout = DefaultRetryTimeout
	}
	if t.opts.Logger == nil {
		t.opts.Logger = slog.Default()
	}
	if t.opts.RateLimit > 0 {
		t.limiter = rate.NewLimiter(rate.Limit(t.opts.RateLimit), t.opts.ChunkSize)
	}
	return t
}

func (t *transfer) progress(done, total int64) {
	if t.opts.Progress != nil {
		t.opts.Progress(done, total)
	}
}

// wait takes n bytes from the rate limiter.
func (t *transfer) wait(ctx context.Context, n int) error {
	if t.limiter == nil {
		return nil
	}
	if err := t.limiter.WaitN(ctx, n); err != nil {
		return fmt.Errorf("filetransfer: rate limit: %w", err)
	}
	return nil
}

// call sends one request, retrying transient failures for up to
// RetryTimeout, and maps the server's errors back to our sentinels.
func (t *transfer) call(ctx context.Context, path string, data []byte) ([]byte, error) {
	var giveUp time.Time
	backoff := retryBackoffMin
	for {
		cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
		resp, err := t.c.Do(cctx, path, data)
		cancel()
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("filetransfer: %s: %w", path, ctx.Err())
		}
		if !transient(err) || t.opts.RetryTimeout < 0 {
			return nil, fromRemote(err)
		}
		now := time.Now()
		if giveUp.IsZero() {
			giveUp = now.Add(t.opts.RetryTimeout)
		}
		if now.After(giveUp) {
			return nil, fmt.Errorf("filetransfer: gave up after %v of retries: %w", t.opts.RetryTimeout, err)
		}
		t.opts.Logger.Warn("filetransfer: retrying", "path", path, "in", backoff, "err", err)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("filetransfer: %s: %w", path, ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, retryBackoffMax)
	}
}
