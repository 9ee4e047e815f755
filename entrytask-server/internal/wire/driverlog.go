package wire

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	goredis "github.com/redis/go-redis/v9"
)

// driverLog is the logger the drivers' lines go to; nil until RouteDriverLogs.
var (
	driverLog   atomic.Pointer[slog.Logger]
	routeDriver sync.Once
)

// RouteDriverLogs sends the lines go-redis (redis.SetLogger) and the MySQL driver
// (mysql.SetLogger) print on their own — "redis: … pool.go:770 …", "[mysql] … closing bad
// idle connection" — to log as warnings with component=redis or component=mysql, so that
// with log.format json every line on stderr is JSON. Both drivers' loggers are
// process-wide: the latest logger passed wins, and it stays in place until the process
// ends (a nil log is ignored).
func RouteDriverLogs(log *slog.Logger) {
	if log == nil {
		return
	}
	driverLog.Store(log)
	routeDriver.Do(func() {
		goredis.SetLogger(redisLogger{})
		_ = mysql.SetLogger(mysqlLogger{}) // fails only for a nil logger
	})
}

func logDriver(ctx context.Context, component, msg string) {
	if l := driverLog.Load(); l != nil {
		l.Log(ctx, slog.LevelWarn, strings.TrimSpace(msg), "component", component)
	}
}

// redisLogger is go-redis's logger interface (internal.Logging).
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	logDriver(ctx, "redis", fmt.Sprintf(format, v...))
}

// mysqlLogger is the MySQL driver's logger interface (mysql.Logger).
type mysqlLogger struct{}

func (mysqlLogger) Print(v ...any) { logDriver(context.Background(), "mysql", fmt.Sprint(v...)) }
