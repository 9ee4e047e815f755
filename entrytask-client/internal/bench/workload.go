package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
)

// The methods a Workload can benchmark.
const (
	MethodRead  = "read"
	MethodWrite = "write"
)

// ErrBadWorkload is wrapped by the errors about a Workload's settings.
var ErrBadWorkload = errors.New("bench: bad workload")

// User is one account the workload logs in as.
type User struct {
	Name, Password string
}

// SeededUsers returns n users with consecutive numeric names starting at first (which must
// be a non-negative integer when n > 1). When password equals first, each user's password is
// its own name (the convention of `etserver seed`); otherwise all share password. n <= 1
// returns the single user first/password, whatever first is.
func SeededUsers(first, password string, n int) ([]User, error) {
	if n <= 1 {
		return []User{{Name: first, Password: password}}, nil
	}
	id, err := strconv.ParseUint(first, 10, 63)
	if err != nil {
		return nil, fmt.Errorf("%w: with %d users the first user %q must be a number", ErrBadWorkload, n, first)
	}
	own := password == first
	users := make([]User, n)
	for i := range users {
		name := strconv.FormatUint(id+uint64(i), 10)
		users[i] = User{Name: name, Password: password}
		if own {
			users[i].Password = name
		}
	}
	return users, nil
}

// Workload is the etserver benchmark: every request reads Key, or writes Value under Key,
// as one of Users (request seq uses user seq mod len(Users)), with that user's session.
type Workload struct {
	// Client is the connection to etserver, shared by all workers.
	Client kvclient.Client
	// Method is MethodRead or MethodWrite.
	Method string
	// Users are the accounts; at least one.
	Users []User
	// Key and Value are what is read or written.
	Key, Value string
	// Timeout, when positive, bounds each request; one that takes longer is cancelled and
	// fails with DEADLINE_EXCEEDED. Each worker enforces it with one reusable timer and
	// context instead of a context with a deadline per request, so the server is not told
	// the bound (it learns of a cancelled request from the client's reset). Default 0: no
	// bound beyond the run's context.
	Timeout time.Duration
	// LoggedIn, when set, is called after each successful login of Login, from several
	// goroutines at once; it must be safe for concurrent use.
	LoggedIn func()

	tokens []string
	dogs   *watchdogs // set by Login
}

// watchdogs are the workers' watchdogs, by worker index, grown on first use.
type watchdogs struct {
	mu sync.Mutex
	by atomic.Pointer[[]*watchdog]
}

// watchdog bounds one worker's requests by Timeout: each request runs in ctx, which the
// timer cancels when the request outlives the bound; ctx is replaced after that.
type watchdog struct {
	timeout time.Duration
	timer   *time.Timer // created stopped; its function cancels ctx when armed == gen

	mu     sync.Mutex
	gen    uint64 // the current request; bumped when ctx is replaced
	armed  uint64 // the request the timer was set for
	fired  bool   // the timer cancelled the current ctx
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
}

func newWatchdog(timeout time.Duration) *watchdog {
	d := &watchdog{timeout: timeout}
	d.timer = time.AfterFunc(time.Hour, d.expire)
	d.timer.Stop()
	return d
}

func (d *watchdog) expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed == d.gen && d.cancel != nil && !d.fired {
		d.fired = true
		d.cancel()
	}
}

// start returns the context for a request under parent and arms the timer.
func (d *watchdog) start(parent context.Context) context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.parent != parent || d.fired || d.ctx.Err() != nil {
		if d.cancel != nil {
			d.cancel()
		}
		d.gen++
		d.fired = false
		d.parent = parent
		d.ctx, d.cancel = context.WithCancel(parent)
	}
	d.armed = d.gen
	d.timer.Reset(d.timeout)
	return d.ctx
}

// finish disarms the timer and reports whether it cancelled the request.
func (d *watchdog) finish() (timedOut bool) {
	if d.timer.Stop() {
		return false
	}
	// The timer fired: its function has cancelled ctx or is about to; a new request gets a
	// new ctx, and the function, should it run late, leaves that one alone.
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.fired = true
	return true
}

// get returns worker's watchdog.
func (dd *watchdogs) get(worker int, timeout time.Duration) *watchdog {
	if ws := dd.by.Load(); ws != nil && worker < len(*ws) && (*ws)[worker] != nil {
		return (*ws)[worker]
	}
	dd.mu.Lock()
	defer dd.mu.Unlock()
	var ws []*watchdog
	if old := dd.by.Load(); old != nil {
		ws = append(ws, *old...)
	}
	if worker >= len(ws) {
		ws = append(ws, make([]*watchdog, worker+1-len(ws))...)
	}
	if ws[worker] == nil {
		ws[worker] = newWatchdog(timeout)
	}
	dd.by.Store(&ws)
	return ws[worker]
}

// Login logs every user in, concurrency logins at a time, and keeps their tokens for Op. It
// checks the workload's settings first and stops at the first failed login, returning an
// error that names the user.
func (w *Workload) Login(ctx context.Context, concurrency int) error {
	switch {
	case w.Client == nil:
		return fmt.Errorf("%w: no client", ErrBadWorkload)
	case w.Method != MethodRead && w.Method != MethodWrite:
		return fmt.Errorf("%w: method %q is neither %q nor %q", ErrBadWorkload, w.Method, MethodRead, MethodWrite)
	case len(w.Users) == 0:
		return fmt.Errorf("%w: no users", ErrBadWorkload)
	}
	concurrency = max(1, min(concurrency, len(w.Users)))
	w.tokens = make([]string, len(w.Users))
	w.dogs = &watchdogs{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				u := w.Users[i]
				tok, err := w.Client.Login(ctx, u.Name, u.Password)
				if err != nil {
					once.Do(func() {
						firstErr = fmt.Errorf("bench: login as user %q: %w", u.Name, err)
						cancel()
					})
					continue
				}
				w.tokens[i] = tok
				if w.LoggedIn != nil {
					w.LoggedIn()
				}
			}
		}()
	}
feed:
	for i := range w.Users {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// Op is the workload's bench.Op: one read or write as user seq mod len(Users). Call Login
// first; before it every request is sent without a session.
func (w *Workload) Op(ctx context.Context, worker int, seq int64) error {
	if w.Timeout <= 0 {
		return w.op(ctx, seq)
	}
	if w.dogs == nil || worker < 0 { // no Login
		ctx, cancel := context.WithTimeout(ctx, w.Timeout)
		defer cancel()
		return w.op(ctx, seq)
	}
	d := w.dogs.get(worker, w.Timeout)
	err := w.op(d.start(ctx), seq)
	if d.finish() && err != nil && ctx.Err() == nil {
		return fmt.Errorf("bench: request took longer than %v: %w", w.Timeout, context.DeadlineExceeded)
	}
	return err
}

// op is one request as user seq mod len(Users).
func (w *Workload) op(ctx context.Context, seq int64) error {
	i := int(seq % int64(len(w.Users)))
	var tok string
	if i < len(w.tokens) {
		tok = w.tokens[i]
	}
	if w.Method == MethodWrite {
		return w.Client.Write(ctx, tok, w.Users[i].Name, w.Key, w.Value)
	}
	_, err := w.Client.Read(ctx, tok, w.Users[i].Name, w.Key)
	return err
}

// ClassifyStatus is the Options.Classify etclient uses: the failure's status code name
// ("UNAUTHENTICATED", "KEY_NOT_EXIST", …).
func ClassifyStatus(err error) string { return kvclient.CodeOf(err).String() }
