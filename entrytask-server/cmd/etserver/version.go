package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildVersion is the module version the go command recorded ("v0.2.0" after `go
// install …/cmd/etserver@v0.2.0`, "(devel)" when built from a checkout) and the VCS
// revision when the build stamped one ("" otherwise).
func buildVersion() (version, revision string) {
	version = "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return version, revision
}

// versionLine says what this binary is: buildVersion and the Go version.
func versionLine() string {
	version, revision := buildVersion()
	if revision != "" {
		revision = " revision " + revision
	}
	return fmt.Sprintf("etserver %s%s %s", version, revision, runtime.Version())
}

// versionCommand is `etserver version`, the same line as `etserver --version`.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, VCS revision and Go version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, versionLine())
			return err
		},
	}
}
