package transport

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/seed857a6cbd/pocket/benchmarks/harness"
)

// The modes of the transport suite.
const (
	// ModeRR is request/response: every worker owns an echo stream and calls back to back.
	ModeRR = "rr"
	// ModeBulk is one sink stream sending BulkMessage-sized messages as fast as it can.
	ModeBulk = "bulk"
	// ModeMixed is echo calls of the given payload while one sink stream on the same
	// connection sends BulkMessage-sized messages without pause.
	ModeMixed = "mixed"
)

// Modes lists the modes in the order they are run.
var Modes = []string{ModeRR, ModeBulk, ModeMixed}

// BulkMessage is the message size of the bulk stream (64 KiB).
const BulkMessage = 64 << 10

// Load turns one session into the workers of a mode. Call Stop once the run is over:
// it ends the background bulk stream of ModeMixed and checks that it did not fail.
type Load struct {
	sess    Session
	mode    string
	payload int

	stopOnce sync.Once
	stop     chan struct{}
	bgDone   chan error
}

// NewLoad prepares mode on sess with payload-byte messages (ModeBulk ignores payload and
// uses BulkMessage). For ModeMixed it starts the background bulk stream at once.
func NewLoad(sess Session, mode string, payload int) (*Load, error) {
	if err := checkLen(payload); err != nil {
		return nil, err
	}
	l := &Load{sess: sess, mode: mode, payload: payload}
	switch mode {
	case ModeRR, ModeBulk:
	case ModeMixed:
		st, err := sess.Open(Sink)
		if err != nil {
			return nil, err
		}
		l.stop = make(chan struct{})
		l.bgDone = make(chan error, 1)
		go func() { l.bgDone <- bulkUntil(st, l.stop) }()
	default:
		return nil, fmt.Errorf("transport: unknown mode %q (have %v)", mode, Modes)
	}
	return l, nil
}

// bulkUntil sends BulkMessage-sized messages on st until stop is closed, then syncs.
func bulkUntil(st Stream, stop <-chan struct{}) error {
	msg := bytes.Repeat([]byte{'b'}, BulkMessage)
	for {
		select {
		case <-stop:
			return errors.Join(st.Sync(), st.Close())
		default:
		}
		if err := st.Send(msg); err != nil {
			st.Close()
			return err
		}
	}
}

// MessageBytes is the payload of one call of this load, for MB/s figures.
func (l *Load) MessageBytes() int {
	if l.mode == ModeBulk {
		return BulkMessage
	}
	return l.payload
}

// NewWorker is a harness.Load.NewWorker: it opens worker i's stream.
func (l *Load) NewWorker(int) (harness.Worker, error) {
	switch l.mode {
	case ModeBulk:
		st, err := l.sess.Open(Sink)
		if err != nil {
			return harness.Worker{}, err
		}
		msg := bytes.Repeat([]byte{'b'}, BulkMessage)
		return harness.Worker{
			Call:  func() error { return st.Send(msg) },
			Close: func() error { return errors.Join(st.Sync(), st.Close()) },
		}, nil
	default:
		st, err := l.sess.Open(Echo)
		if err != nil {
			return harness.Worker{}, err
		}
		req := bytes.Repeat([]byte{'e'}, l.payload)
		resp := make([]byte, l.payload)
		return harness.Worker{
			Call:  func() error { return st.Echo(req, resp) },
			Close: st.Close,
		}, nil
	}
}

// Stop ends the background bulk stream of ModeMixed and returns its error; it does
// nothing for the other modes. It is safe to call more than once.
func (l *Load) Stop() error {
	if l.stop == nil {
		return nil
	}
	var err error
	l.stopOnce.Do(func() {
		close(l.stop)
		err = <-l.bgDone
	})
	return err
}
