package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
	"github.com/seed857a6cbd/pocket/benchmarks/kv"
	"github.com/seed857a6cbd/pocket/benchmarks/rpc"
	"github.com/seed857a6cbd/pocket/benchmarks/transport"
)

// A framework is measured in processes that carry that framework alone. A default build of
// rpcbench links every framework, transport and kv client (the orchestrator needs their
// names), and their package inits are not free: Kitex's and rpcx's dependencies allocate
// about 7 MB at start and arpc 4 MB, which doubled the live heap of a dora server
// process and with it its GC work. So run builds, once per run, a node binary per name
// group (go build -tags rpcbench_node,rpcbench_<group> of this package; the files of the
// rpc, transport and kv packages carry the matching build constraints) and starts every
// server and client process of a framework from its group's node.
const (
	// nodeTag is the build tag that leaves out every framework not named by its own tag.
	nodeTag = "rpcbench_node"
	// nodePackage is this command, built as the nodes when its source is not found
	// (a binary built with -trimpath); the build then runs in the working directory.
	nodePackage = "github.com/seed857a6cbd/pocket/benchmarks/cmd/rpcbench"
	// nodeBuildTimeout bounds one node's go build (5 min, a cold cache on a busy machine).
	nodeBuildTimeout = 5 * time.Minute
	// nodeListTimeout bounds a node's answer to `rpcbench frameworks`.
	nodeListTimeout = 30 * time.Second
)

// nodeGroup is the group of a framework name: the part before any "-" (dora-default is
// dora's, iip-pool iip's, kitex-mux kitex's). Its build tag is "rpcbench_" + the group.
func nodeGroup(name string) string {
	g, _, _ := strings.Cut(name, "-")
	return g
}

// nodeTags is the -tags argument of the node build of group.
func nodeTags(group string) string { return nodeTag + ",rpcbench_" + group }

// nodeSource returns where to run go build and what to build: this package's source
// directory as compiled in, or the working directory and nodePackage when the binary was
// built with -trimpath (or its source has moved).
func nodeSource() (dir, pkg string) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if _, err := os.Stat(file); err == nil {
			return filepath.Dir(file), "."
		}
	}
	return "", nodePackage
}

// buildNodes builds into dir one node binary per group of names and returns the binary of
// every name. Each node is checked to register its own group's names and no other.
func buildNodes(ctx context.Context, dir string, names []string) (map[string]string, error) {
	src, pkg := nodeSource()
	bins := make(map[string]string, len(names))
	built := make(map[string]string)
	for _, name := range names {
		g := nodeGroup(name)
		if bin, ok := built[g]; ok {
			bins[name] = bin
			continue
		}
		bin := filepath.Join(dir, "node-"+g)
		if err := buildNode(ctx, src, pkg, g, bin); err != nil {
			return nil, fmt.Errorf("rpcbench: node of %s: %w", name, err)
		}
		if err := checkNode(ctx, bin, g); err != nil {
			return nil, fmt.Errorf("rpcbench: node of %s: %w", name, err)
		}
		built[g] = bin
		bins[name] = bin
	}
	return bins, nil
}

// buildNode runs go build for group into bin, with -race when this binary has it.
func buildNode(ctx context.Context, src, pkg, group, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, nodeBuildTimeout)
	defer cancel()
	args := []string{"build", "-tags", nodeTags(group), "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	cmd := harness.GoCommand(ctx, args...)
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		where := "in " + src
		if src == "" {
			where = "in the working directory: this rpcbench does not know its source (-trimpath), run it inside the benchmarks module"
		}
		return fmt.Errorf("go %s (%s): %w\n%s", strings.Join(args, " "), where, err, out)
	}
	return nil
}

// checkNode runs `bin frameworks` and fails unless every name it registers is group's.
func checkNode(ctx context.Context, bin, group string) error {
	ctx, cancel := context.WithTimeout(ctx, nodeListTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "frameworks").Output()
	if err != nil {
		return fmt.Errorf("%s frameworks: %w", bin, err)
	}
	registered := strings.Fields(string(out))
	if len(registered) == 0 {
		return fmt.Errorf("%s registers nothing (no file has the build tag rpcbench_%s)", bin, group)
	}
	for _, name := range registered {
		if nodeGroup(name) != group {
			return fmt.Errorf("%s also links %s (its file lacks the build constraint `//go:build !%s || rpcbench_%s`)", bin, name, nodeTag, nodeGroup(name))
		}
	}
	return nil
}

// runNames lists every implementation the suites of cfg run, each once, in run order.
func (cfg config) runNames() []string {
	var names []string
	for _, suite := range cfg.suites {
		for _, n := range cfg.names(suite) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// describeNodes is the one line that says which binary runs which implementation.
func describeNodes(names []string, bins map[string]string) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+" "+filepath.Base(bins[n]))
	}
	return fmt.Sprintf("rpcbench: each implementation runs from its own node binary (go build -tags %s,rpcbench_<name>) in %s: %s",
		nodeTag, filepath.Dir(bins[names[0]]), strings.Join(parts, ", "))
}

func frameworksCommand() *cli.Command {
	return &cli.Command{
		Name:   "frameworks",
		Usage:  "(internal) print the registered implementations of every suite, one a line",
		Hidden: true,
		Action: func(c *cli.Context) error { return printFrameworks(c.App.Writer) },
	}
}

// printFrameworks prints every registered rpc framework, transport and kv client, one
// name a line: what a node binary carries.
func printFrameworks(w io.Writer) error {
	for _, n := range slices.Concat(rpc.Names(), transport.Names(), kv.Names()) {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}
