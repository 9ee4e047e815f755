package main

import (
	"fmt"
	"hash/fnv"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// logRatio is the spread of a chart's values above which its value axis is logarithmic:
// on a linear axis a series more than ten times smaller than the largest is a flat line at
// the bottom.
const logRatio = 10

// chartMargin is kept free around every chart, so that nothing touches the canvas edge.
const chartMargin = vg.Length(10)

// pngDPI is the resolution of the PNG written next to every SVG (7 in wide: 1008 pixels).
const pngDPI = 144

// implStyle is how one implementation is drawn in every chart.
type implStyle struct {
	color  color.Color
	glyph  draw.GlyphDrawer
	dashes []vg.Length
	width  vg.Length
}

func rgb(hex uint32) color.Color {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xff}
}

// pocketColor is the colour of pocket's own implementation in every chart (nap in the
// transport suite, dora in the RPC suite, iip in the IIP suite, etserver in the entry-task
// suite); its variants (iip-pool, iip-balanced) are shades of it.
var pocketColor = rgb(0x1f5fbf)

// implStyles fixes the colour, marker and dash of each implementation across all charts, so
// that a reader who learnt "grpc is orange" in one chart can rely on it in the next.
var implStyles = map[string]implStyle{
	"nap":          {color: pocketColor, glyph: draw.CircleGlyph{}, width: vg.Points(2.5)},
	"dora":         {color: pocketColor, glyph: draw.CircleGlyph{}, width: vg.Points(2.5)},
	"iip":          {color: pocketColor, glyph: draw.CircleGlyph{}, width: vg.Points(2.5)},
	"etserver":     {color: pocketColor, glyph: draw.CircleGlyph{}, width: vg.Points(2.5)},
	"iip-pool":     {color: rgb(0x6fa8e8), glyph: draw.RingGlyph{}, dashes: []vg.Length{vg.Points(6), vg.Points(3)}, width: vg.Points(2)},
	"iip-balanced": {color: rgb(0x0b2f6b), glyph: draw.SquareGlyph{}, dashes: []vg.Length{vg.Points(2), vg.Points(2)}, width: vg.Points(2)},
	"grpc":         {color: rgb(0xe8710a), glyph: draw.TriangleGlyph{}},
	"grpc-workers": {color: rgb(0xa04a00), glyph: draw.CrossGlyph{}, dashes: []vg.Length{vg.Points(6), vg.Points(3)}},
	"nethttp":      {color: rgb(0x2a9d3c), glyph: draw.BoxGlyph{}},
	"arpc":         {color: rgb(0x8e44ad), glyph: draw.PyramidGlyph{}},
	"tcp":          {color: rgb(0x6b6b6b), glyph: draw.BoxGlyph{}, dashes: []vg.Length{vg.Points(4), vg.Points(2)}},
	"rawtcp":       {color: rgb(0x6b6b6b), glyph: draw.BoxGlyph{}, dashes: []vg.Length{vg.Points(4), vg.Points(2)}},
	"kitex":        {color: rgb(0xd4a017), glyph: draw.CrossGlyph{}},
	"kitex-pool":   {color: rgb(0xf0c75e), glyph: draw.SquareGlyph{}, dashes: []vg.Length{vg.Points(2), vg.Points(2)}},
	"kitex-mux":    {color: rgb(0x8a6d00), glyph: draw.RingGlyph{}, dashes: []vg.Length{vg.Points(6), vg.Points(3)}},
	"rpcx":         {color: rgb(0x00897b), glyph: draw.PlusGlyph{}},
	"yamux":        {color: rgb(0xc0392b), glyph: draw.TriangleGlyph{}},
	"smux":         {color: rgb(0x8c5a2b), glyph: draw.PlusGlyph{}},
}

// otherColors are for implementations not in implStyles, chosen by a hash of the name so
// that each keeps its colour whatever the order of the series.
var otherColors = []color.Color{rgb(0x17becf), rgb(0xbcbd22), rgb(0xe377c2), rgb(0x393b79), rgb(0x637939)}

func styleOf(name string) implStyle {
	s, ok := implStyles[name]
	if !ok {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		s = implStyle{color: otherColors[h.Sum32()%uint32(len(otherColors))], glyph: draw.CrossGlyph{}}
	}
	if s.width == 0 {
		s.width = vg.Points(1.5)
	}
	return s
}

// series draws one implementation's points as a styled line with markers; the returned
// plotters also serve as its legend thumbnails.
func series(name string, pts plotter.XYs) (*plotter.Line, *plotter.Scatter, error) {
	st := styleOf(name)
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil, nil, err
	}
	l.Color, l.Width, l.Dashes = st.color, st.width, st.dashes
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, nil, err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: st.color, Shape: st.glyph, Radius: vg.Points(3)}
	return l, s, nil
}

// spread is largest/smallest of the positive values; +Inf when one is not positive.
func spread(vals []float64) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo <= 0 {
		return math.Inf(1)
	}
	return hi / lo
}

// niceStep is the distance between niceTicks' ticks on an axis from 0 to hi.
func niceStep(lo, hi float64) float64 {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// linearTop is the top of a linear value axis from 0 that holds hi with room to spare: a
// round number at which niceTicks puts its last tick.
func linearTop(hi, room float64) float64 {
	if hi <= 0 {
		return 1
	}
	top := hi * room
	step := niceStep(0, top)
	return math.Ceil(top/step) * step
}

// niceTicks marks a linear axis at 1, 2 or 5 times a power of ten, about five of them,
// labelled compactly (0, 500, 1k, 1.5k): never "5000.00".
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi <= lo {
		return nil
	}
	step := niceStep(lo, hi)
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi*(1+1e-9); i++ {
		v := i * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: compact(v)})
	}
	return ticks
}

// valueLabel formats a bar's value: thousands separated integers from 100 up, one decimal
// from 10, three significant digits below.
func valueLabel(v float64) string {
	switch {
	case v >= 100:
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		var b strings.Builder
		for i, r := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(r)
		}
		return b.String()
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// fitTitle breaks p's title into lines at ": " or ", " until every line fits in width.
func fitTitle(p *plot.Plot, width vg.Length) {
	room := width - vg.Points(12)
	lines := []string{p.Title.Text}
	for {
		last := lines[len(lines)-1]
		if p.Title.TextStyle.Width(last) <= room {
			break
		}
		cut := -1
		for _, sep := range []string{": ", ", "} {
			// the last separator that leaves a fitting first part, else the first one
			for i := len(last) - 1; i > 0; i-- {
				if strings.HasPrefix(last[i:], sep) && p.Title.TextStyle.Width(last[:i+1]) <= room {
					cut = i + 1
					break
				}
			}
			if cut > 0 {
				break
			}
		}
		if cut < 0 {
			break // nothing to break at: leave it
		}
		lines = append(lines[:len(lines)-1], strings.TrimRight(last[:cut], " "), strings.TrimLeft(last[cut:], " "))
	}
	p.Title.Text = strings.Join(lines, "\n")
}

// chart is a plot and the legend drawn beside it (not over its data or tick labels).
type chart struct {
	p      *plot.Plot
	legend plot.Legend
	names  []string // legend entries
}

// legendWidth is the room the legend takes at the right of the canvas; 0 without one.
func (c *chart) legendWidth() vg.Length {
	if len(c.names) == 0 {
		return 0
	}
	w := vg.Length(0)
	for _, n := range c.names {
		w = max(w, c.legend.TextStyle.Width(n))
	}
	return w + c.legend.ThumbnailWidth + vg.Points(16)
}

// draw draws the plot into dc and its legend in a column at the right, level with the top
// of the data area.
func (c *chart) draw(dc draw.Canvas) {
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	dc = draw.Crop(dc, chartMargin, -chartMargin, chartMargin/2, -chartMargin)
	lw := c.legendWidth()
	area := dc
	area.Max.X -= lw
	c.p.Draw(area)
	if lw == 0 {
		return
	}
	leg := dc
	leg.Min.X = dc.Max.X - lw
	if c.p.Title.Text != "" {
		leg.Max.Y -= c.p.Title.TextStyle.Rectangle(c.p.Title.Text).Size().Y + c.p.Title.Padding
	}
	leg.Max.Y -= vg.Points(4)
	c.legend.Top, c.legend.Left = true, true
	c.legend.Draw(leg)
}

// save writes the chart to path (an .svg file) and the same chart as PNG next to it.
func (c *chart) save(w, h vg.Length, path string) ([]string, error) {
	fitTitle(c.p, w-2*chartMargin-c.legendWidth())
	pngPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".png"
	for _, out := range []struct {
		path   string
		canvas vg.CanvasWriterTo
	}{
		{path, vgsvg.New(w, h)},
		{pngPath, vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}},
	} {
		c.draw(draw.New(out.canvas))
		f, err := os.Create(out.path)
		if err != nil {
			return nil, fmt.Errorf("charts: %w", err)
		}
		if _, err := out.canvas.WriteTo(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("charts: %s: %w", out.path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("charts: %w", err)
		}
	}
	return []string{path, pngPath}, nil
}

// barSet is a bar per implementation in its own colour, from the bottom of the value axis
// (which may be logarithmic, where bars cannot start at 0) to the value.
type barSet struct {
	vals  []float64
	names []string
	width vg.Length
}

func (b barSet) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.vals {
		if v <= 0 {
			continue
		}
		x, y0, y1 := trX(float64(i)), trY(p.Y.Min), trY(v)
		pts := []vg.Point{{X: x - b.width/2, Y: y0}, {X: x - b.width/2, Y: y1}, {X: x + b.width/2, Y: y1}, {X: x + b.width/2, Y: y0}}
		c.FillPolygon(styleOf(b.names[i]).color, c.ClipPolygonY(pts))
	}
}

func (b barSet) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.vals {
		ymin, ymax = min(ymin, v), max(ymax, v)
	}
	return 0, float64(len(b.vals) - 1), ymin, ymax
}
