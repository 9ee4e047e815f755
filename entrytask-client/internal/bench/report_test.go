package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReportTable(t *testing.T) {
	rec := newRecorder(1, ClassifyStatus)
	for i := 1; i <= 100; i++ {
		rec.record(0, time.Duration(i)*time.Millisecond, nil)
	}
	res := rec.result(2 * time.Second)
	res.Failures["UNAUTHENTICATED"] = 3
	res.Failure = 3
	r := NewReport(Params{Concurrency: 4, Requests: 25, Rate: 50, Users: 3, ValueSize: 10, Username: "100", Method: "read", Key: "a", Value: "x"}, res)
	if r.QPS != 50 || r.Total != 103 || r.Mode != "open" || r.AvgRT != 50500*time.Microsecond {
		t.Fatalf("report %+v", r)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`workload       read key="a" user=100 (+2 more) value-size=10`,
		"mode           open loop, 50 req/s, up to 4 in flight",
		"requests       103 (100 ok, 3 failed)",
		"QPS            50.0",
		"latency p99 99.025ms",
		"latency max    100ms",
		"failed UNAUTHENTICATED  3",
	} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestReportTableWithoutSuccess(t *testing.T) {
	rec := newRecorder(1, ClassifyStatus)
	rec.record(0, time.Millisecond, errors.New("x"))
	var b bytes.Buffer
	if err := NewReport(Params{Concurrency: 1, Method: "read"}, rec.result(time.Second)).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if !strings.Contains(out, "latency p99 -") || !strings.Contains(out, "failed UNKNOWN 1") || !strings.Contains(out, "QPS 0.0") {
		t.Fatalf("table:\n%s", b.String())
	}
}
