package bench

import (
	"fmt"
	"io"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HistTicksPerHalf is the resolution of WriteHistogram's percentile distribution: rows per
// halving of the distance to 100 %, as HdrHistogram's own tools print by default.
const HistTicksPerHalf = 5

// WriteHistogram writes the successful requests' latencies of res in a format the
// HdrHistogram tools read. name decides which: a name ending in ".hlog" gets a histogram
// interval log (one interval, the whole run; values in nanoseconds), readable by
// HistogramLogProcessor, hdrhistogram-go's HistogramLogReader and HdrHistogram's plotter;
// any other name (".hgrm" by convention) gets the percentile distribution table, values in
// milliseconds, as HdrHistogram's outputPercentileDistribution prints it.
func WriteHistogram(w io.Writer, name string, res *Result) error {
	if strings.HasSuffix(name, ".hlog") {
		lw := hdrhistogram.NewHistogramLogWriter(w)
		if err := lw.OutputLogFormatVersion(); err != nil {
			return err
		}
		if err := lw.OutputComment("etclient benchmark: latencies of successful requests in nanoseconds"); err != nil {
			return err
		}
		if err := lw.OutputLegend(); err != nil {
			return err
		}
		h := hdrhistogram.Import(res.Histogram.Export())
		h.SetStartTimeMs(0)
		h.SetEndTimeMs(res.Wall.Milliseconds())
		return lw.OutputIntervalHistogram(h)
	}
	if _, err := res.Histogram.PercentilesPrint(w, HistTicksPerHalf, 1e6); err != nil {
		return fmt.Errorf("bench: writing the percentile distribution: %w", err)
	}
	return nil
}
