// Package mysql implements domain.Accounts and domain.Quotas on MySQL or MariaDB with sqlx
// and go-sql-driver/mysql. Its schema migrations are embedded and applied by Migrate.
package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	drv "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Pool defaults used when the Options fields are 0.
const (
	DefaultMaxOpenConns    = 64
	DefaultMaxIdleConns    = 64
	DefaultConnMaxLifetime = 30 * time.Minute
)

// Replica defaults: a connection to the replica that takes longer than
// ReplicaDialTimeout fails (when its DSN sets no timeout), and a replica that failed a read
// is not asked again for ReplicaRetryAfter.
const (
	ReplicaDialTimeout = time.Second
	ReplicaRetryAfter  = 5 * time.Second
)

// Options configure Open; zero values mean the default named beside each field.
type Options struct {
	DSN string // go-sql-driver DSN, e.g. user@tcp(127.0.0.1:3306)/etserver; required
	// ReplicaDSN is a read-only replica of DSN's database, for the reads that tolerate
	// replication lag: QuotaOf. Everything else (writes, logins, account management) uses
	// DSN. "" means none. A replica that cannot be reached at Open is logged, not fatal; a
	// read it fails goes to the primary, and the replica is skipped for ReplicaRetryAfter.
	// Its pool has the same limits as the primary's.
	ReplicaDSN string
	// Logger receives the replica's failures and recoveries; nil discards them.
	Logger          *slog.Logger
	MaxOpenConns    int           // 0 means DefaultMaxOpenConns
	MaxIdleConns    int           // 0 means DefaultMaxIdleConns
	ConnMaxLifetime time.Duration // 0 means DefaultConnMaxLifetime
}

// Store is the MySQL accounts and quota store. It is safe for concurrent use.
type Store struct {
	db        *sqlx.DB
	replica   *sqlx.DB // nil: none
	log       *slog.Logger
	downUntil atomic.Int64 // unix ns before which the replica is not asked; 0: healthy
}

// Open parses the DSN (forcing parseTime=true), opens a pool and pings the server; with
// a ReplicaDSN, it also opens the replica's pool (see Options.ReplicaDSN).
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.DSN == "" {
		return nil, errors.New("mysql: DSN is empty")
	}
	db, addr, err := openPool(opts.DSN, opts, 0)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: connecting to %s: %w", addr, err)
	}
	s := &Store{db: db, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.ReplicaDSN != "" {
		r, raddr, err := openPool(opts.ReplicaDSN, opts, ReplicaDialTimeout)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("mysql: replica: %w", err)
		}
		s.replica = r
		if err := r.PingContext(ctx); err != nil {
			s.replicaFailed(fmt.Errorf("connecting to %s: %w", raddr, err))
		}
	}
	return s, nil
}

// openPool opens a pool on dsn with opts' limits; dialTimeout, when not 0, is the
// connection timeout unless the DSN sets one.
func openPool(dsn string, opts Options, dialTimeout time.Duration) (*sqlx.DB, string, error) {
	cfg, err := drv.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("mysql: parsing DSN: %w", err)
	}
	cfg.ParseTime = true
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	conn, err := drv.NewConnector(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("mysql: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "mysql")
	db.SetMaxOpenConns(orDefault(opts.MaxOpenConns, DefaultMaxOpenConns))
	db.SetMaxIdleConns(orDefault(opts.MaxIdleConns, DefaultMaxIdleConns))
	lifetime := opts.ConnMaxLifetime
	if lifetime == 0 {
		lifetime = DefaultConnMaxLifetime
	}
	db.SetConnMaxLifetime(lifetime)
	return db, cfg.Addr, nil
}

// readDB returns the pool for a lag-tolerant read: the replica unless there is none or
// it failed within ReplicaRetryAfter.
func (s *Store) readDB() (*sqlx.DB, bool) {
	if s.replica == nil {
		return s.db, false
	}
	if until := s.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return s.db, false
	}
	return s.replica, true
}

// replicaFailed sends reads to the primary for ReplicaRetryAfter, logging the first
// failure of a run.
func (s *Store) replicaFailed(err error) {
	if s.downUntil.Swap(time.Now().Add(ReplicaRetryAfter).UnixNano()) == 0 {
		s.log.Warn("mysql: replica failed; lag-tolerant reads go to the primary", "err", err, "retry_in", ReplicaRetryAfter)
	}
}

// replicaAnswered marks the replica healthy again, logging the recovery.
func (s *Store) replicaAnswered() {
	if s.downUntil.Swap(0) != 0 {
		s.log.Info("mysql: replica is back; lag-tolerant reads use it")
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// DB returns the underlying pool of the primary (for pool statistics).
func (s *Store) DB() *sqlx.DB { return s.db }

// Replica returns the replica's pool, nil without Options.ReplicaDSN.
func (s *Store) Replica() *sqlx.DB { return s.replica }

// Close closes the pools.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.replica != nil {
		err = errors.Join(err, s.replica.Close())
	}
	return err
}

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("mysql: ping: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations not applied yet and returns their versions.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return migrate.Apply(ctx, s.db, sub, migrate.MySQL)
}

type userRow struct {
	ID           int64     `db:"id"`
	Username     string    `db:"username"`
	PasswordHash string    `db:"password_hash"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
}

// UserByUsername implements domain.Accounts.
func (s *Store) UserByUsername(ctx context.Context, username string) (domain.User, error) {
	var r userRow
	err := s.db.GetContext(ctx, &r, `SELECT id, username, password_hash, created_at, updated_at FROM users WHERE username = ?`, username)
	if errors.Is(err, errNoRows) {
		return domain.User{}, domain.ErrUserNotFound
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("mysql: user by username: %w", err)
	}
	return domain.User(r), nil
}

// CreateUser implements domain.Accounts.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (domain.User, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (username, password_hash) VALUES (?, ?)`, username, passwordHash)
	var me *drv.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return domain.User{}, fmt.Errorf("%w: %q", domain.ErrUserExists, username)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("mysql: creating user: %w", err)
	}
	if _, err := res.LastInsertId(); err != nil {
		return domain.User{}, fmt.Errorf("mysql: creating user: %w", err)
	}
	return s.UserByUsername(ctx, username)
}

// CreateAccounts implements domain.Accounts with two multi-row inserts in one transaction.
// Existing usernames are skipped; an existing user without a quota row gets the given one.
func (s *Store) CreateAccounts(ctx context.Context, accounts []domain.NewAccount) (created int, err error) {
	if len(accounts) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("mysql: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var b strings.Builder
	args := make([]any, 0, 2*len(accounts))
	b.WriteString(`INSERT INTO users (username, password_hash) VALUES `)
	for i, a := range accounts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?)")
		args = append(args, a.Username, a.PasswordHash)
	}
	b.WriteString(` ON DUPLICATE KEY UPDATE id = id`)
	res, err := tx.ExecContext(ctx, b.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("mysql: inserting %d users: %w", len(accounts), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mysql: inserting users: %w", err)
	}
	if err := insertQuotas(ctx, tx, accounts, `ON DUPLICATE KEY UPDATE user_id = user_id`); err != nil {
		return 0, fmt.Errorf("mysql: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("mysql: commit: %w", err)
	}
	return int(n), nil
}

// ExistingUsernames implements domain.Accounts.
func (s *Store) ExistingUsernames(ctx context.Context, usernames []string) (map[string]bool, error) {
	return existingUsernames(ctx, s.db, usernames)
}

// QuotaOf implements domain.Quotas, on the replica when there is one (a quota change
// reaches it after the replication lag, which the quota cache's TTL already exceeds); a
// failed read on the replica is repeated on the primary.
func (s *Store) QuotaOf(ctx context.Context, userID int64) (domain.Quota, error) {
	var q struct {
		Read  int `db:"read_qps"`
		Write int `db:"write_qps"`
	}
	const query = `SELECT read_qps, write_qps FROM quota WHERE user_id = ?`
	db, isReplica := s.readDB()
	err := db.GetContext(ctx, &q, query, userID)
	if isReplica {
		if err == nil || errors.Is(err, errNoRows) {
			s.replicaAnswered()
		} else if ctx.Err() == nil {
			s.replicaFailed(err)
			err = s.db.GetContext(ctx, &q, query, userID)
		}
	}
	if errors.Is(err, errNoRows) {
		return domain.Quota{}, domain.ErrQuotaNotFound
	}
	if err != nil {
		return domain.Quota{}, fmt.Errorf("mysql: quota of user %d: %w", userID, err)
	}
	return domain.Quota{Read: q.Read, Write: q.Write}, nil
}

// SetQuota implements domain.Quotas.
func (s *Store) SetQuota(ctx context.Context, userID int64, q domain.Quota) error {
	if err := q.Validate(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO quota (user_id, read_qps, write_qps) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE read_qps = VALUES(read_qps), write_qps = VALUES(write_qps)`, userID, q.Read, q.Write)
	if err != nil {
		return fmt.Errorf("mysql: setting quota of user %d: %w", userID, err)
	}
	return nil
}

// UpdatePasswordHash implements domain.Accounts.
func (s *Store) UpdatePasswordHash(ctx context.Context, userID int64, oldHash, newHash string) (bool, error) {
	q := `UPDATE users SET password_hash = ? WHERE id = ?`
	args := []any{newHash, userID}
	if oldHash != "" {
		q += ` AND password_hash = ?`
		args = append(args, oldHash)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("mysql: updating password of user %d: %w", userID, err)
	}
	// RowsAffected counts changed rows only: an update to the same hash reports 0, so
	// look the row up before saying anything but "done".
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return true, nil
	}
	var cur string
	err = s.db.GetContext(ctx, &cur, `SELECT password_hash FROM users WHERE id = ?`, userID)
	switch {
	case errors.Is(err, errNoRows):
		return false, domain.ErrUserNotFound
	case err != nil:
		return false, fmt.Errorf("mysql: updating password of user %d: %w", userID, err)
	}
	return cur == newHash, nil
}

// DeleteUser implements domain.Accounts; the quota row goes with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, username string) (domain.User, error) {
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return domain.User{}, err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, u.ID)
	if err != nil {
		return domain.User{}, fmt.Errorf("mysql: deleting user %d: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return domain.User{}, fmt.Errorf("mysql: deleting user %d: %w", u.ID, err)
	} else if n == 0 {
		return domain.User{}, domain.ErrUserNotFound
	}
	return u, nil
}

// ListUsers implements domain.Accounts.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]domain.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows []userRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, username, password_hash, created_at, updated_at FROM users
		WHERE username > ? ORDER BY username LIMIT ?`, []byte(after), limit); err != nil {
		return nil, fmt.Errorf("mysql: listing users: %w", err)
	}
	out := make([]domain.User, len(rows))
	for i, r := range rows {
		out[i] = domain.User(r)
	}
	return out, nil
}
