package kv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	drv "github.com/go-sql-driver/mysql"
)

// dbInfix marks the databases StartServer creates: <base>_kvbench_<token>, token being 12
// lower-case hex digits.
const dbInfix = "_kvbench_"

// lockWaitTimeout is the wait_timeout (seconds) of the session holding a database's lock:
// a year, the most MySQL accepts, so that the server does not close it, and release the
// lock, in the middle of a long run.
const lockWaitTimeout = 365 * 24 * 3600

// freshDB is a database made by freshDatabase.
type freshDB struct {
	dsn   string       // the DSN naming it
	token string       // its random token, also in the backend's Redis prefix
	stale []string     // the tokens of the dead runs' databases dropped first
	drop  func() error // drops it and releases its lock
}

// freshDatabase creates an empty database <base>_kvbench_<token> next to the one dsn names
// (base: the DSN's database, or "pocket").
//
// A run killed before Close (SIGKILL, a crash, a timeout of the runner) leaves its
// database behind, so each database is tied to its run by a MySQL named lock: the run
// takes GET_LOCK(<database name>) on a connection of its own before it creates the
// database and keeps it until it has dropped it. The server releases a named lock when the
// session that holds it ends, which it does when the process dies. freshDatabase
// therefore first looks for databases named <base>_kvbench_<12 hex digits>, takes the lock
// of each without waiting, and drops those whose lock it gets: their run is gone. It calls
// forget with a dead run's token first (to delete that run's Redis keys), so that nothing
// of the run outlives its database; a database whose forget or drop fails is left for a
// later run. Databases whose lock is held belong to runs still going, on this machine or
// another one sharing the server, and are left alone; so is every database with another
// name. Dead runs are probed from a second session, so the run's own session only ever
// holds its own lock (servers before MySQL 5.7 and MariaDB 10.0.2 let a session hold one
// named lock only).
func freshDatabase(ctx context.Context, dsn string, forget func(token string) error) (_ freshDB, err error) {
	cfg, err := drv.ParseDSN(dsn)
	if err != nil {
		return freshDB{}, fmt.Errorf("kv: parsing the MySQL DSN: %w", err)
	}
	base := cfg.DBName
	if base == "" {
		base = "pocket"
	}
	token := random(6)
	name := base + dbInfix + token
	admin := cfg.Clone()
	admin.DBName = ""
	connector, err := drv.NewConnector(admin)
	if err != nil {
		return freshDB{}, fmt.Errorf("kv: %w", err)
	}
	db := sql.OpenDB(connector)
	// The session holding the lock: a connection taken out of the pool for the
	// database's lifetime.
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return freshDB{}, fmt.Errorf("kv: connecting to MySQL: %w", err)
	}
	defer func() {
		if err != nil {
			conn.Close()
			db.Close()
		}
	}()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION wait_timeout = %d", lockWaitTimeout)); err != nil {
		return freshDB{}, fmt.Errorf("kv: %w", err)
	}
	ok, err := tryLock(ctx, conn, name)
	if err != nil {
		return freshDB{}, err
	}
	if !ok {
		return freshDB{}, fmt.Errorf("kv: the lock of database %s is taken", name)
	}
	probe, err := db.Conn(ctx)
	if err != nil {
		return freshDB{}, fmt.Errorf("kv: connecting to MySQL: %w", err)
	}
	stale, err := dropStale(ctx, probe, base, forget)
	if cerr := probe.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("kv: %w", cerr)
	}
	if err != nil {
		return freshDB{}, err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return freshDB{}, fmt.Errorf("kv: creating database %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// From the pool: the drop works even if the lock's session was lost. Closing
		// that session afterwards releases the lock.
		_, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
		if err != nil {
			err = fmt.Errorf("kv: dropping database %s: %w", name, err)
		}
		return errors.Join(err, conn.Close(), db.Close())
	}
	cfg.DBName = name
	return freshDB{dsn: cfg.FormatDSN(), token: token, stale: stale, drop: drop}, nil
}

// dropStale drops the databases <base>_kvbench_<token> whose lock is free (their run has
// ended without dropping them), each after forget(token), and returns their tokens. One it
// cannot forget or drop is skipped, not an error: a later run tries again.
func dropStale(ctx context.Context, conn *sql.Conn, base string, forget func(token string) error) ([]string, error) {
	like := strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`).Replace(base+dbInfix) + "%"
	rows, err := conn.QueryContext(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", like)
	if err != nil {
		return nil, fmt.Errorf("kv: listing the benchmark databases: %w", err)
	}
	ours := regexp.MustCompile("^" + regexp.QuoteMeta(base+dbInfix) + "([0-9a-f]{12})$")
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("kv: listing the benchmark databases: %w", err)
		}
		if ours.MatchString(name) {
			names = append(names, name)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("kv: listing the benchmark databases: %w", err)
	}
	var stale []string
	for _, name := range names {
		ok, err := tryLock(ctx, conn, name)
		if err != nil {
			return stale, err
		}
		if !ok {
			continue // its run is alive
		}
		token := ours.FindStringSubmatch(name)[1]
		err = forget(token)
		if err == nil {
			_, err = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
		}
		if _, rerr := conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", name); rerr != nil {
			return stale, fmt.Errorf("kv: releasing the lock %s: %w", name, rerr)
		}
		if err == nil {
			stale = append(stale, token)
		}
	}
	return stale, nil
}

// tryLock takes the named lock name on conn's session without waiting; false means another
// session holds it.
func tryLock(ctx context.Context, conn *sql.Conn, name string) (bool, error) {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
		return false, fmt.Errorf("kv: taking the lock %s: %w", name, err)
	}
	return got.Valid && got.Int64 == 1, nil
}
