package iip

import (
	"errors"
	"testing"

	"github.com/seed857a6cbd/pocket/iip/internal/testkit"
)

// iip's tests run against the deployed-peer model of the test kit
// (internal/testkit/deployediip.go, from scripts/testkit/deployediip.go.tmpl):
// a server and a client over raw TCP that behave as deployed IIP peers are
// observed to (issue #15, facts 1-7), written without this package. This file
// gives the server the paths iip's tests call:
//
//	/echo        answers the request data
//	/fail        handler error: {"code":-1,"message":"handler fail:db down"}
//	/empty       handler returned nothing: {"code":101,...}
//	/panic       handler panicked: {"code":101,...}
//	/code-data   data that has a "code" key but is not an error shape
//	/looks-like-error  {"code":105,"message":"no handler","extra":1}: data
//	/big         "123456" in three frames (first, continuation, last)
//	anything else {"code":102,"message":"handle error"}
func deployedHandlers() map[string]testkit.DeployedIIPHandler {
	data := func(s string) testkit.DeployedIIPHandler {
		return func(*testkit.DeployedIIPRequest) ([]byte, error) { return []byte(s), nil }
	}
	return map[string]testkit.DeployedIIPHandler{
		"/echo":             func(r *testkit.DeployedIIPRequest) ([]byte, error) { return r.Data, nil },
		"/fail":             func(*testkit.DeployedIIPRequest) ([]byte, error) { return nil, errors.New("db down") },
		"/empty":            func(*testkit.DeployedIIPRequest) ([]byte, error) { return nil, nil },
		"/panic":            func(*testkit.DeployedIIPRequest) ([]byte, error) { panic("boom") },
		"/code-data":        data(`{"code":-1,"message":"not found","items":[]}`),
		"/looks-like-error": data(`{"code":105,"message":"no handler","extra":1}`),
		"/big": func(r *testkit.DeployedIIPRequest) ([]byte, error) {
			r.ResponseFrame = 2
			return []byte("123456"), nil
		},
	}
}

// startDeployedServer starts the deployed-server model with iip's paths.
func startDeployedServer(t testing.TB) *testkit.DeployedIIPServer {
	t.Helper()
	return testkit.StartDeployedIIP(t, testkit.DeployedIIPConfig{Handlers: deployedHandlers()})
}

// startDeployedServerWith starts the model; answerDeletes makes it answer
// /sys/delete_channel (unlike deployed servers).
func startDeployedServerWith(t testing.TB, answerDeletes bool) *testkit.DeployedIIPServer {
	t.Helper()
	return testkit.StartDeployedIIP(t, testkit.DeployedIIPConfig{Handlers: deployedHandlers(), AnswerDeletes: answerDeletes})
}

// dialDeployedClient connects the deployed-client model to addr; each
// response is awaited within testTimeout.
func dialDeployedClient(t testing.TB, addr string) *testkit.DeployedIIPClient {
	t.Helper()
	return testkit.DialDeployedIIP(t, addr, testTimeout)
}
