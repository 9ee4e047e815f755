package filetransfer

import "time"

// IIP paths served by FileServer and UploadServer. Arguments travel in the
// query string; see the examples README for each one's request and response.
const (
	// PathStat answers ?name= with a StatResponse (JSON).
	PathStat = "/file/stat"
	// PathRead answers ?name=&offset=&length= with the raw bytes of the file
	// from offset: length bytes, fewer only at the end of the file.
	PathRead = "/file/read"
	// PathUploadStat answers ?name= with an UploadStatResponse (JSON).
	PathUploadStat = "/upload/stat"
	// PathUploadWrite stores the request data at ?name=&offset= of NAME.part
	// and answers an UploadStatResponse; offset must equal the stored size,
	// or be 0 to start over.
	PathUploadWrite = "/upload/write"
	// PathUploadCommit verifies ?name=&size=&sha256= against NAME.part,
	// fsyncs and renames it to NAME, and answers an UploadStatResponse.
	PathUploadCommit = "/upload/commit"
)

// Defaults and limits.
const (
	// DefaultChunkSize is the size of one read or write request: 1 MiB.
	DefaultChunkSize = 1 << 20
	// MaxChunkSize is the largest chunk a server accepts or serves: 8 MiB
	// (well below iip.DefaultMaxMessageSize).
	MaxChunkSize = 8 << 20
	// DefaultCallTimeout bounds one request of a transfer.
	DefaultCallTimeout = 30 * time.Second
	// DefaultRetryTimeout is how long a transfer keeps retrying a transient
	// failure (connection lost, server not reachable) without making progress.
	DefaultRetryTimeout = 30 * time.Second
	// PartSuffix is appended to a file's name while it is incomplete, on the
	// downloading client and on the upload server.
	PartSuffix = ".part"
	// retryBackoffMin and retryBackoffMax bound the wait between retries.
	retryBackoffMin = 50 * time.Millisecond
	retryBackoffMax = 2 * time.Second
)

// StatResponse is the JSON answer of PathStat.
type StatResponse struct {
	Name   string `json:"name"`   // the name as asked
	Size   int64  `json:"size"`   // file size in bytes
	SHA256 string `json:"sha256"` // hex SHA-256 of the whole file
}

// UploadStatResponse is the JSON answer of the upload paths.
type UploadStatResponse struct {
	Name string `json:"name"` // the name as asked
	// Have is the size of NAME.part on the server: the offset the next
	// write must use (0 when there is none).
	Have int64 `json:"have"`
	// Size and SHA256 describe the complete file NAME when it exists
	// (Size is -1 and SHA256 empty when it does not).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}
