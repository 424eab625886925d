package builtins

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxFileSize bounds each file a flow reads: the flow file, the .star
// files it loads, and the files of read_file, load_json and load_yaml.
const MaxFileSize = 64 << 20

// readFlowFile reads a file for a flow: a regular file of at most
// MaxFileSize. A device (/dev/zero would be read forever), a FIFO (opening
// it would wait for a writer), a socket or a directory is refused. The
// file is opened without waiting and checked once open, so what is read
// is what was checked.
func readFlowFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi)
	}
	if fi.Size() > MaxFileSize {
		return nil, tooBig(path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, tooBig(path)
	}
	return data, nil
}

func notRegular(path string, fi os.FileInfo) error {
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m.IsDir():
		kind = "a directory"
	case m&os.ModeNamedPipe != 0:
		kind = "a FIFO"
	case m&os.ModeSocket != 0:
		kind = "a socket"
	case m&os.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("%s: %s, not a regular file: a flow reads only regular files", path, kind)
}

func tooBig(path string) error {
	return fmt.Errorf("%s: larger than the %d MiB a file read by a flow may have", path, MaxFileSize>>20)
}
