package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// DefaultTimeout bounds a whole command (dialing, reflection and the call) unless --timeout
// says otherwise.
const DefaultTimeout = 10 * time.Second

// options are the flags of every command plus the command's streams.
type options struct {
	headers    []string
	data       string
	dataSet    bool
	timeout    time.Duration
	protosets  []string
	tls        bool
	cacert     string
	cert       string
	key        string
	insecure   bool
	serverName string

	stdin          io.Reader
	stdout, stderr io.Writer
}

// useTLS reports whether any TLS flag was given.
func (o *options) useTLS() bool {
	return o.tls || o.cacert != "" || o.cert != "" || o.key != "" || o.insecure || o.serverName != ""
}

type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}
func (l listFlag) Set(v string) error { *l.p = append(*l.p, v); return nil }

var errHelp = errors.New("help requested")

// parseFlags parses flags anywhere among args (Go's flag package stops at the first
// argument, so parsing resumes after each one) and returns the positional arguments.
func parseFlags(name string, args []string) (*options, []string, error) {
	o := &options{timeout: DefaultTimeout}
	fs := flag.NewFlagSet("doractl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(listFlag{&o.headers}, "H", "metadata key:value (repeatable)")
	fs.Func("d", "request JSON, @- for stdin, @FILE", func(v string) error { o.data, o.dataSet = v, true; return nil })
	fs.DurationVar(&o.timeout, "timeout", DefaultTimeout, "bound on the whole command")
	fs.Var(listFlag{&o.protosets}, "protoset", "descriptor set file (repeatable)")
	fs.BoolVar(&o.tls, "tls", false, "use TLS")
	fs.StringVar(&o.cacert, "cacert", "", "CA certificates (PEM)")
	fs.StringVar(&o.cert, "cert", "", "client certificate (PEM)")
	fs.StringVar(&o.key, "key", "", "client key (PEM)")
	fs.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the server certificate")
	fs.StringVar(&o.serverName, "server-name", "", "TLS server name")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, errHelp
			}
			return nil, nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if o.timeout <= 0 {
		return nil, nil, fmt.Errorf("--timeout must be positive, got %v", o.timeout)
	}
	if (o.cert == "") != (o.key == "") {
		return nil, nil, errors.New("--cert and --key go together")
	}
	return o, pos, nil
}
