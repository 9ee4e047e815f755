package status_test

import (
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seed857a6cbd/pocket/dora/codes"
	"github.com/seed857a6cbd/pocket/dora/status"
)

// A handler attaches details to its error; the client (after the call, the same error shape)
// unpacks them by type.
func ExampleStatus_WithDetails() {
	st, err := status.New(codes.InvalidArgument, "bad name").WithDetails(wrapperspb.String("name: must not be empty"))
	if err != nil {
		panic(err)
	}
	callErr := st.Err() // what the handler returns, and what the dora client gets back

	for _, d := range status.Convert(callErr).Details() {
		switch d := d.(type) {
		case *wrapperspb.StringValue:
			fmt.Println("detail:", d.Value)
		case error:
			fmt.Println("detail of a type this program does not link:", d)
		}
	}
	// Output: detail: name: must not be empty
}
