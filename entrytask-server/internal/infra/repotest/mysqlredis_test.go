package repotest_test

import (
	"context"
	"testing"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/mysql"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/redis"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/repotest"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testenv"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// mysqlRedis is one open MySQL+Redis backend and what is needed to reopen it.
type mysqlRedis struct {
	*mysql.Store
	rs     *redis.Store
	dsn    string
	mode   testenv.RedisMode
	prefix string
}

func openMySQLRedis(t *testing.T, dsn string, mode testenv.RedisMode, prefix string) repotest.Stores {
	t.Helper()
	ctx := context.Background()
	ms, err := mysql.Open(ctx, mysql.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms.Migrate(ctx); err != nil {
		ms.Close()
		t.Fatalf("Migrate: %v", err)
	}
	rs, err := redis.Open(ctx, redis.Options{Addr: mode.Addr, Addrs: mode.Addrs, MasterName: mode.MasterName, Prefix: prefix})
	if err != nil {
		ms.Close()
		t.Fatal(err)
	}
	b := &mysqlRedis{Store: ms, rs: rs, dsn: dsn, mode: mode, prefix: prefix}
	t.Cleanup(func() { b.close() })
	return repotest.Stores{Accounts: b, Quotas: b, Sessions: rs, KV: rs}
}

func (b *mysqlRedis) close() {
	b.Store.Close()
	b.rs.Close()
}

// TestRepositoryMySQLRedis runs the suite on MariaDB/MySQL (accounts, quotas) and Redis
// (sessions, values) in each Redis mode (one node, Cluster, Sentinel; see testenv): a
// database pocket_test_<random> and a unique key prefix per test.
func TestRepositoryMySQLRedis(t *testing.T) {
	for _, mode := range testenv.RedisModes() {
		t.Run(mode.Name, func(t *testing.T) {
			mode.Need(t)
			repotest.Run(t, repotest.Backend{
				Open: func(t *testing.T) repotest.Stores {
					return openMySQLRedis(t, testenv.MySQLDSN(t), mode, mode.Prefix(t))
				},
				Reopen: func(t *testing.T, old repotest.Stores) repotest.Stores {
					b := old.Accounts.(*mysqlRedis)
					b.close()
					return openMySQLRedis(t, b.dsn, b.mode, b.prefix)
				},
			})
		})
	}
}
