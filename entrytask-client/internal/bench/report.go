package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
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
// MinRT, AvgRT, Duration, LatencySummary, username, method, key, value) and the fields
// added next to them since (mode, rate, users, valueSize, total, percentiles,
// failuresByCode), in which durations are integers of nanoseconds, for the scripts that
// read them. New readers should use the "summary" block (Summary): one naming style, the
// unit in every key.
type Report struct {
	// Concurrency is the number of workers (-c).
	Concurrency int `json:"Concurrency"`
	// Requests is the number of requests per worker: -r, or for a run bounded by a
	// duration the requests it sent divided by the workers, rounded up.
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

	// Summary is the same outcome in one consistent style.
	Summary Summary `json:"summary"`
}

// Summary is a benchmark's outcome with snake_case keys and the unit in the name of every
// quantity: seconds (_s), milliseconds (_ms, fractional: 0.25 is 250 µs), bytes (_bytes),
// per second (_per_s). It is the "summary" block of the JSON report and the columns of the
// CSV report, in this order.
type Summary struct {
	// Method is "read" or "write"; Mode "closed" or "open".
	Method string `json:"method"`
	Mode   string `json:"mode"`
	// Concurrency is the workers (closed loop) or the most requests in flight (open loop).
	Concurrency int `json:"concurrency"`
	// RatePerS is the open loop's schedule; 0 in the closed loop.
	RatePerS float64 `json:"rate_per_s"`
	// Users is the number of distinct users; ValueBytes the size of each written value.
	Users      int `json:"users"`
	ValueBytes int `json:"value_bytes"`
	// RequestsTotal = RequestsOK + RequestsFailed: measured requests that finished.
	RequestsTotal  int64 `json:"requests_total"`
	RequestsOK     int64 `json:"requests_ok"`
	RequestsFailed int64 `json:"requests_failed"`
	// DurationS is the measured wall time; OKPerS is RequestsOK / DurationS (the table's QPS).
	DurationS float64 `json:"duration_s"`
	OKPerS    float64 `json:"ok_per_s"`
	// Latencies of successful requests (0 when none succeeded): exact min, mean and max,
	// HDR percentiles within 0.1 %.
	LatencyMinMs  float64 `json:"latency_min_ms"`
	LatencyMeanMs float64 `json:"latency_mean_ms"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP75Ms  float64 `json:"latency_p75_ms"`
	LatencyP90Ms  float64 `json:"latency_p90_ms"`
	LatencyP95Ms  float64 `json:"latency_p95_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyP999Ms float64 `json:"latency_p99_9_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`
	// FailuresByCode counts failed requests by status code name (an empty object when none).
	FailuresByCode map[string]int64 `json:"failures_by_code"`
	// Stopped says why the run ended early ("" when it did not): the server could not be
	// reached.
	Stopped string `json:"stopped"`
}

// ms is d in fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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
	// ValueBytes is the size of the value sent (after padding).
	ValueBytes int
	// Timed says the run was bounded by a duration rather than -r.
	Timed bool
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
	requests := p.Requests
	if total := res.Success + res.Failure; p.Timed && p.Concurrency > 0 {
		requests = (total + int64(p.Concurrency) - 1) / int64(p.Concurrency)
	}
	failures := maps.Clone(res.Failures)
	if failures == nil {
		failures = map[string]int64{}
	}
	var stopped string
	if res.Stopped != nil {
		stopped = res.Stopped.Error()
	}
	return Report{
		Concurrency: p.Concurrency,
		Requests:    requests,
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
		Summary: Summary{
			Method:         p.Method,
			Mode:           mode,
			Concurrency:    p.Concurrency,
			RatePerS:       p.Rate,
			Users:          p.Users,
			ValueBytes:     p.ValueBytes,
			RequestsTotal:  res.Success + res.Failure,
			RequestsOK:     res.Success,
			RequestsFailed: res.Failure,
			DurationS:      res.Wall.Seconds(),
			OKPerS:         res.QPS(),
			LatencyMinMs:   ms(res.Min),
			LatencyMeanMs:  ms(res.Mean()),
			LatencyP50Ms:   ms(pc.P50),
			LatencyP75Ms:   ms(pc.P75),
			LatencyP90Ms:   ms(pc.P90),
			LatencyP95Ms:   ms(pc.P95),
			LatencyP99Ms:   ms(pc.P99),
			LatencyP999Ms:  ms(pc.P999),
			LatencyMaxMs:   ms(res.Max),
			FailuresByCode: failures,
			Stopped:        stopped,
		},
	}
}

// csvHeader are the columns of WriteCSV, the JSON names of Summary's fields.
var csvHeader = []string{
	"method", "mode", "concurrency", "rate_per_s", "users", "value_bytes",
	"requests_total", "requests_ok", "requests_failed", "duration_s", "ok_per_s",
	"latency_min_ms", "latency_mean_ms", "latency_p50_ms", "latency_p75_ms", "latency_p90_ms",
	"latency_p95_ms", "latency_p99_ms", "latency_p99_9_ms", "latency_max_ms",
	"failures_by_code", "stopped",
}

// WriteCSV writes r's Summary as CSV (RFC 4180): a header line and one row. Numbers are
// plain decimals; failures_by_code is "CODE=n" pairs joined by ';' in code order.
func (r Report) WriteCSV(w io.Writer) error {
	s := r.Summary
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	d := func(v int64) string { return strconv.FormatInt(v, 10) }
	var fails []string
	for _, code := range slices.Sorted(maps.Keys(s.FailuresByCode)) {
		fails = append(fails, code+"="+d(s.FailuresByCode[code]))
	}
	row := []string{
		s.Method, s.Mode, d(int64(s.Concurrency)), f(s.RatePerS), d(int64(s.Users)), d(int64(s.ValueBytes)),
		d(s.RequestsTotal), d(s.RequestsOK), d(s.RequestsFailed), f(s.DurationS), f(s.OKPerS),
		f(s.LatencyMinMs), f(s.LatencyMeanMs), f(s.LatencyP50Ms), f(s.LatencyP75Ms), f(s.LatencyP90Ms),
		f(s.LatencyP95Ms), f(s.LatencyP99Ms), f(s.LatencyP999Ms), f(s.LatencyMaxMs),
		strings.Join(fails, ";"), s.Stopped,
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	_ = cw.Write(row)
	cw.Flush()
	return cw.Error()
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
	if r.Summary.Stopped != "" {
		row("stopped early", r.Summary.Stopped)
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
