package dora

import (
	"fmt"
	"unicode/utf8"

	"github.com/seed857a6cbd/pocket/dora/metadata"
)

// Metadata rules shared by the client and the server side of a call.

// checkUserMD reports why md cannot be sent by an application, nil when it can: a key
// reserved for the framework ("dora-"), or a key or value that is not UTF-8 (binary values
// need a key ending in "-bin").
func checkUserMD(md metadata.MD) error {
	for k, vs := range md {
		if metadata.IsReserved(k) {
			return fmt.Errorf("dora: metadata key %q is reserved for the framework", k)
		}
		if !utf8.ValidString(k) {
			return fmt.Errorf("dora: metadata key %q is not UTF-8", k)
		}
		if metadata.IsBinary(k) {
			continue
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return fmt.Errorf("dora: metadata value of %q is not UTF-8 (binary values need a key ending in %q)", k, metadata.BinarySuffix)
			}
		}
	}
	return nil
}

// joinMD returns a with b's keys added (b's values replace a's for a key in both); a
// copy of b when a is empty.
func joinMD(a, b metadata.MD) metadata.MD {
	if len(a) == 0 {
		return b.Copy()
	}
	return metadata.Join(a, b)
}
