package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Percentiles are the latency percentiles a Report shows, in nanoseconds in JSON.
type Percentiles struct {
	P50  time.Duration `json:"p50"`
	P75  time.Duration `json:"p75"`
	P90  time.Duration `json:"p90"`
	P95  time.Duration `json:"p95"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p99.9"`
	Max  time.Duration `json:"max"`
}

// Report is a benchmark's outcome as etclient prints it. Its JSON form keeps the field names
// of the previous etclient's report (Concurrency, requests, Success, Failure, QPS, MaxRT,
// MinRT, AvgRT, Duration, LatencySummary, username, method, key, value) and adds the rest.
// Durations are integers of nanoseconds in JSON.
type Report struct {
	// Concurrency is the number of workers (-c).
	Concurrency int `json:"Concurrency"`
	// Requests is the number of requests per worker (-r); 0 for a run bounded by Duration.
	Requests int64 `json:"requests"`
	// Success and Failure count the finished requests by outcome.
	Success int64 `json:"Success"`
	Failure int64 `json:"Failure"`
	// QPS is successful requests per second of wall time.
	QPS float64 `json:"QPS"`
	// MaxRT, MinRT and AvgRT are the exact largest, smallest and mean latencies of
	// successful requests.
	MaxRT time.Duration `json:"MaxRT"`
	MinRT time.Duration `json:"MinRT"`
	AvgRT time.Duration `json:"AvgRT"`
	// Duration is the measured wall time (warmup and logins excluded).
	Duration time.Duration `json:"Duration"`
	// LatencySummary is a one-line human summary of the percentiles.
	LatencySummary string `json:"LatencySummary"`
	// Username is the (first) user; Method "read" or "write"; Key the key; Value the value
	// as given on the command line (before --value-size padding).
	Username string `json:"username"`
	Method   string `json:"method"`
	Key      string `json:"key"`
	Value    string `json:"value"`

	// Mode is "closed" or "open" (with Rate requests per second).
	Mode string  `json:"mode"`
	Rate float64 `json:"rate,omitempty"`
	// Users is the number of distinct users; ValueSize the padded value size (0: unpadded).
	Users     int `json:"users"`
	ValueSize int `json:"valueSize,omitempty"`
	// Total is Success+Failure.
	Total int64 `json:"total"`
	// Percentiles are the HDR histogram's percentiles of successful requests' latencies.
	Percentiles Percentiles `json:"percentiles"`
	// FailuresByCode counts failures by status code name; empty when none failed.
	FailuresByCode map[string]int64 `json:"failuresByCode"`
}

// Params are the settings of a run that a Report echoes.
type Params struct {
	Concurrency int
	Requests    int64
	Rate        float64
	Users       int
	ValueSize   int
	Username    string
	Method      string
	Key, Value  string
}

// NewReport builds the Report of res for a run with params p.
func NewReport(p Params, res *Result) Report {
	pc := Percentiles{
		P50:  res.Percentile(50),
		P75:  res.Percentile(75),
		P90:  res.Percentile(90),
		P95:  res.Percentile(95),
		P99:  res.Percentile(99),
		P999: res.Percentile(99.9),
		Max:  res.Max,
	}
	mode := "closed"
	if p.Rate > 0 {
		mode = "open"
	}
	return Report{
		Concurrency: p.Concurrency,
		Requests:    p.Requests,
		Success:     res.Success,
		Failure:     res.Failure,
		QPS:         res.QPS(),
		MaxRT:       res.Max,
		MinRT:       res.Min,
		AvgRT:       res.Mean(),
		Duration:    res.Wall,
		LatencySummary: fmt.Sprintf("p50=%v p75=%v p90=%v p95=%v p99=%v p99.9=%v max=%v",
			roundLatency(pc.P50), roundLatency(pc.P75), roundLatency(pc.P90), roundLatency(pc.P95),
			roundLatency(pc.P99), roundLatency(pc.P999), roundLatency(pc.Max)),
		Username:       p.Username,
		Method:         p.Method,
		Key:            p.Key,
		Value:          p.Value,
		Mode:           mode,
		Rate:           p.Rate,
		Users:          p.Users,
		ValueSize:      p.ValueSize,
		Total:          res.Success + res.Failure,
		Percentiles:    pc,
		FailuresByCode: maps.Clone(res.Failures),
	}
}

// WriteTable writes r as an aligned, human-readable table.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	workload := fmt.Sprintf("%s key=%q user=%s", r.Method, r.Key, r.Username)
	if r.Users > 1 {
		workload += fmt.Sprintf(" (+%d more)", r.Users-1)
	}
	if r.ValueSize > 0 {
		workload += fmt.Sprintf(" value-size=%d", r.ValueSize)
	}
	row("workload", workload)
	loop := fmt.Sprintf("closed loop, %d workers", r.Concurrency)
	if r.Mode == "open" {
		loop = fmt.Sprintf("open loop, %g req/s, up to %d in flight", r.Rate, r.Concurrency)
	}
	row("mode", loop)
	row("requests", fmt.Sprintf("%d (%d ok, %d failed)", r.Total, r.Success, r.Failure))
	row("duration", r.Duration.Round(time.Microsecond))
	row("QPS", fmt.Sprintf("%.1f", r.QPS))
	lat := func(k string, d time.Duration) {
		if r.Success == 0 {
			row(k, "-") // no successful request, no latency
			return
		}
		row(k, roundLatency(d))
	}
	lat("latency min", r.MinRT)
	lat("latency avg", r.AvgRT)
	lat("latency p50", r.Percentiles.P50)
	lat("latency p75", r.Percentiles.P75)
	lat("latency p90", r.Percentiles.P90)
	lat("latency p95", r.Percentiles.P95)
	lat("latency p99", r.Percentiles.P99)
	lat("latency p99.9", r.Percentiles.P999)
	lat("latency max", r.MaxRT)
	for _, code := range slices.Sorted(maps.Keys(r.FailuresByCode)) {
		row("failed "+strings.ToUpper(code), r.FailuresByCode[code])
	}
	return tw.Flush()
}

// roundLatency rounds a latency for display: to the microsecond from 1 ms up (the HDR
// histogram's values carry only three significant digits anyway).
func roundLatency(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d
}
