package sdk

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// The calls lane: a socket wfsh creates with socketpair(2) and passes to
// the plugin as an inherited file descriptor, named by CallsFDEnv. It
// carries the Session's messages as length-prefixed frames, with one
// goroutine reading on each side, instead of gRPC's reader, writer and
// handler goroutines; a trivial call's round trip halves. Nothing else can
// connect to it: no address, no file, no credentials needed.

// CallsFDEnv names the environment variable that gives a plugin the file
// descriptor of its calls lane.
const CallsFDEnv = "WFSH_PLUGIN_CALLS_FD"

// maxFrame bounds one frame: a bogus length must not allocate gigabytes.
const maxFrame = 1 << 30

// keepBuf is the largest frame buffer kept for the next frame: a result's
// chunks reuse one buffer.
const keepBuf = chunkSize + 64<<10

// frames sends and receives length-prefixed protobuf messages on a
// connection. Send is safe for concurrent use; Recv is for one goroutine.
type frames[Out, In proto.Message] struct {
	conn  net.Conn
	newIn func() In
	// alias, if set, decodes the frames it knows with bytes that alias the
	// frame buffer (valid until the next Recv; see alias.go).
	alias func([]byte) (In, bool)

	wmu  sync.Mutex
	wbuf []byte

	r    *bufio.Reader
	rbuf []byte
}

func newFrames[Out, In proto.Message](conn net.Conn, newIn func() In) *frames[Out, In] {
	return &frames[Out, In]{conn: conn, newIn: newIn, r: bufio.NewReaderSize(conn, 64<<10)}
}

// Send writes m as one frame, in one write.
func (f *frames[Out, In]) Send(m Out) error {
	size := proto.Size(m)
	if size > maxFrame {
		return fmt.Errorf("message of %d bytes is over the limit of %d", size, maxFrame)
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	buf := binary.AppendUvarint(f.wbuf[:0], uint64(size))
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return err
	}
	_, err = f.conn.Write(buf)
	if cap(buf) <= keepBuf {
		f.wbuf = buf // keep buffers up to a chunk's; let larger ones go
	}
	return err
}

// Recv reads the next frame.
func (f *frames[Out, In]) Recv() (In, error) {
	var zero In
	n, err := binary.ReadUvarint(f.r)
	if err != nil {
		return zero, err
	}
	if n > maxFrame {
		return zero, fmt.Errorf("frame of %d bytes is over the limit of %d", n, maxFrame)
	}
	buf := f.rbuf
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return zero, err
	}
	if cap(buf) <= keepBuf {
		f.rbuf = buf
	}
	if f.alias != nil {
		if m, ok := f.alias(buf); ok {
			return m, nil
		}
	}
	m := f.newIn()
	// Unmarshal copies what it keeps, so buf can be reused.
	if err := proto.Unmarshal(buf, m); err != nil {
		return zero, err
	}
	return m, nil
}

// pluginLane opens the calls lane wfsh passed this process, if any. The
// descriptor is closed on exec, so commands the plugin runs do not inherit
// it.
func pluginLane() (net.Conn, error) {
	v := os.Getenv(CallsFDEnv)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a file descriptor", CallsFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), "wfsh-calls")
	defer f.Close() // FileConn has its own (close-on-exec) duplicate
	return net.FileConn(f)
}

// UseLane makes c send its calls on conn, the calls lane of a plugin that
// announced one (Description.calls_lane), instead of a gRPC Session. Call
// it before the first call.
func (c *Client) UseLane(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lane = conn
}

func laneSession(conn net.Conn) sessionStream {
	f := newFrames[*pb.SessionRequest](conn, func() *pb.SessionEvent { return new(pb.SessionEvent) })
	f.alias = chunkEvent
	return f
}

func serveLane(s *server, conn net.Conn) {
	defer conn.Close()
	fr := newFrames[*pb.SessionEvent](conn, func() *pb.SessionRequest { return new(pb.SessionRequest) })
	fr.alias = argChunkRequest
	_ = s.serveSession(context.Background(), fr.Recv, fr.Send)
}
