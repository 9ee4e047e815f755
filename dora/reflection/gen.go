package reflection

//go:generate protoc -I../.. --go_out=../.. --go_opt=paths=source_relative --dora_out=../.. --dora_opt=paths=source_relative dora/reflection/reflection.proto
