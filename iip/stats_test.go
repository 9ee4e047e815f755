package iip

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStatisticsPaths(t *testing.T) {
	s, addr := echoServer(t)
	c := dialT(t, addr)
	for range 3 {
		if _, err := c.Do(testCtx(t), "/echo", []byte("abc")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Do(testCtx(t), "/missing", nil); !errors.Is(err, ErrNoHandler) {
		t.Fatal(err)
	}
	get := func(path, data string) []byte {
		t.Helper()
		b, err := c.Do(testCtx(t), path, []byte(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return b
	}
	var count struct {
		Code        int    `json:"code"`
		Count       uint64 `json:"count"`
		Errors      uint64 `json:"errors"`
		Connections int    `json:"connections"`
		Channels    int    `json:"channels"`
	}
	if err := json.Unmarshal(get(pathServerCount, "{}"), &count); err != nil {
		t.Fatal(err)
	}
	if count.Count != 4 || count.Errors != 1 || count.Connections != 1 || count.Channels != 1 {
		t.Fatalf("server_count %+v", count)
	}
	var pc struct {
		Path     string `json:"path"`
		Count    uint64 `json:"count"`
		BytesIn  uint64 `json:"bytes_in"`
		BytesOut uint64 `json:"bytes_out"`
	}
	if err := json.Unmarshal(get(pathPathCount, "/echo"), &pc); err != nil {
		t.Fatal(err)
	}
	if pc.Path != "/echo" || pc.Count != 3 || pc.BytesIn != 9 || pc.BytesOut != 9 {
		t.Fatalf("path_count %+v", pc)
	}
	var pm struct {
		Count   uint64 `json:"count"`
		Latency struct {
			Unit string  `json:"unit"`
			Max  float64 `json:"max"`
			P50  float64 `json:"p50"`
		} `json:"latency"`
	}
	if err := json.Unmarshal(get(pathPathMeasure, `"/echo"`), &pm); err != nil {
		t.Fatal(err)
	}
	if pm.Count != 3 || pm.Latency.Unit != "microsecond" || pm.Latency.Max <= 0 || pm.Latency.P50 > pm.Latency.Max {
		t.Fatalf("path_measure %+v", pm)
	}
	if err := json.Unmarshal(get(pathServerMeasure, "{}"), &pm); err != nil || pm.Count != 4 {
		t.Fatalf("server_measure %+v %v", pm, err)
	}
	if _, err := c.Do(testCtx(t), pathPathCount, []byte("/unknown")); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("path_count of unknown path: %v", err)
	}
	report := string(get(pathStatis, `{"time_unit":"millisecond"}`))
	if !strings.Contains(report, "time unit millisecond") || !strings.Contains(report, "/echo") {
		t.Fatalf("statis report:\n%s", report)
	}
	if _, err := c.Do(testCtx(t), pathStatis, []byte(`{"time_unit":"fortnight"}`)); !errors.Is(err, ErrUnknown) {
		t.Fatalf("bad time unit: %v", err)
	}
	var cs struct {
		Connections []connStats `json:"connections"`
	}
	if err := json.Unmarshal(get(pathConnectionStatis, "{}"), &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs.Connections) != 1 || len(cs.Connections[0].Channels) != 2 || cs.Connections[0].Caps[0] != capTypedErrors {
		t.Fatalf("connection_statis %+v", cs)
	}
	st := s.Stats()
	if st.Total.Count < 4 || len(st.Paths) != 1 {
		t.Fatalf("Stats %+v", st)
	}
	cum := st.Paths[0].CumulativeCounts([]time.Duration{time.Nanosecond, time.Hour})
	if cum[0] != 0 || cum[1] != 3 {
		t.Fatalf("cumulative counts %v", cum)
	}
}
