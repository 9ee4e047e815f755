package nap

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriteSeedCorpus regenerates testdata/fuzz/<Fuzz>/seed-N from the seeds
// in the code. Run with NAP_WRITE_CORPUS=1 after changing the seeds.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("NAP_WRITE_CORPUS") != "1" {
		t.Skip("set NAP_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	frameSeeds := [][]byte{
		rawFrame(0, 0, 7, []byte("hello")),
		rawSettings(),
		appendWindowUpdate(nil, 3, 1000),
		appendRstStream(nil, 5, CodeCancel),
		appendGoAway(nil, 9, CodeProtocol, "bad"),
		appendPing(nil, true, nil),
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0},
	}
	write := func(name string, seeds [][]byte) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzFrameDecode", frameSeeds)
	write("FuzzSession", fuzzSessionSeeds())
}
