// Package filetransfer moves files over IIP with resume, in both directions.
//
// Download: a FileServer serves the regular files under one root directory
// on PathStat (size and SHA-256) and PathRead (a chunk at an offset);
// Download writes DEST.part, continues from its size when run again, checks
// the SHA-256 and renames the file into place.
//
// Upload: an UploadServer stores NAME.part under its root, tells on
// PathUploadStat how much it already has, appends on PathUploadWrite at the
// right offset only, and on PathUploadCommit verifies the SHA-256, fsyncs and
// renames atomically; Upload drives it from the client side.
//
// Both sides can be killed and restarted at any moment: the .part files are
// the only state, and a transfer resumes from their size. The wire format of
// every path is described in the examples module's README.
package filetransfer
