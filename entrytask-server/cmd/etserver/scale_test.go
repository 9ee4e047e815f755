package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/metadata"
	"github.com/seed857a6cbd/pocket/dora/status"
	"github.com/seed857a6cbd/pocket/lbclient"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
	"github.com/seed857a6cbd/pocket/entrytask-server/kvpb"
)

// Bounds of TestManyInstances: load callers, how long the load may run in all, and how
// soon a restarted instance must be serving the balanced client's calls.
const (
	manyCallers  = 8
	manyLoadMax  = 60 * time.Second
	manyRejoinIn = time.Second
)

// adminAddr is the admin HTTP address of b, from its "listening" record.
func adminAddr(t *testing.T, b *binaryServer) string {
	t.Helper()
	if b.admin == "" { // startBinary has read the "listening" record, which names it
		t.Fatalf("etserver's listening record names no admin address:\n%s", b.log())
	}
	return b.admin
}

// kvCalls returns the sum of etserver_rpc_calls_total over the key/value methods on the
// admin port at addr.
func kvCalls(t *testing.T, addr string) int {
	t.Helper()
	code, body := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	n := 0
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "etserver_rpc_calls_total{") && strings.Contains(line, "SecureMessage") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			n += int(v)
		}
	}
	return n
}

// TestManyInstances runs 3 etserver binaries on one MariaDB database and one Redis
// Cluster (scripts/redis-scale.sh) behind one balanced dora client with etclient's
// balancer options (kvclient: eject on the first failure, no panic mode, try every
// instance), ejection capped at 250 ms: a session made on one instance works on all and a
// logout on one ends it on all; one instance SIGKILLed under load costs at most the calls
// it had in flight while the others go on serving; restarted on its address, it serves
// the balanced client's calls within manyRejoinIn.
func TestManyInstances(t *testing.T) {
	testenv.NeedScale(t)
	dsn := testenv.MySQLDSN(t)
	d := testenv.StartRedis(t, "cluster")
	bin, env := buildBinary(t)
	env = append(env, "ETSERVER_MYSQL_DSN="+dsn, "ETSERVER_REDIS_ADDRS="+d.Facts["addrs"], "ETSERVER_QUOTA_SHARED=true")
	runBinary(t, bin, env, "seed", "--insecure-fast-hashes", "--users", "8")
	for u := 1; u <= 5; u++ {
		runBinary(t, bin, env, "user", "quota", strconv.Itoa(u), "--read", "100000", "--write", "100000")
	}
	var srvs [3]*binaryServer
	for i := range srvs {
		srvs[i] = startBinary(t, bin, env, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	}

	// Sessions are shared: log in on 0, write on 1, read on 2; a logout on 2 ends the
	// session on 0 and 1 (whose session caches hold it) at once.
	var direct [3]kvpb.StoreClient
	for i, s := range srvs {
		c, err := dora.NewClient(s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		direct[i] = kvpb.NewStoreClient(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), manyLoadMax)
	defer cancel()
	lr, err := direct[0].Login(ctx, &kvpb.LoginReq{Username: "5", Password: "5"})
	if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_OK {
		t.Fatalf("Login on instance 0: %v %v", lr, err)
	}
	tctx := metadata.NewOutgoingContext(ctx, metadata.Pairs("token", lr.GetToken()))
	if _, err := direct[1].WriteSecureMessage(tctx, &kvpb.WriteSecureMessageReq{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("write on instance 1 with instance 0's session: %v", err)
	}
	for i := range direct {
		r, err := direct[i].ReadSecureMessage(tctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
		if err != nil || string(r.GetValue()) != "v" {
			t.Fatalf("read on instance %d: %v %v", i, r, err)
		}
	}
	if _, err := direct[2].Logout(tctx, &kvpb.LogoutReq{}); err != nil {
		t.Fatalf("logout on instance 2: %v", err)
	}
	for i := range 2 {
		// The invalidation travels from Redis to each instance's watch: wait for it,
		// boundedly (it takes well under a millisecond on loopback).
		deadline := time.Now().Add(2 * time.Second)
		for {
			_, err := direct[i].ReadSecureMessage(tctx, &kvpb.ReadSecureMessageReq{Key: []byte("k")})
			if status.Code(err) == codes.Unauthenticated {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d still accepts a session logged out on instance 2 after 2s: %v", i, err)
			}
		}
	}

	// The balanced client, and a session per caller.
	target := "lb:///" + srvs[0].addr + "," + srvs[1].addr + "," + srvs[2].addr
	lb, err := dora.NewClient(target, dora.WithBalancer(lbclient.WithFailureThreshold(1), lbclient.WithPanicThreshold(0),
		lbclient.WithPickAttempts(4), lbclient.WithEjection(100*time.Millisecond, 250*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	kv := kvpb.NewStoreClient(lb)
	var tokens [manyCallers]context.Context
	for g := range tokens {
		user := strconv.Itoa(g%4 + 1)
		lr, err := kv.Login(ctx, &kvpb.LoginReq{Username: user, Password: user})
		if err != nil || lr.GetStatus().GetCode() != kvpb.CODE_OK {
			t.Fatalf("Login %s: %v %v", user, lr, err)
		}
		tokens[g] = metadata.NewOutgoingContext(ctx, metadata.Pairs("token", lr.GetToken()))
	}
	var ok testkit.Counter
	var failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	lctx, lcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for g := range manyCallers {
		wg.Go(func() {
			key := []byte("k" + strconv.Itoa(g))
			for i := 0; lctx.Err() == nil; i++ {
				cctx, ccancel := context.WithTimeout(tokens[g], 5*time.Second)
				var err error
				if i%2 == 0 {
					_, err = kv.WriteSecureMessage(cctx, &kvpb.WriteSecureMessageReq{Key: key, Value: []byte("v")})
				} else {
					_, err = kv.ReadSecureMessage(cctx, &kvpb.ReadSecureMessageReq{Key: key})
				}
				ccancel()
				switch {
				case err == nil:
					ok.Add(1)
				case lctx.Err() == nil:
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	defer func() { lcancel(); wg.Wait() }()
	ok.WaitAtLeast(t, ctx, 300, "the load")
	if err := srvs[1].Cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-srvs[1].Done()
	ok.WaitAtLeast(t, ctx, ok.Load()+300, "the others to go on")
	failedWhileDown := failed.Load()

	// Restarted on the same address, it gets calls within manyRejoinIn.
	restarted := startBinary(t, bin, env, "--listen", srvs[1].addr, "--admin-listen", "127.0.0.1:0")
	listening := time.Now()
	admin := adminAddr(t, restarted)
	// The count is another process's, read over HTTP: no event to wait on.
	testkit.WaitFor(t, testkit.Context(t, 5*time.Second), "a call of the balanced client on the restarted instance",
		func() bool { return kvCalls(t, admin) > 0 })
	rejoin := time.Since(listening)
	ok.WaitAtLeast(t, ctx, ok.Load()+300, "the load after the restart")
	lcancel()
	wg.Wait()

	t.Logf("%d calls ok, %d failed (%d by the time the others had served 300 more); restarted instance serving %v after it listened",
		ok.Load(), failed.Load(), failedWhileDown, rejoin.Round(time.Millisecond))
	if failed.Load() > manyCallers {
		t.Errorf("%d calls failed, more than the %d that can be in flight on the killed instance: %q", failed.Load(), manyCallers, failures)
	}
	if rejoin > manyRejoinIn {
		t.Errorf("the restarted instance took %v to serve a call, want at most %v", rejoin, manyRejoinIn)
	}
}
