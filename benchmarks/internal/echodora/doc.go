// Package echodora holds the dora service of the echo benchmark, generated from
// echodora.proto (which reuses echo.proto's messages) by ../echopb/gen_protoc.sh.
package echodora
