// Package sqlite is etserver's embedded store: accounts, quotas, sessions and key/value
// pairs in one SQLite database file (modernc.org/sqlite, pure Go) inside a data directory.
//
// Durability: the database runs in WAL mode. With Synchronous "FULL" (the default) every
// commit fsyncs the WAL before Put returns, so an acknowledged write survives kill -9 and
// power loss. "NORMAL" fsyncs only at checkpoints: an acknowledged write still survives
// kill -9 of the process (the WAL is in the OS page cache, which outlives the process) but
// the last commits may be lost on power loss or an OS crash; it is faster for writes.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/seed857a6cbd/pocket/entrytask-server/internal/domain"
	"github.com/seed857a6cbd/pocket/entrytask-server/internal/infra/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Defaults used when the Options fields are zero.
const (
	DefaultFileName     = "etserver.db"
	DefaultSynchronous  = "FULL"
	DefaultMaxOpenConns = 8
	DefaultBusyTimeout  = 10 * time.Second
)

// Options configure Open; zero values mean the default named beside each field.
type Options struct {
	Dir          string           // data directory, created if missing (mode 0700); required
	FileName     string           // database file in Dir; "" means DefaultFileName
	Synchronous  string           // "FULL" or "NORMAL" (see the package comment); "" means DefaultSynchronous
	MaxOpenConns int              // 0 means DefaultMaxOpenConns
	BusyTimeout  time.Duration    // how long a writer waits for the lock; 0 means DefaultBusyTimeout
	Now          func() time.Time // clock for session expiry; nil means time.Now
}

// Store implements domain.Accounts, Quotas, Sessions and KV. It is safe for concurrent use.
type Store struct {
	db   *sqlx.DB
	now  func() time.Time
	path string
}

// Open creates Dir if needed, opens the database and applies the embedded migrations.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("sqlite: data directory is empty")
	}
	if opts.FileName == "" {
		opts.FileName = DefaultFileName
	}
	syncMode := strings.ToUpper(opts.Synchronous)
	if syncMode == "" {
		syncMode = DefaultSynchronous
	}
	if syncMode != "FULL" && syncMode != "NORMAL" {
		return nil, fmt.Errorf("sqlite: synchronous %q is not FULL or NORMAL", opts.Synchronous)
	}
	busy := opts.BusyTimeout
	if busy == 0 {
		busy = DefaultBusyTimeout
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: creating data directory: %w", err)
	}
	path := filepath.Join(opts.Dir, opts.FileName)
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=foreign_keys(1)&_txlock=immediate",
		path, busy.Milliseconds(), syncMode)
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	maxOpen := opts.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = DefaultMaxOpenConns
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, now: now, path: path}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// DB returns the underlying pool (for pool statistics).
func (s *Store) DB() *sqlx.DB { return s.db }

// Close checkpoints nothing explicitly (SQLite does on last close) and closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations not applied yet (Open already does).
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return migrate.Apply(ctx, s.db, sub, migrate.SQLite)
}

type userRow struct {
	ID           int64  `db:"id"`
	Username     string `db:"username"`
	PasswordHash string `db:"password_hash"`
	CreatedAt    int64  `db:"created_at"`
	UpdatedAt    int64  `db:"updated_at"`
}

// UserByUsername implements domain.Accounts.
func (s *Store) UserByUsername(ctx context.Context, username string) (domain.User, error) {
	var r userRow
	err := s.db.GetContext(ctx, &r, `SELECT id, username, password_hash, created_at, updated_at FROM users WHERE username = ?`, username)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, domain.ErrUserNotFound
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("sqlite: user by username: %w", err)
	}
	return domain.User{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash,
		CreatedAt: time.Unix(0, r.CreatedAt), UpdatedAt: time.Unix(0, r.UpdatedAt)}, nil
}

// CreateUser implements domain.Accounts.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (domain.User, error) {
	now := time.Now().UnixNano()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (username) DO NOTHING`, username, passwordHash, now, now)
	if err != nil {
		return domain.User{}, fmt.Errorf("sqlite: creating user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return domain.User{}, fmt.Errorf("sqlite: creating user: %w", err)
	} else if n == 0 {
		return domain.User{}, fmt.Errorf("%w: %q", domain.ErrUserExists, username)
	}
	return s.UserByUsername(ctx, username)
}

// CreateAccounts implements domain.Accounts with multi-row inserts in one transaction.
// Existing usernames are skipped; an existing user without a quota row gets the given one.
func (s *Store) CreateAccounts(ctx context.Context, accounts []domain.NewAccount) (created int, err error) {
	if len(accounts) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	now := time.Now().UnixNano()
	var b strings.Builder
	args := make([]any, 0, 4*len(accounts))
	b.WriteString(`INSERT INTO users (username, password_hash, created_at, updated_at) VALUES `)
	for i, a := range accounts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
		args = append(args, a.Username, a.PasswordHash, now, now)
	}
	b.WriteString(` ON CONFLICT (username) DO NOTHING`)
	res, err := tx.ExecContext(ctx, b.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: inserting %d users: %w", len(accounts), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: inserting users: %w", err)
	}
	if err := s.insertQuotas(ctx, tx, accounts, now); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: commit: %w", err)
	}
	return int(n), nil
}

func (s *Store) insertQuotas(ctx context.Context, tx *sqlx.Tx, accounts []domain.NewAccount, now int64) error {
	byName := make(map[string]*domain.Quota, len(accounts))
	names := make([]string, 0, len(accounts))
	for _, a := range accounts {
		if a.Quota != nil {
			byName[a.Username] = a.Quota
			names = append(names, a.Username)
		}
	}
	if len(names) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`SELECT id, username FROM users WHERE username IN (?)`, names)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	var rows []struct {
		ID       int64  `db:"id"`
		Username string `db:"username"`
	}
	if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
		return fmt.Errorf("sqlite: looking up user ids: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	vals := make([]any, 0, 4*len(rows))
	b.WriteString(`INSERT INTO quota (user_id, read_qps, write_qps, updated_at) VALUES `)
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
		qt := byName[r.Username]
		vals = append(vals, r.ID, qt.Read, qt.Write, now)
	}
	b.WriteString(` ON CONFLICT (user_id) DO NOTHING`)
	if _, err := tx.ExecContext(ctx, b.String(), vals...); err != nil {
		return fmt.Errorf("sqlite: inserting %d quotas: %w", len(rows), err)
	}
	return nil
}

// ExistingUsernames implements domain.Accounts.
func (s *Store) ExistingUsernames(ctx context.Context, usernames []string) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(usernames) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT username FROM users WHERE username IN (?)`, usernames)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var names []string
	if err := s.db.SelectContext(ctx, &names, q, args...); err != nil {
		return nil, fmt.Errorf("sqlite: existing usernames: %w", err)
	}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// QuotaOf implements domain.Quotas.
func (s *Store) QuotaOf(ctx context.Context, userID int64) (domain.Quota, error) {
	var q struct {
		Read  int `db:"read_qps"`
		Write int `db:"write_qps"`
	}
	err := s.db.GetContext(ctx, &q, `SELECT read_qps, write_qps FROM quota WHERE user_id = ?`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Quota{}, domain.ErrQuotaNotFound
	}
	if err != nil {
		return domain.Quota{}, fmt.Errorf("sqlite: quota of user %d: %w", userID, err)
	}
	return domain.Quota{Read: q.Read, Write: q.Write}, nil
}

// SetQuota implements domain.Quotas.
func (s *Store) SetQuota(ctx context.Context, userID int64, q domain.Quota) error {
	if err := q.Validate(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO quota (user_id, read_qps, write_qps, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET read_qps = excluded.read_qps, write_qps = excluded.write_qps, updated_at = excluded.updated_at`,
		userID, q.Read, q.Write, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: setting quota of user %d: %w", userID, err)
	}
	return nil
}

// UpdatePasswordHash implements domain.Accounts.
func (s *Store) UpdatePasswordHash(ctx context.Context, userID int64, oldHash, newHash string) (bool, error) {
	q := `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`
	args := []any{newHash, time.Now().UnixNano(), userID}
	if oldHash != "" {
		q += ` AND password_hash = ?`
		args = append(args, oldHash)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("sqlite: updating password of user %d: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: updating password of user %d: %w", userID, err)
	}
	if n == 1 {
		return true, nil
	}
	var one int
	if err := s.db.GetContext(ctx, &one, `SELECT 1 FROM users WHERE id = ?`, userID); errors.Is(err, sql.ErrNoRows) {
		return false, domain.ErrUserNotFound
	} else if err != nil {
		return false, fmt.Errorf("sqlite: updating password of user %d: %w", userID, err)
	}
	return false, nil
}

// DeleteUser implements domain.Accounts; the quota row goes with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, username string) (domain.User, error) {
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return domain.User{}, err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, u.ID)
	if err != nil {
		return domain.User{}, fmt.Errorf("sqlite: deleting user %d: %w", u.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return domain.User{}, fmt.Errorf("sqlite: deleting user %d: %w", u.ID, err)
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
		WHERE username > ? ORDER BY username LIMIT ?`, after, limit); err != nil {
		return nil, fmt.Errorf("sqlite: listing users: %w", err)
	}
	out := make([]domain.User, len(rows))
	for i, r := range rows {
		out[i] = domain.User{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash,
			CreatedAt: time.Unix(0, r.CreatedAt), UpdatedAt: time.Unix(0, r.UpdatedAt)}
	}
	return out, nil
}
