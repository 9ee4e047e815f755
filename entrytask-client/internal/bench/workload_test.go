package bench_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-client/internal/bench"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient"
	"github.com/seed857a6cbd/pocket/entrytask-client/internal/kvclient/kvfake"
)

func TestSeededUsers(t *testing.T) {
	tests := []struct {
		name        string
		first, pass string
		n           int
		want        string
		wantErr     string
	}{
		{name: "one user keeps its password", first: "alice", pass: "pw", n: 1, want: "alice/pw"},
		{name: "seeded convention", first: "100", pass: "100", n: 3, want: "100/100 101/101 102/102"},
		{name: "shared password", first: "7", pass: "pw", n: 2, want: "7/pw 8/pw"},
		{name: "non-numeric first", first: "alice", pass: "alice", n: 2, wantErr: `first user "alice" must be a number`},
		{name: "negative first", first: "-1", pass: "x", n: 2, wantErr: "must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := bench.SeededUsers(tt.first, tt.pass, tt.n)
			if tt.wantErr != "" {
				if !errors.Is(err, bench.ErrBadWorkload) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrBadWorkload with %q", err, tt.wantErr)
				}
				return
			}
			var got []string
			for _, u := range users {
				got = append(got, u.Name+"/"+u.Password)
			}
			if strings.Join(got, " ") != tt.want || err != nil {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestWorkloadManyUsers: all users log in before the run, and requests rotate over them
// with their own sessions (the fake refuses a session used for another user).
func TestWorkloadManyUsers(t *testing.T) {
	ctx := context.Background()
	var reads atomic.Int64
	var loginsDuringRun atomic.Int64
	var running atomic.Bool
	srv := kvfake.New(20, func(_ context.Context, method, _ string) error {
		switch method {
		case kvfake.MethodLogin:
			if running.Load() {
				loginsDuringRun.Add(1)
			}
		case kvfake.MethodRead:
			reads.Add(1)
		}
		return nil
	})
	users, err := bench.SeededUsers("11", "11", 10)
	if err != nil {
		t.Fatal(err)
	}
	w := &bench.Workload{Client: srv, Method: bench.MethodWrite, Users: users, Key: "k", Value: "v", Timeout: time.Minute}
	if err := w.Login(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls(kvfake.MethodLogin); got != 10 {
		t.Fatalf("%d logins before the run, want 10", got)
	}
	running.Store(true)
	res, err := bench.Run(ctx, bench.Options{Concurrency: 4, Requests: 5, Classify: bench.ClassifyStatus}, w.Op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success != 20 || res.Failure != 0 || loginsDuringRun.Load() != 0 {
		t.Fatalf("success %d failure %d %v, logins during run %d", res.Success, res.Failure, res.Failures, loginsDuringRun.Load())
	}
	for i := 11; i <= 20; i++ {
		if v, ok := srv.Value(strconv.Itoa(i), "k"); !ok || v != "v" {
			t.Fatalf("user %d has k=%q (%v), want every user written", i, v, ok)
		}
	}
	w.Method = bench.MethodRead
	res, _ = bench.Run(ctx, bench.Options{Concurrency: 2, Requests: 5}, w.Op)
	if res.Success != 10 || reads.Load() != 10 {
		t.Fatalf("reads: success %d, calls %d", res.Success, reads.Load())
	}
}

// TestWorkloadFailuresByCode: without a session every request fails with the server's
// refusal, classified by status code.
func TestWorkloadFailuresByCode(t *testing.T) {
	srv := kvfake.New(1, nil)
	w := &bench.Workload{Client: srv, Method: bench.MethodRead, Users: []bench.User{{"1", "1"}}, Key: "missing"}
	res, err := bench.Run(context.Background(), bench.Options{Concurrency: 2, Requests: 3, Classify: bench.ClassifyStatus}, w.Op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failure != 6 || res.Failures["UNAUTHENTICATED"] != 6 {
		t.Fatalf("failures %v, want 6 UNAUTHENTICATED", res.Failures)
	}
	if err := w.Login(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	res, _ = bench.Run(context.Background(), bench.Options{Requests: 2, Classify: bench.ClassifyStatus}, w.Op)
	if res.Failures["KEY_NOT_EXIST"] != 2 {
		t.Fatalf("failures %v, want 2 KEY_NOT_EXIST", res.Failures)
	}
}

// TestWorkloadTimeout: a request slower than Timeout fails with DEADLINE_EXCEEDED.
func TestWorkloadTimeout(t *testing.T) {
	srv := kvfake.New(1, func(ctx context.Context, method, _ string) error {
		if method == kvfake.MethodRead {
			<-ctx.Done() // the request never answers; only the timeout ends it
			return ctx.Err()
		}
		return nil
	})
	w := &bench.Workload{Client: srv, Method: bench.MethodRead, Users: []bench.User{{"1", "1"}}, Key: "k", Timeout: time.Millisecond}
	if err := w.Login(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	res, _ := bench.Run(context.Background(), bench.Options{Requests: 2, Classify: bench.ClassifyStatus}, w.Op)
	if res.Failures["DEADLINE_EXCEEDED"] != 2 {
		t.Fatalf("failures %v, want 2 DEADLINE_EXCEEDED", res.Failures)
	}
}

// TestWorkloadTimeoutThenFast: after a request timed out, the worker's next requests run in
// a fresh context and succeed; fast requests never time out.
func TestWorkloadTimeoutThenFast(t *testing.T) {
	var n atomic.Int64
	srv := kvfake.New(1, func(ctx context.Context, method, _ string) error {
		if method == kvfake.MethodWrite && n.Add(1)%3 == 1 { // requests 1, 4, 7, 10 hang
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	w := &bench.Workload{Client: srv, Method: bench.MethodWrite, Users: []bench.User{{"1", "1"}}, Key: "k", Value: "v", Timeout: 20 * time.Millisecond}
	if err := w.Login(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	res, _ := bench.Run(context.Background(), bench.Options{Concurrency: 2, Requests: 6, Classify: bench.ClassifyStatus}, w.Op)
	if res.Failures["DEADLINE_EXCEEDED"] != 4 || res.Success != 8 {
		t.Fatalf("%d successes, failures %v; want 8 and 4 DEADLINE_EXCEEDED", res.Success, res.Failures)
	}
}

func TestWorkloadLoginFailure(t *testing.T) {
	srv := kvfake.New(5, nil)
	users, _ := bench.SeededUsers("3", "3", 5) // users 6 and 7 do not exist
	w := &bench.Workload{Client: srv, Method: bench.MethodRead, Users: users, Key: "k"}
	err := w.Login(context.Background(), 2)
	if !errors.Is(err, kvclient.ErrIncorrectUsernameOrPassword) || !strings.Contains(err.Error(), `login as user "`) {
		t.Fatalf("Login = %v, want the failed user named and INCORRECT_USERNAME_OR_PASSWORD", err)
	}
	bad := []struct {
		name string
		w    bench.Workload
		want string
	}{
		{"no client", bench.Workload{Method: "read", Users: users}, "no client"},
		{"bad method", bench.Workload{Client: srv, Method: "delete", Users: users}, `method "delete"`},
		{"no users", bench.Workload{Client: srv, Method: "read"}, "no users"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.w.Login(context.Background(), 1); !errors.Is(err, bench.ErrBadWorkload) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Login = %v, want ErrBadWorkload with %q", err, tt.want)
			}
		})
	}
}
