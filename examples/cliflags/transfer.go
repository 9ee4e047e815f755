package cliflags

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/seed857a6cbd/pocket/examples/filetransfer"
	"github.com/seed857a6cbd/pocket/iip"
)

// TransferFlags are the flags of file_client and upload_client besides
// TLS: --addr (default defaultAddr), --chunk-size, --rate-limit,
// --call-timeout, --retry-timeout and --quiet.
func TransferFlags(defaultAddr string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: defaultAddr, Usage: "IIP server address"},
		&cli.StringFlag{Name: "chunk-size", Value: "1MiB", Usage: "bytes per request (at most 8MiB)"},
		&cli.StringFlag{Name: "rate-limit", Value: "0", Usage: "cap the transfer at this many bytes per second (0: unlimited), e.g. 4MiB"},
		&cli.DurationFlag{Name: "call-timeout", Value: filetransfer.DefaultCallTimeout, Usage: "timeout of each request"},
		&cli.DurationFlag{Name: "retry-timeout", Value: filetransfer.DefaultRetryTimeout, Usage: "keep retrying a lost or refused connection this long without progress (negative: never retry)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar even on a terminal"},
	}
}

// TransferOptions builds filetransfer options from TransferFlags.
func TransferOptions(c *cli.Context, log *slog.Logger) (*filetransfer.Options, error) {
	chunk, err := ParseSize(c.String("chunk-size"))
	if err != nil {
		return nil, err
	}
	if chunk < 1 || chunk > filetransfer.MaxChunkSize {
		return nil, fmt.Errorf("cliflags: --chunk-size %d not in 1..%d", chunk, filetransfer.MaxChunkSize)
	}
	limit, err := ParseSize(c.String("rate-limit"))
	if err != nil {
		return nil, err
	}
	return &filetransfer.Options{
		ChunkSize:    int(chunk),
		RateLimit:    float64(limit),
		CallTimeout:  c.Duration("call-timeout"),
		RetryTimeout: c.Duration("retry-timeout"),
		Logger:       log,
	}, nil
}

// Client dials the pooled IIP client of a transfer command (one connection,
// one channel: a transfer is sequential) with the TLS flags.
func Client(ctx context.Context, c *cli.Context, log *slog.Logger) (*iip.Client, error) {
	tlsConfig, err := ClientTLS(c)
	if err != nil {
		return nil, err
	}
	return iip.NewClient(ctx, c.String("addr"), iip.WithTLS(tlsConfig), iip.WithPool(1, 1), iip.WithLogger(log))
}
