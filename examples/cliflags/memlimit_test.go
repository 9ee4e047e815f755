package cliflags

import (
	"flag"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/urfave/cli/v2"
)

// memLimitContext is a cli.Context whose --memory-limit is value.
func memLimitContext(t *testing.T, value string) *cli.Context {
	t.Helper()
	set := flag.NewFlagSet("test", flag.ContinueOnError)
	if err := MemoryLimitFlag().Apply(set); err != nil {
		t.Fatal(err)
	}
	if err := set.Parse([]string{"--" + FlagMemoryLimit, value}); err != nil {
		t.Fatal(err)
	}
	return cli.NewContext(cli.NewApp(), set, nil)
}

func TestApplyMemoryLimit(t *testing.T) {
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	log := slog.New(slog.DiscardHandler)
	cases := []struct {
		name, value, env string
		want             int64
		wantErr          bool
	}{
		{name: "default", value: DefaultMemoryLimit, want: 192 << 20},
		{name: "chosen", value: "64MiB", want: 64 << 20},
		{name: "none", value: "0", want: math.MaxInt64},
		{name: "GOMEMLIMIT wins", value: "64MiB", env: "1GiB", want: math.MaxInt64},
		{name: "garbage", value: "lots", wantErr: true, want: math.MaxInt64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv("GOMEMLIMIT", tc.env)
			err := ApplyMemoryLimit(memLimitContext(t, tc.value), log)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ApplyMemoryLimit(%q): %v", tc.value, err)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Fatalf("--memory-limit %q, GOMEMLIMIT %q: limit %d, want %d", tc.value, tc.env, got, tc.want)
			}
		})
	}
}
