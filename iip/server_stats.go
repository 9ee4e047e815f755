package iip

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns to 10 minutes, two significant figures.
const (
	histMin     = 1
	histMax     = int64(10 * time.Minute)
	histSigFigs = 2
	rateWindow  = 5 // seconds averaged by PathStats.Rate
	rateSlots   = 8
)

// pathStats accumulates counts, a rate window and a latency histogram.
type pathStats struct {
	mu       sync.Mutex
	path     string
	count    uint64
	errors   uint64
	bytesIn  uint64
	bytesOut uint64
	hist     *hdrhistogram.Histogram
	slots    [rateSlots]struct {
		sec int64
		n   uint64
	}
}

func newPathStats(path string) *pathStats {
	return &pathStats{path: path, hist: hdrhistogram.New(histMin, histMax, histSigFigs)}
}

func (p *pathStats) record(now time.Time, d time.Duration, failed bool, in, out int) {
	sec := now.Unix()
	p.mu.Lock()
	p.count++
	if failed {
		p.errors++
	}
	p.bytesIn += uint64(in)
	p.bytesOut += uint64(out)
	v := int64(d)
	if v < histMin {
		v = histMin
	} else if v > histMax {
		v = histMax
	}
	_ = p.hist.RecordValue(v)
	s := &p.slots[sec%rateSlots]
	if s.sec != sec {
		s.sec, s.n = sec, 0
	}
	s.n++
	p.mu.Unlock()
}

// snapshot copies the statistics; uptime is used for the lifetime rate.
func (p *pathStats) snapshot(now time.Time) PathStats {
	sec := now.Unix()
	p.mu.Lock()
	defer p.mu.Unlock()
	var recent uint64
	for _, s := range p.slots {
		if s.sec < sec && s.sec >= sec-rateWindow {
			recent += s.n
		}
	}
	h := p.hist
	return PathStats{
		Path:     p.path,
		Count:    p.count,
		Errors:   p.errors,
		BytesIn:  p.bytesIn,
		BytesOut: p.bytesOut,
		Rate:     float64(recent) / rateWindow,
		Min:      time.Duration(h.Min()),
		Mean:     time.Duration(h.Mean()),
		P50:      time.Duration(h.ValueAtQuantile(50)),
		P90:      time.Duration(h.ValueAtQuantile(90)),
		P99:      time.Duration(h.ValueAtQuantile(99)),
		P999:     time.Duration(h.ValueAtQuantile(99.9)),
		Max:      time.Duration(h.Max()),
		hist:     hdrhistogram.Import(h.Export()),
	}
}

// PathStats is a snapshot of one path's statistics (or of the whole
// server's, with Path "*"). Latencies are measured from the moment the
// request was complete (for a streaming handler: from the handler's start)
// to the moment the handler returned.
type PathStats struct {
	Path     string  `json:"path"`      // registered path, or "*" for the whole server
	Count    uint64  `json:"count"`     // requests answered
	Errors   uint64  `json:"errors"`    // requests answered with an error
	BytesIn  uint64  `json:"bytes_in"`  // request data bytes
	BytesOut uint64  `json:"bytes_out"` // response data bytes
	Rate     float64 `json:"rate"`      // requests per second over the last 5 whole seconds

	Min  time.Duration `json:"-"` // fastest request
	Mean time.Duration `json:"-"` // mean latency
	P50  time.Duration `json:"-"` // median latency
	P90  time.Duration `json:"-"` // 90th percentile
	P99  time.Duration `json:"-"` // 99th percentile
	P999 time.Duration `json:"-"` // 99.9th percentile
	Max  time.Duration `json:"-"` // slowest request

	hist *hdrhistogram.Histogram
}

// CumulativeCounts returns, for each upper bound, how many requests took
// at most that long (for Prometheus-style histograms). Bounds must be
// ascending.
func (p PathStats) CumulativeCounts(bounds []time.Duration) []uint64 {
	out := make([]uint64, len(bounds))
	if p.hist == nil {
		return out
	}
	for _, bar := range p.hist.Distribution() {
		if bar.Count == 0 {
			continue
		}
		for i, b := range bounds {
			if bar.To <= int64(b) {
				out[i] += uint64(bar.Count)
			}
		}
	}
	return out
}

// ServerStats is a snapshot of a server's statistics.
type ServerStats struct {
	Uptime      time.Duration // time since NewServer
	Connections int           // open connections
	Channels    int           // open channels over all connections, channel 0 not counted
	Total       PathStats     // every request to a non-/sys/ path, Path "*"
	Paths       []PathStats   // registered paths, sorted by path
}

// channelStats describes one channel of a connection in the answer of
// /sys/connection_statis (PROTOCOL.md, section 5).
type channelStats struct {
	ID       uint32 `json:"id"`       // channel id
	Requests uint64 `json:"requests"` // complete requests read on it
	Pending  int    `json:"pending"`  // requests queued or running
}

// connStats describes one connection of a server in the answer of
// /sys/connection_statis (PROTOCOL.md, section 5).
type connStats struct {
	ID       uint64         `json:"id"`       // connection number, from 1 in accept order
	Remote   string         `json:"remote"`   // peer address
	Since    time.Time      `json:"since"`    // accept time
	Requests uint64         `json:"requests"` // complete requests read, /sys/ included
	Caps     []string       `json:"caps"`     // capabilities accepted
	Channels []channelStats `json:"channels"` // channel 0 and every open channel
}
