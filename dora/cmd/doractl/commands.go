package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/seed857a6cbd/pocket/dora"
	"github.com/seed857a6cbd/pocket/dora/health"
	"github.com/seed857a6cbd/pocket/dora/status"
)

type command struct {
	args             string
	minArgs, maxArgs int
	run              func(o *options, args []string) int
}

var commands = map[string]command{
	"list":     {"ADDR", 1, 1, withClient(list)},
	"describe": {"ADDR SERVICE[.METHOD] | MESSAGE", 2, 2, withClient(describe)},
	"call":     {"ADDR pkg.Service/Method ['{json}']", 2, 3, withClient(call)},
	"health":   {"ADDR [SERVICE]", 1, 2, withClient(checkHealth)},
}

// withClient runs f with a client for args[0] and a context bounded by --timeout, and
// turns its error into the exit status.
func withClient(f func(ctx context.Context, o *options, c *dora.Client, args []string) (int, error)) func(*options, []string) int {
	return func(o *options, args []string) int {
		client, err := dial(o, args[0])
		if err != nil {
			fmt.Fprintf(o.stderr, "doractl: %v\n", err)
			return exitLocal
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		defer cancel()
		code, err := f(ctx, o, client, args[1:])
		if err != nil {
			fmt.Fprintf(o.stderr, "doractl: %v\n", err)
			var se interface{ DoraStatus() *status.Status } // also when wrapped
			if errors.As(err, &se) {
				return exitStatusBase + int(se.DoraStatus().Code())
			}
			if code == exitOK {
				code = exitLocal
			}
		}
		return code
	}
}

func list(ctx context.Context, o *options, c *dora.Client, _ []string) (int, error) {
	src, err := newSource(o, c)
	if err != nil {
		return exitLocal, err
	}
	names, err := src.services(ctx)
	if err != nil {
		return exitLocal, err
	}
	for _, n := range names {
		fmt.Fprintln(o.stdout, n)
	}
	return exitOK, nil
}

func describe(ctx context.Context, o *options, c *dora.Client, args []string) (int, error) {
	src, err := newSource(o, c)
	if err != nil {
		return exitLocal, err
	}
	name := strings.TrimPrefix(args[0], "/")
	name = strings.Replace(name, "/", ".", 1)
	d, _, err := src.find(ctx, name)
	if err != nil {
		return exitLocal, err
	}
	var b strings.Builder
	switch d := d.(type) {
	case protoreflect.ServiceDescriptor:
		fmt.Fprintf(&b, "service %s { // %s\n", d.FullName(), d.ParentFile().Path())
		for i := range d.Methods().Len() {
			b.WriteString("  " + rpcLine(d.Methods().Get(i)) + "\n")
		}
		b.WriteString("}\n")
	case protoreflect.MethodDescriptor:
		b.WriteString(rpcLine(d) + "\n\n")
		writeMessage(&b, d.Input())
		b.WriteString("\n")
		writeMessage(&b, d.Output())
	case protoreflect.MessageDescriptor:
		writeMessage(&b, d)
	case protoreflect.EnumDescriptor:
		writeEnum(&b, d, "")
	default:
		fmt.Fprintf(&b, "%s (%T) in %s\n", d.FullName(), d, d.ParentFile().Path())
	}
	io.WriteString(o.stdout, b.String())
	return exitOK, nil
}

func rpcLine(m protoreflect.MethodDescriptor) string {
	in, out := "", ""
	if m.IsStreamingClient() {
		in = "stream "
	}
	if m.IsStreamingServer() {
		out = "stream "
	}
	return fmt.Sprintf("rpc %s(%s%s) returns (%s%s);", m.Name(), in, m.Input().FullName(), out, m.Output().FullName())
}

func writeMessage(b *strings.Builder, m protoreflect.MessageDescriptor) {
	fmt.Fprintf(b, "message %s {\n", m.FullName())
	for i := range m.Fields().Len() {
		f := m.Fields().Get(i)
		fmt.Fprintf(b, "  %s %s = %d;\n", fieldType(f), f.Name(), f.Number())
	}
	for i := range m.Enums().Len() {
		writeEnum(b, m.Enums().Get(i), "  ")
	}
	b.WriteString("}\n")
}

func writeEnum(b *strings.Builder, e protoreflect.EnumDescriptor, indent string) {
	fmt.Fprintf(b, "%senum %s {\n", indent, e.FullName())
	for i := range e.Values().Len() {
		v := e.Values().Get(i)
		fmt.Fprintf(b, "%s  %s = %d;\n", indent, v.Name(), v.Number())
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

func fieldType(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return fmt.Sprintf("map<%s, %s>", fieldType(f.MapKey()), fieldType(f.MapValue()))
	}
	t := f.Kind().String()
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		t = string(f.Message().FullName())
	case protoreflect.EnumKind:
		t = string(f.Enum().FullName())
	}
	if f.Cardinality() == protoreflect.Repeated {
		return "repeated " + t
	}
	return t
}

// requestData returns the request JSON: the argument, -d DATA, -d @- (stdin) or -d @FILE;
// "{}" when none is given.
func requestData(o *options, args []string) ([]byte, error) {
	switch {
	case len(args) > 1 && o.dataSet:
		return nil, errors.New("give the request as an argument or with -d, not both")
	case len(args) > 1:
		return []byte(args[1]), nil
	case !o.dataSet:
		return []byte("{}"), nil
	case o.data == "@-":
		return io.ReadAll(o.stdin)
	case strings.HasPrefix(o.data, "@"):
		return os.ReadFile(o.data[1:])
	}
	return []byte(o.data), nil
}

// requests decodes data, a sequence of JSON objects, into messages of type md.
func requests(data []byte, md protoreflect.MessageDescriptor, files *protoregistry.Files) ([]*dynamicpb.Message, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	um := protojson.UnmarshalOptions{Resolver: dynamicpb.NewTypes(files)}
	var out []*dynamicpb.Message
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("request %d: %w", len(out)+1, err)
		}
		m := dynamicpb.NewMessage(md)
		if err := um.Unmarshal(raw, m); err != nil {
			return nil, fmt.Errorf("request %d as %s: %w", len(out)+1, md.FullName(), err)
		}
		out = append(out, m)
	}
	return out, nil
}

func call(ctx context.Context, o *options, c *dora.Client, args []string) (int, error) {
	wire, full, err := splitMethod(args[0])
	if err != nil {
		return exitUsage, err
	}
	opts, err := callOptions(o)
	if err != nil {
		return exitUsage, err
	}
	data, err := requestData(o, args)
	if err != nil {
		return exitLocal, err
	}
	src, err := newSource(o, c)
	if err != nil {
		return exitLocal, err
	}
	d, files, err := src.find(ctx, full)
	if err != nil {
		return exitLocal, err
	}
	m, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return exitLocal, fmt.Errorf("%s is not a method", full)
	}
	reqs, err := requests(data, m.Input(), files)
	if err != nil {
		return exitLocal, err
	}
	if !m.IsStreamingClient() && len(reqs) != 1 {
		return exitLocal, fmt.Errorf("%s takes one request, got %d", full, len(reqs))
	}
	mo := protojson.MarshalOptions{Resolver: dynamicpb.NewTypes(files)}
	if !m.IsStreamingClient() && !m.IsStreamingServer() {
		resp := dynamicpb.NewMessage(m.Output())
		if err := c.Invoke(ctx, wire, reqs[0], resp, opts...); err != nil {
			return exitLocal, err
		}
		return exitOK, printJSON(o.stdout, mo, resp, true)
	}
	desc := &dora.StreamDesc{StreamName: string(m.Name()), ServerStreams: m.IsStreamingServer(), ClientStreams: m.IsStreamingClient()}
	stream, err := c.NewStream(ctx, desc, wire, opts...)
	if err != nil {
		return exitLocal, err
	}
	for _, r := range reqs {
		if err := stream.SendMsg(r); err != nil {
			if err == io.EOF {
				break // the server ended the call; RecvMsg says how
			}
			return exitLocal, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return exitLocal, err
	}
	for {
		resp := dynamicpb.NewMessage(m.Output())
		if err := stream.RecvMsg(resp); err == io.EOF {
			return exitOK, nil
		} else if err != nil {
			return exitLocal, err
		}
		if err := printJSON(o.stdout, mo, resp, false); err != nil { // one line per message
			return exitLocal, err
		}
	}
}

// printJSON writes m as JSON, indented or on one line. protojson's own spacing varies from
// build to build on purpose; re-spacing it with encoding/json gives scripts stable output.
func printJSON(w io.Writer, mo protojson.MarshalOptions, m proto.Message, indent bool) error {
	b, err := mo.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if indent {
		err = json.Indent(&buf, b, "", "  ")
	} else {
		err = json.Compact(&buf, b)
	}
	if err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func checkHealth(ctx context.Context, o *options, c *dora.Client, args []string) (int, error) {
	opts, err := callOptions(o)
	if err != nil {
		return exitUsage, err
	}
	req := &health.HealthCheckRequest{}
	if len(args) > 0 {
		req.Service = args[0]
	}
	resp, err := health.NewHealthClient(c).Check(ctx, req, opts...)
	if err != nil {
		return exitLocal, err
	}
	fmt.Fprintln(o.stdout, resp.GetStatus())
	if resp.GetStatus() != health.Serving {
		return exitNotServing, nil
	}
	return exitOK, nil
}
