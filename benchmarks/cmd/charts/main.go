// Command charts renders the results of rpcbench: SVG charts (gonum.org/v1/plot), each
// with a PNG copy, of throughput and p99 latency by concurrency, one line per framework,
// bars for the bulk and mixed transport runs, and summary.md, the
// tables with ratios against the reference peers (grpc for the RPC suite, raw TCP for the
// transport suite) that benchmarks/README.md quotes.
//
// Usage:
//
//	charts [--dir results]
//
// It reads <dir>/rpc.json, <dir>/transport.json, <dir>/iip.json and <dir>/kv.json (any may be missing)
// and writes <dir>/*.svg, <dir>/*.png and <dir>/summary.md. How the charts are drawn (log
// axes past a 10x spread, a fixed colour per implementation, the legend beside the plot) is
// in style.go.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

func main() {
	app := &cli.App{
		Name:  "charts",
		Usage: "render rpcbench results as SVG charts and a markdown summary",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Value: "results", Usage: "directory holding rpc.json / transport.json / iip.json / kv.json; charts are written there"},
		},
		Action: func(c *cli.Context) error {
			files, err := render(c.String("dir"))
			for _, f := range files {
				fmt.Println("charts: wrote", f)
			}
			return err
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// render draws every chart of the reports found in dir and returns the files written.
func render(dir string) ([]string, error) {
	reports := map[string]harness.Report{}
	for _, suite := range []string{suiteRPC, suiteTransport, suiteIIP, suiteKV} {
		f, err := os.Open(filepath.Join(dir, suite+".json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("charts: %w", err)
		}
		rep, err := harness.ReadJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("charts: %s: %w", suite, err)
		}
		reports[suite] = rep
	}
	if len(reports) == 0 {
		return nil, fmt.Errorf("charts: no rpc.json, transport.json, iip.json or kv.json in %s", dir)
	}
	var written []string
	if rep, ok := reports[suiteRPC]; ok {
		files, err := rpcCharts(dir, "rpc", "RPC unary echo", rep)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	if rep, ok := reports[suiteTransport]; ok {
		files, err := transportCharts(dir, rep)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	if rep, ok := reports[suiteIIP]; ok {
		files, err := rpcCharts(dir, "iip", "IIP echo", rep)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	if rep, ok := reports[suiteKV]; ok {
		files, err := kvCharts(dir, rep)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	path := filepath.Join(dir, "summary.md")
	if err := os.WriteFile(path, []byte(summary(reports)), 0o644); err != nil {
		return written, fmt.Errorf("charts: %w", err)
	}
	return append(written, path), nil
}
