package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// The suites and modes rpcbench writes.
const (
	suiteRPC       = "rpc"
	suiteTransport = "transport"
	suiteIIP       = "iip"
	suiteKV        = "kv"
	modeRR         = "rr"
	modeBulk       = "bulk"
	modeMixed      = "mixed"
)

// Chart size.
const (
	chartWidth  = 7 * vg.Inch
	chartHeight = 4.5 * vg.Inch
)

// frameworks returns the framework names of rows, in first-seen order.
func frameworks(rows []harness.Result) []string {
	var names []string
	for _, r := range rows {
		if !slices.Contains(names, r.Framework) {
			names = append(names, r.Framework)
		}
	}
	return names
}

// filter returns the measured rows (no failure note) that keep accepts.
func filter(rows []harness.Result, keep func(harness.Result) bool) []harness.Result {
	var out []harness.Result
	for _, r := range rows {
		if r.Note == "" && keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// byConcurrency draws one line per framework of value(row) against concurrency on
// log-log axes and saves it as an SVG file.
func byConcurrency(path, title, xlabel, ylabel string, rows []harness.Result, value func(harness.Result) float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel + " (log scale)"
	p.Y.Label.Text = ylabel + " (log scale)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	var ticks []plot.Tick
	var args []any
	for _, name := range frameworks(rows) {
		var pts plotter.XYs
		for _, r := range rows {
			v := value(r)
			if r.Framework != name || v <= 0 || r.Concurrency <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(r.Concurrency), Y: v})
			if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == float64(r.Concurrency) }) {
				ticks = append(ticks, plot.Tick{Value: float64(r.Concurrency), Label: strconv.Itoa(r.Concurrency)})
			}
		}
		if len(pts) > 0 {
			args = append(args, name, pts)
		}
	}
	if len(args) == 0 {
		return fmt.Errorf("charts: %s: no data", title)
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return fmt.Errorf("charts: %s: %w", title, err)
	}
	padLog(p)
	if err := p.Save(chartWidth, chartHeight, path); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	return nil
}

// logTicks marks 1, 2 and 5 times each power of ten, labelled compactly (2k, 50k, 1M).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	if lo <= 0 || hi <= lo {
		return ticks
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := m * base
			if v < lo || v > hi {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: compact(v)})
		}
	}
	return ticks
}

// compact formats v as 500, 2k, 1.5M.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// padLog widens log axes a little so end points and the legend do not sit on the frame.
func padLog(p *plot.Plot) {
	p.X.Min, p.X.Max = p.X.Min/1.5, p.X.Max*1.5
	p.Y.Min, p.Y.Max = p.Y.Min/2, p.Y.Max*4
	if p.Y.Min <= 0 {
		p.Y.Min = math.SmallestNonzeroFloat64
	}
}

// bars draws one bar per framework and saves it as an SVG file.
func bars(path, title, ylabel string, rows []harness.Result, value func(harness.Result) float64) error {
	if len(rows) == 0 {
		return fmt.Errorf("charts: %s: no data", title)
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	vals := make(plotter.Values, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows {
		vals[i] = value(r)
		names[i] = r.Framework
	}
	b, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return fmt.Errorf("charts: %s: %w", title, err)
	}
	b.Color = plotutil.Color(0)
	p.Add(plotter.NewGrid(), b)
	p.NominalX(names...)
	p.Y.Min = 0
	if err := p.Save(chartWidth*0.7, chartHeight, path); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	return nil
}

func payloadLabel(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	default:
		return strconv.Itoa(n) + " B"
	}
}

func calls(r harness.Result) float64 { return r.CallsPerSecond }

// perCPU is calls per CPU-second of both processes together: throughput divided by the
// cores the client and the server actually got. On a shared machine, where the pinned
// processes do not always get their CPU, it compares efficiency more fairly than calls/s.
func perCPU(r harness.Result) float64 {
	cpu := r.ClientCPUPercent + r.ServerCPUPercent
	if cpu <= 0 {
		return 0
	}
	return r.CallsPerSecond * 100 / cpu
}
func p99(r harness.Result) float64  { return r.P99Micros }
func mbps(r harness.Result) float64 { return r.MBPerSecond }

// rpcCharts draws throughput and p99 by concurrency for every payload size.
// rpcCharts draws throughput, p99 and calls per CPU-second by concurrency for every
// payload of an RPC-like report: the RPC suite (files rpc-*.svg, titles "RPC unary echo")
// or the IIP suite (iip-*.svg, "IIP echo").
func rpcCharts(dir, prefix, title string, rep harness.Report) ([]string, error) {
	var sizes []int
	for _, r := range rep.Results {
		if !slices.Contains(sizes, r.Payload) {
			sizes = append(sizes, r.Payload)
		}
	}
	slices.Sort(sizes)
	var files []string
	for _, size := range sizes {
		rows := filter(rep.Results, func(r harness.Result) bool { return r.Payload == size })
		if len(rows) == 0 {
			continue
		}
		tp := filepath.Join(dir, fmt.Sprintf("%s-throughput-%d.svg", prefix, size))
		if err := byConcurrency(tp, title+", "+payloadLabel(size)+": throughput", "concurrent callers", "calls/s", rows, calls); err != nil {
			return files, err
		}
		lat := filepath.Join(dir, fmt.Sprintf("%s-p99-%d.svg", prefix, size))
		if err := byConcurrency(lat, title+", "+payloadLabel(size)+": p99 latency", "concurrent callers", "p99 µs", rows, p99); err != nil {
			return files, err
		}
		eff := filepath.Join(dir, fmt.Sprintf("%s-percpu-%d.svg", prefix, size))
		if err := byConcurrency(eff, title+", "+payloadLabel(size)+": calls per CPU-second (client+server)", "concurrent callers", "calls per CPU-second", rows, perCPU); err != nil {
			return files, err
		}
		files = append(files, tp, lat, eff)
	}
	return files, nil
}

// kvCharts draws throughput, p99 and calls per CPU-second by concurrency for every
// operation of the entry-task suite (kv-<op>-*.svg).
func kvCharts(dir string, rep harness.Report) ([]string, error) {
	var files []string
	for _, op := range modes(rep.Results) {
		rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == op })
		if len(rows) == 0 {
			continue
		}
		title := fmt.Sprintf("Entry task, %s of %s values, %s store", op, payloadLabel(rows[0].Payload), storeLabel(rep))
		for _, c := range []struct {
			kind, what, ylabel string
			value              func(harness.Result) float64
		}{
			{"throughput", "throughput", "calls/s", calls},
			{"p99", "p99 latency", "p99 µs", p99},
			{"percpu", "calls per CPU-second (client+server)", "calls per CPU-second", perCPU},
		} {
			path := filepath.Join(dir, fmt.Sprintf("kv-%s-%s.svg", op, c.kind))
			if err := byConcurrency(path, title+": "+c.what, "concurrent callers", c.ylabel, rows, c.value); err != nil {
				return files, err
			}
			files = append(files, path)
		}
	}
	return files, nil
}

// modes returns the modes of rows, in first-seen order.
func modes(rows []harness.Result) []string {
	var out []string
	for _, r := range rows {
		if !slices.Contains(out, r.Mode) {
			out = append(out, r.Mode)
		}
	}
	return out
}

// storeLabel is the store of a kv report, "embedded" when the report does not say.
func storeLabel(rep harness.Report) string {
	if rep.Store == "" {
		return "embedded"
	}
	return rep.Store
}

// transportCharts draws request/response throughput and p99 by concurrency, bulk MB/s
// and the p99 of small calls during a bulk transfer.
func transportCharts(dir string, rep harness.Report) ([]string, error) {
	var files []string
	if rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == modeRR }); len(rows) > 0 {
		label := payloadLabel(rows[0].Payload)
		tp := filepath.Join(dir, "transport-rr-throughput.svg")
		if err := byConcurrency(tp, "Transport request/response, "+label+": throughput", "concurrent streams", "calls/s", rows, calls); err != nil {
			return files, err
		}
		lat := filepath.Join(dir, "transport-rr-p99.svg")
		if err := byConcurrency(lat, "Transport request/response, "+label+": p99 latency", "concurrent streams", "p99 µs", rows, p99); err != nil {
			return files, err
		}
		eff := filepath.Join(dir, "transport-rr-percpu.svg")
		if err := byConcurrency(eff, "Transport request/response, "+label+": calls per CPU-second", "concurrent streams", "calls per CPU-second", rows, perCPU); err != nil {
			return files, err
		}
		files = append(files, tp, lat, eff)
	}
	if rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == modeBulk }); len(rows) > 0 {
		path := filepath.Join(dir, "transport-bulk.svg")
		if err := bars(path, "Bulk, one stream of 64 KiB messages", "MB/s", rows, mbps); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	if rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == modeMixed }); len(rows) > 0 {
		path := filepath.Join(dir, "transport-mixed-p99.svg")
		title := "p99 of " + payloadLabel(rows[0].Payload) + " calls during a bulk transfer"
		if err := bars(path, title, "p99 µs", rows, p99); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}
