// Command doractl calls dora services from a shell, the way grpcurl does for gRPC: it lists
// a server's services, describes them, calls any method with a JSON request and prints JSON
// responses, and checks health.
//
// Usage:
//
//	doractl list     ADDR
//	doractl describe ADDR SERVICE[.METHOD] | MESSAGE
//	doractl call     ADDR pkg.Service/Method ['{json}']    (or -d '{json}', -d @-, -d @file)
//	doractl health   ADDR [SERVICE]
//
// Method and message types come from the server's reflection service
// (dora/reflection), or, when the server has none, from --protoset FILE: a descriptor set
// written by `protoc --include_imports --descriptor_set_out=FILE x.proto` (repeatable).
//
// Flags (any command, after the command name, before or after its arguments): -H key:value
// (request metadata, repeatable), --timeout (whole command, default 10s), --tls, --cacert FILE, --cert FILE,
// --key FILE (mTLS), --insecure-skip-verify, --server-name NAME.
//
// A unary response is printed as indented JSON; each message of a server stream as one JSON
// line. Requests of client-streaming and bidirectional methods are read as a sequence of
// JSON objects, all sent before the responses are read.
//
// Exit status: 0 success; 1 a local error (bad JSON, unknown method, unreadable file);
// 2 a usage error; 3 `health` answered but not SERVING; 64+code when the call failed with
// a dora status code (65 Canceled, 66 Unknown, 67 InvalidArgument, 68 DeadlineExceeded,
// 69 NotFound, ..., 76 Unimplemented, 77 Internal, 78 Unavailable, 80 Unauthenticated).
//
// Install it at a release with
//
//	go install github.com/seed857a6cbd/pocket/dora/cmd/doractl@latest
//
// `doractl --version` names the module version the binary was built at.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// develVersion stands for any build that is not a released version.
const develVersion = "(devel)"

// buildVersion returns the module version the binary was built from ("v0.2.0" after
// `go install …@v0.2.0`) and the VCS revision when the build recorded one.
func buildVersion() (version, revision string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return develVersion, ""
	}
	version = info.Main.Version
	if r := info.Main.Replace; r != nil {
		version = r.Version
	}
	if version == "" {
		version = develVersion
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return version, revision
}

const usage = `doractl calls dora services from a shell.

usage:
  doractl list     ADDR                                  services of the server
  doractl describe ADDR SERVICE[.METHOD] | MESSAGE       a service, method or message
  doractl call     ADDR pkg.Service/Method ['{json}']    call a method; request from the
                                                         argument, -d '{json}', -d @- (stdin)
                                                         or -d @FILE; "{}" when none
  doractl health   ADDR [SERVICE]                        dora.health.v1 Check ("" = server)
  doractl --version | --help

flags (after the command name, before or after its arguments):
  -H key:value             request metadata (repeatable; a repeated key sends every value)
  -d DATA                  call: the request JSON, @- for stdin, @FILE for a file
  --timeout DURATION       bound on the whole command (default 10s)
  --protoset FILE          descriptor set (protoc --include_imports --descriptor_set_out)
                           used instead of server reflection (repeatable)
  --tls                    use TLS (implied by the flags below)
  --cacert FILE            CA certificates (PEM) to verify the server
  --cert FILE --key FILE   client certificate and key (PEM) for mTLS
  --insecure-skip-verify   do not verify the server's certificate
  --server-name NAME       TLS server name (default: ADDR's host)

exit status: 0 ok; 1 local error; 2 usage error; 3 health not SERVING;
             64+code for a dora status code (e.g. 69 NotFound, 78 Unavailable)
`

// Exit statuses besides 64+code.
const (
	exitOK         = 0
	exitLocal      = 1
	exitUsage      = 2
	exitNotServing = 3
	exitStatusBase = 64
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "--version", "-version", "version":
		version, revision := buildVersion()
		fmt.Fprintf(stdout, "doractl %s", version)
		if revision != "" {
			fmt.Fprintf(stdout, " (revision %s)", revision)
		}
		fmt.Fprintf(stdout, " %s\n", runtime.Version())
		return exitOK
	case "--help", "-help", "-h", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "doractl: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	o, pos, err := parseFlags(args[0], args[1:])
	if err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "doractl %s: %v\n", args[0], err)
		return exitUsage
	}
	if len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs {
		fmt.Fprintf(stderr, "doractl %s: want %s\n", args[0], cmd.args)
		return exitUsage
	}
	o.stdin, o.stdout, o.stderr = stdin, stdout, stderr
	return cmd.run(o, pos)
}
