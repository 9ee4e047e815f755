package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
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
	// Timeout, when positive, bounds each request; one that takes longer fails with
	// DEADLINE_EXCEEDED. Default 0: no bound beyond the run's context.
	Timeout time.Duration
	// LoggedIn, when set, is called after each successful login of Login, from several
	// goroutines at once; it must be safe for concurrent use.
	LoggedIn func()

	tokens []string
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
func (w *Workload) Op(ctx context.Context, _ int, seq int64) error {
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	i := int(seq % int64(len(w.Users)))
	var tok string
	if i < len(w.tokens) {
		tok = w.tokens[i]
	}
	if w.Method == MethodWrite {
		return w.Client.Write(ctx, tok, w.Users[i].Name, w.Key, w.Value)
	}
	if sr, ok := w.Client.(kvclient.SizeReader); ok {
		_, err := sr.ReadSize(ctx, tok, w.Users[i].Name, w.Key) // the value is not needed
		return err
	}
	_, err := w.Client.Read(ctx, tok, w.Users[i].Name, w.Key)
	return err
}

// ClassifyStatus is the Options.Classify etclient uses: the failure's status code name
// ("UNAUTHENTICATED", "KEY_NOT_EXIST", …).
func ClassifyStatus(err error) string { return kvclient.CodeOf(err).String() }
