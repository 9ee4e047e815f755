package mysql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed857a6cbd/pocket/entrytask-server/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
