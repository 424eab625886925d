package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-plugin"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

// PluginSet is what a go-plugin client needs to talk to a wfsh plugin.
func PluginSet() plugin.PluginSet { return plugin.PluginSet{pluginKey: &grpcPlugin{}} }

// Dispense returns the Client of a started go-plugin client.
func Dispense(c plugin.ClientProtocol) (*Client, error) {
	raw, err := c.Dispense(pluginKey)
	if err != nil {
		return nil, err
	}
	cl, ok := raw.(*Client)
	if !ok {
		return nil, fmt.Errorf("plugin dispensed %T, not a wfsh plugin", raw)
	}
	return cl, nil
}

// Client is the host's side of a plugin connection.
type Client struct {
	rpc pb.PluginClient
}

// NewClient wraps a raw protocol client (for tests over an in-process
// connection).
func NewClient(rpc pb.PluginClient) *Client { return &Client{rpc: rpc} }

// Describe asks the plugin what it exports.
func (c *Client) Describe(ctx context.Context) (*pb.Description, error) {
	return c.rpc.Describe(ctx, &pb.DescribeRequest{})
}

// CallError is an error the plugin function returned (as opposed to a
// broken connection).
type CallError struct{ Msg string }

func (e *CallError) Error() string { return e.Msg }

// Call calls a function, passing each log line to onLog as it arrives, and
// returns the result. Cancelling ctx cancels the call in the plugin.
func (c *Client) Call(ctx context.Context, req *pb.CallRequest, onLog func(*pb.LogLine)) (*pb.Value, error) {
	stream, err := c.rpc.Call(ctx, req)
	if err != nil {
		return nil, err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("plugin ended the call without a result")
		}
		if err != nil {
			return nil, err
		}
		switch e := ev.GetEvent().(type) {
		case *pb.CallEvent_Log:
			if onLog != nil {
				onLog(e.Log)
			}
		case *pb.CallEvent_Result:
			return e.Result, nil
		case *pb.CallEvent_Error:
			return nil, &CallError{Msg: e.Error}
		}
	}
}
