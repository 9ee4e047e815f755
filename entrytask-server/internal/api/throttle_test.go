package api_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/api"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/app"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// TestLoginPatternsOfOldClients: through the real dora server on both stores, with the
// default hash wait and a password cost that makes 100 checks take seconds on a loaded
// box, the previous version's clients get in: 12 sequential logins of one user, then 100
// concurrent ones, each a session of its own (the verified-login cache lets them share one
// check). Failed attempts are counted per client address too: 20 wrong passwords for 20
// different (unknown) usernames from one address are answered, the next is refused with
// retry-after-ms, and so is the right password of a real user from that address.
func TestLoginPatternsOfOldClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		st := b.open(t, clk)
		params := domain.PasswordParams{Time: 1, MemoryKiB: 4 << 10, Threads: 1}
		h, err := domain.HashPassword("worker password", params)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.accounts.CreateUser(ctxT(t), "worker", h); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, st, clk, func(o *app.Options) {
			if rl, ok := st.sessions.(domain.RateLimiter); ok { // Redis
				o.Limiter = rl
			}
			o.PasswordParams = params
			o.LoginAddrRate = 1 // Redis refills on the real clock: keep it out of the count
		})
		ctx := ctxT(t)
		login := func(user, pw string) (*kvpb.LoginRsp, metadata.MD, error) {
			var md metadata.MD
			rsp, err := s.kv.Login(ctx, &kvpb.LoginReq{Username: user, Password: pw}, dora.Trailer(&md))
			return rsp, md, err
		}
		start := time.Now()
		for i := range 12 {
			if rsp, _, err := login("worker", "worker password"); err != nil || rsp.GetStatus().GetCode() != kvpb.CODE_OK {
				t.Fatalf("sequential login %d: %v %v", i, rsp, err)
			}
		}
		const workers = 100
		type result struct {
			token string
			err   error
		}
		res := make(chan result, workers)
		for range workers {
			go func() {
				rsp, _, err := login("worker", "worker password")
				if err == nil && rsp.GetStatus().GetCode() != kvpb.CODE_OK {
					err = fmt.Errorf("status %v", rsp.GetStatus())
				}
				res <- result{rsp.GetToken(), err}
			}()
		}
		tokens := map[string]bool{}
		for range workers {
			r := <-res
			if r.err != nil {
				t.Fatalf("one of %d concurrent logins: %v", workers, r.err)
			}
			tokens[r.token] = true
		}
		if len(tokens) != workers {
			t.Fatalf("%d distinct sessions from %d logins", len(tokens), workers)
		}
		t.Logf("12 sequential + %d concurrent logins of one user: all in, %s", workers, time.Since(start))

		// Guess until the first refusal. The Redis limiter refills on the real clock at
		// LoginAddrRate (1/s), so a slow box earns one more answered guess per second the
		// guesses took: the bound is the burst plus those refills.
		burst := app.DefaultLoginAddrBurst
		answered, refused := 0, false
		var md metadata.MD
		guessStart := time.Now()
		for i := 0; !refused && i < burst+50; i++ {
			rsp, m, err := login("ghost"+strconv.Itoa(i), "a guess")
			switch {
			case err == nil && rsp.GetStatus().GetCode() == kvpb.CODE_INCORRECT_USERNAME_OR_PASSWORD:
				answered++
			case status.Code(err) == codes.ResourceExhausted:
				md, refused = m, true
			default:
				t.Fatalf("guess %d: %v %v", i, rsp, err)
			}
		}
		refills := int(time.Since(guessStart).Seconds()) + 1
		if !refused || answered < burst || answered > burst+refills {
			t.Fatalf("%d guesses from one address answered before a refusal (refused %v) in %s, want %d (+%d refills)",
				answered, refused, time.Since(guessStart), burst, refills)
		}
		if ms, _ := strconv.Atoi(md.Get(api.MDRetryAfterMs)); ms < 1 || ms > 2000 {
			t.Fatalf("refused guess: retry-after-ms %q, want 1..2000", md.Get(api.MDRetryAfterMs))
		}
		if _, _, err := login("worker", "worker password"); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("right password from a locked-out address: %v, want ResourceExhausted", err)
		}
	})
}
