package main

import (
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// TestFixedColours: an implementation has the same colour whatever the order of the series
// or the chart, pocket's implementations share one, and names without a style still get a
// stable one.
func TestFixedColours(t *testing.T) {
	for _, name := range []string{"nap", "dora", "iip", "etserver"} {
		if styleOf(name).color != pocketColor {
			t.Errorf("%s is not in pocket's colour", name)
		}
	}
	seen := map[color.Color]string{}
	for _, name := range []string{"nap", "grpc", "grpc-workers", "nethttp", "arpc", "tcp", "yamux", "smux", "iip-pool", "iip-balanced", "kitex", "kitex-pool", "kitex-mux", "rpcx"} {
		c := styleOf(name).color
		if other, ok := seen[c]; ok && !(other == "nap" && name == "dora") {
			t.Errorf("%s and %s share a colour", name, other)
		}
		seen[c] = name
	}
	if styleOf("brand-new").color != styleOf("brand-new").color || styleOf("brand-new").color == nil {
		t.Error("an unknown implementation's style is not stable")
	}
}

// TestAxes: round tick labels on linear axes, and a log value axis exactly when the values
// differ by more than logRatio.
func TestAxes(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 6600, "0 2k 4k 6k"},
		{0, 44000, "0 10k 20k 30k 40k"},
		{0, 1.2, "0 0.5 1"},
		{0, 100, "0 20 40 60 80 100"},
	} {
		var labels []string
		for _, tk := range (niceTicks{}).Ticks(tc.lo, tc.hi) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("ticks of [%g, %g] = %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
	if got := linearTop(5938, 1.12); got != 8000 {
		t.Errorf("linearTop(5938) = %g, want 8000", got)
	}
	if spread([]float64{134, 127, 13976, 37618}) <= logRatio || spread([]float64{5499, 2962, 5938, 2423}) > logRatio {
		t.Error("spread misjudges the transport charts")
	}
	for v, want := range map[float64]string{37617.663: "37,618", 134.399: "134", 5498.9: "5,499", 12.34: "12.3", 0.8599: "0.86"} {
		if got := valueLabel(v); got != want {
			t.Errorf("valueLabel(%g) = %q, want %q", v, got, want)
		}
	}
}

// TestFitTitle: a title too wide for its chart is broken at ": " into lines that fit.
func TestFitTitle(t *testing.T) {
	p := plot.New()
	p.Title.Text = "Entry task, write of 2000 B values, mysql+redis store: calls per CPU-second (client+server)"
	fitTitle(p, 5*vg.Inch)
	lines := strings.Split(p.Title.Text, "\n")
	if len(lines) < 2 || !strings.HasSuffix(lines[0], ":") && !strings.HasSuffix(lines[0], ",") {
		t.Fatalf("title %q", p.Title.Text)
	}
	for _, l := range lines {
		if w := p.Title.TextStyle.Width(l); w > 5*vg.Inch {
			t.Errorf("line %q is %v wide, more than 5 in", l, w)
		}
	}
}

// TestMixedChartLogScale: the chart of small calls behind a bulk transfer, whose p99s run
// from 127 to 37,618 µs, gets a log axis and every bar's value as a label.
func TestMixedChartLogScale(t *testing.T) {
	dir := t.TempDir()
	rows := []harness.Result{
		{Suite: "transport", Mode: "mixed", Framework: "nap", Payload: 64, Concurrency: 1, P99Micros: 134.399},
		{Suite: "transport", Mode: "mixed", Framework: "tcp", Payload: 64, Concurrency: 1, P99Micros: 37617.663},
		{Suite: "transport", Mode: "mixed", Framework: "yamux", Payload: 64, Concurrency: 1, P99Micros: 127.103},
	}
	files, err := bars(filepath.Join(dir, "m.svg"), "p99 of 64 B calls during a bulk transfer", "p99 µs", rows, p99)
	if err != nil || len(files) != 2 {
		t.Fatalf("files %v, err %v", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	for _, want := range []string{"134", "37,618", "127", "log scale", "10k"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	if regexp.MustCompile(`\d\.00<`).MatchString(svg) {
		t.Error("a tick label with trailing zeros")
	}
}
