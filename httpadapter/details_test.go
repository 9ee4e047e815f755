package httpadapter

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A dora error's status details come back in the JSON error body.
func TestDoraErrorDetails(t *testing.T) {
	_, ts := newAdapter(t, WithDora(doraClient(t, startDora(t, false))))
	r := do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"details"}`), nil)
	if r.status != http.StatusBadRequest { // FailedPrecondition
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	e := r.errBody(t)
	if e.Code != "FailedPrecondition" || e.Message != "with details" || len(e.Details) != 2 {
		t.Fatalf("error body %s", r.body)
	}
	var known, unknown map[string]any
	if err := json.Unmarshal(e.Details[0], &known); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.Details[1], &unknown); err != nil {
		t.Fatal(err)
	}
	if known["@type"] != "type.googleapis.com/google.protobuf.StringValue" || known["value"] != "text: must not be details" {
		t.Fatalf("known detail %s", e.Details[0])
	}
	if unknown["@type"] != "type.googleapis.com/no.Such" || unknown["value_base64"] != "AQI=" {
		t.Fatalf("unknown detail %s", e.Details[1])
	}
	// Errors without details have no "details" member.
	r = do(t, nil, http.MethodPost, ts.URL+sayPath, "", strings.NewReader(`{"text":"fail:NotFound"}`), nil)
	if strings.Contains(r.body, "details") {
		t.Fatalf("error without details: %s", r.body)
	}
}
