package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
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

// byConcurrency draws one line per framework of value(row) against concurrency (log
// scale) and saves it as SVG and PNG. The value axis is logarithmic when the values differ
// by more than logRatio, linear from 0 otherwise.
func byConcurrency(path, title, xlabel, ylabel string, rows []harness.Result, value func(harness.Result) float64) ([]string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel + " (log scale)"
	p.X.Scale = plot.LogScale{}
	p.Add(plotter.NewGrid())
	c := &chart{p: p, legend: plot.NewLegend()}
	c.legend.Padding = vg.Points(5)
	var ticks []plot.Tick
	var all []float64
	for _, name := range frameworks(rows) {
		var pts plotter.XYs
		for _, r := range rows {
			v := value(r)
			if r.Framework != name || v <= 0 || r.Concurrency <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(r.Concurrency), Y: v})
			all = append(all, v)
			if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == float64(r.Concurrency) }) {
				ticks = append(ticks, plot.Tick{Value: float64(r.Concurrency), Label: strconv.Itoa(r.Concurrency)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := series(name, pts)
		if err != nil {
			return nil, fmt.Errorf("charts: %s: %w", title, err)
		}
		p.Add(l, sc)
		c.legend.Add(name, l, sc)
		c.names = append(c.names, name)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("charts: %s: no data", title)
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = p.X.Min/1.3, p.X.Max*1.3
	if spread(all) > logRatio {
		p.Y.Label.Text = ylabel + " (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Min, p.Y.Max = p.Y.Min/1.5, p.Y.Max*1.5
	} else {
		p.Y.Label.Text = ylabel
		p.Y.Tick.Marker = niceTicks{}
		p.Y.Min, p.Y.Max = 0, linearTop(p.Y.Max, 1.05)
	}
	return c.save(chartWidth, chartHeight, path)
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

// bars draws one bar per framework, in its colour and labelled with its value, and saves
// it as SVG and PNG. The value axis is logarithmic when the values differ by more than
// logRatio (a p99 of 134 µs beside one of 37,618 µs), linear from 0 otherwise.
func bars(path, title, ylabel string, rows []harness.Result, value func(harness.Result) float64) ([]string, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("charts: %s: no data", title)
	}
	p := plot.New()
	p.Title.Text = title
	b := barSet{width: vg.Points(36)}
	var labels plotter.XYLabels
	for i, r := range rows {
		v := value(r)
		b.vals = append(b.vals, v)
		b.names = append(b.names, r.Framework)
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: v})
		labels.Labels = append(labels.Labels, valueLabel(v))
	}
	lab, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, fmt.Errorf("charts: %s: %w", title, err)
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].XAlign = text.XCenter
		lab.TextStyle[i].YAlign = text.YBottom
	}
	lab.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(plotter.NewGrid(), b, lab)
	p.NominalX(b.names...)
	p.X.Min, p.X.Max = -0.6, float64(len(rows))-0.4
	lo, hi := math.Inf(1), 0.0
	for _, v := range b.vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	if spread(b.vals) > logRatio && lo > 0 {
		p.Y.Label.Text = ylabel + " (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo/2)))
		p.Y.Max = hi * 3 // room for the label
	} else {
		p.Y.Label.Text = ylabel
		p.Y.Tick.Marker = niceTicks{}
		p.Y.Min, p.Y.Max = 0, linearTop(hi, 1.12) // room for the labels
	}
	c := &chart{p: p}
	return c.save(chartWidth*0.75, chartHeight, path)
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

// rpcCharts draws throughput, p99 and calls per CPU-second by concurrency for every
// payload of an RPC-like report: the RPC suite (files rpc-*.svg, titles "RPC unary echo")
// or the IIP suite (iip-*.svg, "IIP echo"); each SVG has its PNG.
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
		for _, c := range []struct {
			kind, what, ylabel string
			value              func(harness.Result) float64
		}{
			{"throughput", "throughput", "calls/s", calls},
			{"p99", "p99 latency", "p99 µs", p99},
			{"percpu", "calls per CPU-second (client+server)", "calls per CPU-second", perCPU},
		} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.svg", prefix, c.kind, size))
			out, err := byConcurrency(path, title+", "+payloadLabel(size)+": "+c.what, "concurrent callers", c.ylabel, rows, c.value)
			files = append(files, out...)
			if err != nil {
				return files, err
			}
		}
	}
	return files, nil
}

// kvCharts draws throughput, p99 and calls per CPU-second by concurrency for every
// operation of the entry-task suite (kv-<op>-*.svg, each with its PNG).
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
			out, err := byConcurrency(path, title+": "+c.what, "concurrent callers", c.ylabel, rows, c.value)
			files = append(files, out...)
			if err != nil {
				return files, err
			}
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
// and the p99 of small calls during a bulk transfer (each SVG with its PNG).
func transportCharts(dir string, rep harness.Report) ([]string, error) {
	var files []string
	if rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == modeRR }); len(rows) > 0 {
		label := payloadLabel(rows[0].Payload)
		for _, c := range []struct {
			kind, what, ylabel string
			value              func(harness.Result) float64
		}{
			{"throughput", "throughput", "calls/s", calls},
			{"p99", "p99 latency", "p99 µs", p99},
			{"percpu", "calls per CPU-second", "calls per CPU-second", perCPU},
		} {
			path := filepath.Join(dir, "transport-rr-"+c.kind+".svg")
			out, err := byConcurrency(path, "Transport request/response, "+label+": "+c.what, "concurrent streams", c.ylabel, rows, c.value)
			files = append(files, out...)
			if err != nil {
				return files, err
			}
		}
	}
	if rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == modeBulk }); len(rows) > 0 {
		out, err := bars(filepath.Join(dir, "transport-bulk.svg"), "Bulk, one stream of 64 KiB messages", "MB/s", rows, mbps)
		files = append(files, out...)
		if err != nil {
			return files, err
		}
	}
	if rows := filter(rep.Results, func(r harness.Result) bool { return r.Mode == modeMixed }); len(rows) > 0 {
		title := "p99 of " + payloadLabel(rows[0].Payload) + " calls during a bulk transfer"
		out, err := bars(filepath.Join(dir, "transport-mixed-p99.svg"), title, "p99 µs", rows, p99)
		files = append(files, out...)
		if err != nil {
			return files, err
		}
	}
	return files, nil
}
