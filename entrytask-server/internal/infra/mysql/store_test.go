package mysql_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func TestMigrateIdempotent(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	ctx := context.Background()
	s, err := mysql.Open(ctx, mysql.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ran, err := s.Migrate(ctx)
	if err != nil || len(ran) != 1 || ran[0] != "0001_accounts" {
		t.Fatalf("first Migrate = %v %v", ran, err)
	}
	ran, err = s.Migrate(ctx)
	if err != nil || len(ran) != 0 {
		t.Fatalf("second Migrate = %v %v, want nothing to do", ran, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct{ name, dsn, want string }{
		{"empty", "", "mysql: DSN is empty"},
		{"malformed", "root@tcp(127.0.0.1:3306", "mysql: parsing DSN"},
		{"closed port", "root@tcp(127.0.0.1:1)/x", "mysql: connecting to 127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mysql.Open(ctx, mysql.Options{DSN: tc.dsn})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q) = %v, want %q", tc.dsn, err, tc.want)
			}
		})
	}
}

// openMigrated opens dsn (with replica, when not "") and applies the migrations.
func openMigrated(t *testing.T, dsn, replica string, log *slog.Logger) *mysql.Store {
	t.Helper()
	ctx := context.Background()
	s, err := mysql.Open(ctx, mysql.Options{DSN: dsn, ReplicaDSN: replica, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReplica: quota lookups read the replica, writes go to the primary, and a replica
// that cannot be reached (a closed port) sends the lookups to the primary. A second
// database on the same server stands in for the replica, holding a different quota for
// the same user, so the answer shows which one was read.
func TestReplica(t *testing.T) {
	ctx := context.Background()
	primaryDSN, replicaDSN := testenv.MySQLDSN(t), testenv.MySQLDSN(t)
	primary, replica := openMigrated(t, primaryDSN, "", nil), openMigrated(t, replicaDSN, "", nil)
	for _, s := range []*mysql.Store{primary, replica} {
		if u, err := s.CreateUser(ctx, "alice", "h"); err != nil || u.ID != 1 {
			t.Fatalf("CreateUser: %+v %v", u, err)
		}
	}
	if err := primary.SetQuota(ctx, 1, domain.Quota{Read: 10, Write: 10}); err != nil {
		t.Fatal(err)
	}
	if err := replica.SetQuota(ctx, 1, domain.Quota{Read: 20, Write: 20}); err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	s := openMigrated(t, primaryDSN, replicaDSN, slog.New(slog.NewTextHandler(&logs, nil)))
	if q, err := s.QuotaOf(ctx, 1); err != nil || q.Read != 20 {
		t.Fatalf("QuotaOf with a replica = %+v %v, want the replica's 20", q, err)
	}
	if _, err := s.QuotaOf(ctx, 2); !errors.Is(err, domain.ErrQuotaNotFound) {
		t.Fatalf("QuotaOf of a user without quota on the replica: %v, want ErrQuotaNotFound", err)
	}
	if err := s.SetQuota(ctx, 1, domain.Quota{Read: 30, Write: 30}); err != nil {
		t.Fatal(err)
	}
	if q, err := primary.QuotaOf(ctx, 1); err != nil || q.Read != 30 {
		t.Fatalf("primary after SetQuota = %+v %v, want 30 (writes go to the primary)", q, err)
	}
	if q, err := replica.QuotaOf(ctx, 1); err != nil || q.Read != 20 {
		t.Fatalf("replica after SetQuota = %+v %v, want 20 unchanged", q, err)
	}
	if s.Replica() == nil || logs.Len() != 0 {
		t.Fatalf("Replica() %v, logs %q", s.Replica(), logs.String())
	}

	down := "root@tcp(127.0.0.1:1)/x"
	logs.Reset()
	s = openMigrated(t, primaryDSN, down, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 3 {
		if q, err := s.QuotaOf(ctx, 1); err != nil || q.Read != 30 {
			t.Fatalf("QuotaOf with the replica down = %+v %v, want the primary's 30", q, err)
		}
	}
	if n := strings.Count(logs.String(), "replica failed"); n != 1 {
		t.Fatalf("%d replica failures logged, want 1 (the first of the run):\n%s", n, logs.String())
	}
}
