package iip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// latencyJSON is the latency block of the measure answers, in the unit
// named by "unit".
type latencyJSON struct {
	Unit string  `json:"unit"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

type countJSON struct {
	Code     int     `json:"code"`
	Path     string  `json:"path"`
	Count    uint64  `json:"count"`
	Errors   uint64  `json:"errors"`
	BytesIn  uint64  `json:"bytes_in"`
	BytesOut uint64  `json:"bytes_out"`
	Rate     float64 `json:"rate"`
	AvgRate  float64 `json:"avg_rate"`
}

type measureJSON struct {
	countJSON
	Latency latencyJSON `json:"latency"`
}

type serverCountJSON struct {
	countJSON
	Connections int     `json:"connections"`
	Channels    int     `json:"channels"`
	Uptime      float64 `json:"uptime_seconds"`
}

func unitOf(name string) (time.Duration, string, bool) {
	switch name {
	case "", "microsecond":
		return time.Microsecond, "microsecond", true
	case "millisecond":
		return time.Millisecond, "millisecond", true
	case "second":
		return time.Second, "second", true
	case "nanosecond":
		return time.Nanosecond, "nanosecond", true
	}
	return 0, "", false
}

func toCount(p PathStats, uptime time.Duration) countJSON {
	c := countJSON{Path: p.Path, Count: p.Count, Errors: p.Errors, BytesIn: p.BytesIn, BytesOut: p.BytesOut, Rate: p.Rate}
	if s := uptime.Seconds(); s > 0 {
		c.AvgRate = float64(p.Count) / s
	}
	return c
}

func toMeasure(p PathStats, uptime time.Duration) measureJSON {
	u := float64(time.Microsecond)
	f := func(d time.Duration) float64 { return float64(d) / u }
	return measureJSON{countJSON: toCount(p, uptime), Latency: latencyJSON{
		Unit: "microsecond", Min: f(p.Min), Mean: f(p.Mean), P50: f(p.P50), P90: f(p.P90), P99: f(p.P99), P999: f(p.P999), Max: f(p.Max),
	}}
}

// sysAnswer answers the statistics paths.
func (c *serverConn) sysAnswer(it *item) ([]byte, error) {
	s := c.s
	switch it.req.Path {
	case pathServerCount:
		st := s.Stats()
		return json.Marshal(serverCountJSON{countJSON: toCount(st.Total, st.Uptime), Connections: st.Connections, Channels: st.Channels, Uptime: st.Uptime.Seconds()})
	case pathServerMeasure:
		st := s.Stats()
		return json.Marshal(toMeasure(st.Total, st.Uptime))
	case pathPathCount, pathPathMeasure:
		p := strings.TrimSpace(string(it.req.Data))
		var quoted string
		if json.Unmarshal([]byte(p), &quoted) == nil {
			p = quoted
		}
		r := s.lookup([]byte(p))
		if r == nil {
			return nil, &Error{Code: CodeNoHandler, Message: fmt.Sprintf("no handler for path %q", p)}
		}
		now := time.Now()
		ps, up := r.stats.snapshot(now), now.Sub(s.start)
		if it.req.Path == pathPathCount {
			return json.Marshal(toCount(ps, up))
		}
		return json.Marshal(toMeasure(ps, up))
	case pathStatis:
		var req struct {
			TimeUnit string `json:"time_unit"`
		}
		_ = json.Unmarshal(it.req.Data, &req)
		unit, name, ok := unitOf(req.TimeUnit)
		if !ok {
			return nil, &Error{Code: CodeUnknown, Message: fmt.Sprintf("unknown time_unit %q (want microsecond, millisecond, second or nanosecond)", req.TimeUnit)}
		}
		return statisReport(s.Stats(), unit, name), nil
	case pathConnectionStatis:
		return json.Marshal(struct {
			Code        int         `json:"code"`
			Connections []connStats `json:"connections"`
		}{Connections: s.connStats()})
	}
	return nil, &Error{Code: CodeNoHandler, Message: "no handler for path " + it.req.Path}
}

// statisReport renders the text report of /sys/statis.
func statisReport(st ServerStats, unit time.Duration, name string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "uptime %s, %d connections, %d channels, time unit %s\n", st.Uptime.Round(time.Second), st.Connections, st.Channels, name)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "path\tcount\terrors\trate/s\tavg/s\tmin\tmean\tp50\tp90\tp99\tp999\tmax")
	f := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(unit)) }
	row := func(p PathStats) {
		avg := 0.0
		if s := st.Uptime.Seconds(); s > 0 {
			avg = float64(p.Count) / s
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Path, p.Count, p.Errors, p.Rate, avg,
			f(p.Min), f(p.Mean), f(p.P50), f(p.P90), f(p.P99), f(p.P999), f(p.Max))
	}
	for _, p := range st.Paths {
		row(p)
	}
	row(st.Total)
	_ = tw.Flush()
	return b.Bytes()
}
