package harness

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Result is one cell of a benchmark matrix: one framework, mode, payload size and
// concurrency, measured over one window.
type Result struct {
	// Suite is "rpc", "transport", "iip" or "kv".
	Suite string `json:"suite"`
	// Mode is the shape of the load: "unary" (rpc, iip), "rr", "bulk" or "mixed"
	// (transport), "read" or "write" (kv).
	Mode string `json:"mode"`
	// Framework is the registered name of the implementation under test.
	Framework string `json:"framework"`
	// Payload is the payload size of one call in bytes (kv: the value's size).
	Payload int `json:"payload_bytes"`
	// Concurrency is the number of closed-loop workers (callers or streams).
	Concurrency int `json:"concurrency"`
	// WindowSeconds is the measured wall time.
	WindowSeconds float64 `json:"window_s"`
	// Calls is the number of calls completed in the window.
	Calls int64 `json:"calls"`
	// CallsPerSecond is the throughput in calls.
	CallsPerSecond float64 `json:"calls_per_s"`
	// MBPerSecond is payload bytes per second in one direction, in 10^6 bytes.
	MBPerSecond float64 `json:"mb_per_s"`
	// P50Micros, P99Micros, P999Micros, MeanMicros and MaxMicros are call latencies in µs.
	P50Micros  float64 `json:"p50_us"`
	P99Micros  float64 `json:"p99_us"`
	P999Micros float64 `json:"p999_us"`
	MeanMicros float64 `json:"mean_us"`
	MaxMicros  float64 `json:"max_us"`
	// ClientAllocsPerCall and ServerAllocsPerCall are heap allocations per call of each
	// process (runtime.MemStats.Mallocs delta over the window / Calls); the server's is
	// zero when the server ran in the same process (go test) and was not measured apart.
	ClientAllocsPerCall float64 `json:"client_allocs_per_call"`
	ServerAllocsPerCall float64 `json:"server_allocs_per_call"`
	// ClientBytesPerCall and ServerBytesPerCall are heap bytes allocated per call.
	ClientBytesPerCall float64 `json:"client_bytes_per_call"`
	ServerBytesPerCall float64 `json:"server_bytes_per_call"`
	// ClientCPUPercent and ServerCPUPercent are each process's CPU use in percent of one
	// core over the window (getrusage user+system).
	ClientCPUPercent float64 `json:"client_cpu_pct"`
	ServerCPUPercent float64 `json:"server_cpu_pct"`
	// Runs is how many rounds of the cell succeeded (rpcbench --count); the row is the
	// round with the median calls/s, and CallsPerSecondMin/Max give the range of all.
	Runs              int     `json:"runs,omitempty"`
	CallsPerSecondMin float64 `json:"calls_per_s_min,omitempty"`
	CallsPerSecondMax float64 `json:"calls_per_s_max,omitempty"`
	// Note says what went wrong when the cell could not be measured; empty otherwise.
	Note string `json:"note,omitempty"`
}

// Fill sets the measured fields of r from the client's measurement and, when server is
// not nil, the server process's usage over the same window.
func (r *Result) Fill(m Measurement, server *Delta) {
	r.WindowSeconds = m.Window.Seconds()
	r.Calls = m.Calls
	r.CallsPerSecond = m.CallsPerSecond()
	r.MBPerSecond = r.CallsPerSecond * float64(r.Payload) / 1e6
	r.P50Micros = micros(m.Latency.P50)
	r.P99Micros = micros(m.Latency.P99)
	r.P999Micros = micros(m.Latency.P999)
	r.MeanMicros = micros(m.Latency.Mean)
	r.MaxMicros = micros(m.Latency.Max)
	r.ClientAllocsPerCall = PerCall(m.Usage.Mallocs, m.Calls)
	r.ClientBytesPerCall = PerCall(m.Usage.AllocBytes, m.Calls)
	r.ClientCPUPercent = m.Usage.CPUPercent()
	if server != nil {
		r.ServerAllocsPerCall = PerCall(server.Mallocs, m.Calls)
		r.ServerBytesPerCall = PerCall(server.AllocBytes, m.Calls)
		r.ServerCPUPercent = server.CPUPercent()
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Report is one run of rpcbench: where and how it ran, and its results.
type Report struct {
	// Date is when the run started (UTC).
	Date time.Time `json:"date"`
	// Command is the command line that produced the report.
	Command string `json:"command"`
	// GoVersion is runtime.Version() of the benchmark binary.
	GoVersion string `json:"go_version"`
	// CPUs is the number of logical CPUs; CPUModel the /proc/cpuinfo model name.
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	// Pinned tells whether server and client ran pinned to CPU 0 and CPU 1 by taskset.
	Pinned bool `json:"pinned"`
	// Congestion is the system's TCP congestion control (net.ipv4.tcp_congestion_control),
	// which every connection uses unless its framework sets another; empty when unknown.
	Congestion string `json:"tcp_congestion_control,omitempty"`
	// Warmup and Duration are the warm-up and the measured window of each cell.
	Warmup   string `json:"warmup"`
	Duration string `json:"duration"`
	// Store is the store the servers of the entry-task (kv) suite ran on: "embedded"
	// (SQLite) or "mysql+redis"; empty for the other suites.
	Store string `json:"store,omitempty"`
	// Results holds one row per matrix cell, in the order they ran.
	Results []Result `json:"results"`
}

// csvColumns is the CSV layout: the header and how each cell is formatted.
var csvColumns = []struct {
	name string
	get  func(Result) string
}{
	{"suite", func(r Result) string { return r.Suite }},
	{"mode", func(r Result) string { return r.Mode }},
	{"framework", func(r Result) string { return r.Framework }},
	{"payload_bytes", func(r Result) string { return strconv.Itoa(r.Payload) }},
	{"concurrency", func(r Result) string { return strconv.Itoa(r.Concurrency) }},
	{"window_s", func(r Result) string { return ff(r.WindowSeconds, 3) }},
	{"calls", func(r Result) string { return strconv.FormatInt(r.Calls, 10) }},
	{"calls_per_s", func(r Result) string { return ff(r.CallsPerSecond, 1) }},
	{"mb_per_s", func(r Result) string { return ff(r.MBPerSecond, 2) }},
	{"p50_us", func(r Result) string { return ff(r.P50Micros, 1) }},
	{"p99_us", func(r Result) string { return ff(r.P99Micros, 1) }},
	{"p999_us", func(r Result) string { return ff(r.P999Micros, 1) }},
	{"mean_us", func(r Result) string { return ff(r.MeanMicros, 1) }},
	{"max_us", func(r Result) string { return ff(r.MaxMicros, 1) }},
	{"client_allocs_per_call", func(r Result) string { return ff(r.ClientAllocsPerCall, 2) }},
	{"server_allocs_per_call", func(r Result) string { return ff(r.ServerAllocsPerCall, 2) }},
	{"client_bytes_per_call", func(r Result) string { return ff(r.ClientBytesPerCall, 0) }},
	{"server_bytes_per_call", func(r Result) string { return ff(r.ServerBytesPerCall, 0) }},
	{"client_cpu_pct", func(r Result) string { return ff(r.ClientCPUPercent, 1) }},
	{"server_cpu_pct", func(r Result) string { return ff(r.ServerCPUPercent, 1) }},
	{"runs", func(r Result) string { return strconv.Itoa(r.Runs) }},
	{"calls_per_s_min", func(r Result) string { return ff(r.CallsPerSecondMin, 1) }},
	{"calls_per_s_max", func(r Result) string { return ff(r.CallsPerSecondMax, 1) }},
	{"note", func(r Result) string { return r.Note }},
}

func ff(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

// WriteCSV writes a header line and one line per result.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	row := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		row[i] = c.name
	}
	if err := cw.Write(row); err != nil {
		return fmt.Errorf("harness: write csv: %w", err)
	}
	for _, r := range results {
		for i, c := range csvColumns {
			row[i] = c.get(r)
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("harness: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("harness: write csv: %w", err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("harness: write json: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(r io.Reader) (Report, error) {
	var rep Report
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return Report{}, fmt.Errorf("harness: read json: %w", err)
	}
	return rep, nil
}

// SaveReport writes dir/name.json and dir/name.csv, creating dir when missing, and returns
// the two paths.
func SaveReport(dir, name string, rep Report) (jsonPath, csvPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("harness: %w", err)
	}
	jsonPath = filepath.Join(dir, name+".json")
	csvPath = filepath.Join(dir, name+".csv")
	if err := writeFile(jsonPath, func(w io.Writer) error { return WriteJSON(w, rep) }); err != nil {
		return "", "", err
	}
	if err := writeFile(csvPath, func(w io.Writer) error { return WriteCSV(w, rep.Results) }); err != nil {
		return "", "", err
	}
	return jsonPath, csvPath, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	return nil
}
