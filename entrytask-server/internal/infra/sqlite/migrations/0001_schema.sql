-- Accounts, quotas, sessions and key/value pairs of the embedded store.
CREATE TABLE IF NOT EXISTS users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS quota (
  user_id    INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  read_qps   INTEGER NOT NULL,
  write_qps  INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
  id         TEXT NOT NULL PRIMARY KEY,
  user_id    INTEGER NOT NULL,
  username   TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS kv (
  user_id INTEGER NOT NULL,
  k       BLOB NOT NULL,
  v       BLOB NOT NULL,
  PRIMARY KEY (user_id, k)
) WITHOUT ROWID;
