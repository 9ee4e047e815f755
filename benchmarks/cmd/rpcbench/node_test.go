package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestNodeGroup(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"dora", "dora"},
		{"dora-default", "dora"},
		{"iip-balanced", "iip"},
		{"kitex-mux", "kitex"},
		{"tcp", "tcp"},
		{"etserver", "etserver"},
	} {
		if got := nodeGroup(tc.name); got != tc.want {
			t.Errorf("nodeGroup(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestNodeLinksOneFramework builds dora's node the way run does and checks that it
// registers dora and dora-default and nothing else, and that no other framework's module
// is linked into it.
func TestNodeLinksOneFramework(t *testing.T) {
	ctx := context.Background()
	bins, err := buildNodes(ctx, t.TempDir(), []string{"dora", "dora-default"})
	if err != nil {
		t.Fatal(err)
	}
	bin := bins["dora"]
	if bins["dora-default"] != bin {
		t.Errorf("dora and dora-default run from %q and %q, want one node", bin, bins["dora-default"])
	}
	out, err := exec.CommandContext(ctx, bin, "frameworks").Output()
	if err != nil {
		t.Fatalf("%s frameworks: %v", bin, err)
	}
	if got, want := strings.Fields(string(out)), []string{"dora", "dora-default"}; !slices.Equal(got, want) {
		t.Errorf("dora's node registers %v, want %v", got, want)
	}
	mods, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	for _, other := range []string{"github.com/cloudwego/kitex", "github.com/smallnest/rpcx", "github.com/lesismal/arpc", "google.golang.org/grpc", "github.com/hashicorp/yamux", "github.com/xtaci/smux"} {
		if strings.Contains(string(mods), "\t"+other+"\t") {
			t.Errorf("dora's node links %s:\n%s", other, mods)
		}
	}
	// The check run applies to every node: dora's node is not grpc's.
	if err := checkNode(ctx, bin, "grpc"); err == nil || !strings.Contains(err.Error(), "also links dora") {
		t.Errorf("checkNode(dora's node, grpc) = %v, want it to name dora", err)
	}
}
