package nap

import (
	"context"
	"errors"
	"testing"
)

// TestStreamContext: a stream's context stays live while the stream finishes normally and
// is done once Close is called (cause ErrStreamClosed), or at once when the stream is
// reset (cause the reset, which Close then keeps).
func TestStreamContext(t *testing.T) {
	cases := []struct {
		name      string
		reset     bool
		wantCause func(error) bool
	}{
		{"finished then closed", false, func(err error) bool { return errors.Is(err, ErrStreamClosed) }},
		{"reset then closed", true, func(err error) bool {
			var se *StreamError
			return errors.As(err, &se) && se.Code == CodeCancel
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := echoPair(t, nil, nil)
			st, err := c.OpenStream(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx := st.Context()
			if tc.reset {
				if err := st.Reset(CodeCancel); err != nil {
					t.Fatal(err)
				}
				<-ctx.Done()
			} else {
				if err := st.SendAndClose([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err == nil {
					t.Fatal("Recv after the echo: want EOF")
				}
				if ctx.Err() != nil {
					t.Fatalf("context done (%v) after a normal finish, before Close", context.Cause(ctx))
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			<-ctx.Done()
			if cause := context.Cause(ctx); !tc.wantCause(cause) {
				t.Fatalf("cause %v", cause)
			}
		})
	}
}
