package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Version is what `etclient --version` prints: the module version from the
// binary's build information ("v0.2.0" after `go install …/cmd/etclient@v0.2.0`,
// "(devel)" from a checkout), the VCS revision when stamped, and the Go version.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" {
		return "etclient (devel) " + runtime.Version()
	}
	line := "etclient " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			line += " revision " + s.Value
		}
	}
	return line + " " + runtime.Version()
}

func init() {
	// --version only: -v is --value on the commands.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision and Go version"}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, Version()) }
}
